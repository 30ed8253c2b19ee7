/** A malformed or unsupported GGUF file. `code` names the problem, `offset` the byte. */
export class GgufError extends Error {
  override name = 'GgufError';
  constructor(
    message: string,
    readonly code: string,
    readonly offset: number | undefined,
  ) {
    super(message);
  }
}

/** A model whose file parsed but cannot be used (tokenizer, architecture, weights). */
export class ModelLoadError extends Error {
  override name = 'ModelLoadError';
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

const CODED = /^\[([A-Z][A-Z0-9_]+)\] (.*)$/s;

/** Turns an error thrown by either backend into a typed error (both prefix `[CODE]`). */
export function fromBackendError(err: unknown): Error {
  if (!(err instanceof Error)) return new Error(String(err));
  const m = CODED.exec(err.message);
  if (!m) return err;
  if (!m[1]!.startsWith('GGUF_')) return new ModelLoadError(m[2]!, m[1]!);
  const offset = /at byte (\d+)/.exec(m[2]!);
  return new GgufError(m[2]!, m[1]!, offset ? Number(offset[1]) : undefined);
}
