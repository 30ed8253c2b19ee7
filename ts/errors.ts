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

/**
 * The fields both bindings set on an engine error (`NativeModel` / `WasmModel` alike):
 * `code` and `offset`, the file's byte for GGUF parse errors and null otherwise.
 */
interface BackendErrorFields {
  code: string;
  offset: number | null;
}

function isBackendError(err: Error): err is Error & BackendErrorFields {
  const e = err as Error & Partial<BackendErrorFields>;
  return typeof e.code === 'string' && (typeof e.offset === 'number' || e.offset === null);
}

/**
 * Turns an error thrown by either backend into a typed error, from its `code` and `offset`
 * properties. Anything else (a file that cannot be read …) passes through unchanged.
 */
export function fromBackendError(err: unknown): Error {
  if (!(err instanceof Error)) return new Error(String(err));
  if (!isBackendError(err)) return err;
  if (!err.code.startsWith('GGUF_')) return new LlmError(err.message, err.code);
  return new GgufError(err.message, err.code, err.offset ?? undefined);
}
