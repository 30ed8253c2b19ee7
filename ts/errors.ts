/** An error from the engine with a stable `code` (`MODEL_CONTEXT_FULL`, `SAMPLING_TOP_P`, …). */
export class LlmError extends Error {
  override name = 'LlmError';
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/** A malformed or unsupported GGUF file. `code` names the problem, `offset` the byte. */
export class GgufError extends LlmError {
  override name = 'GgufError';
  constructor(
    message: string,
    code: string,
    readonly offset: number | undefined,
  ) {
    super(message, code);
  }
}

const CODED = /^\[([A-Z][A-Z0-9_]+)\] (.*)$/s;

/** Turns an error thrown by either backend into a typed error (both prefix `[CODE]`). */
export function fromBackendError(err: unknown): Error {
  if (!(err instanceof Error)) return new Error(String(err));
  const m = CODED.exec(err.message);
  if (!m) return err;
  if (!m[1]!.startsWith('GGUF_')) return new LlmError(m[2]!, m[1]!);
  const offset = /at byte (\d+)/.exec(m[2]!);
  return new GgufError(m[2]!, m[1]!, offset ? Number(offset[1]) : undefined);
}
