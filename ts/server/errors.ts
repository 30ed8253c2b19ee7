// The one error shape of the server: OpenAI's `{ error: { message, type, param, code } }`, built
// by `ApiError` and emitted only by `onError` / `notFound` (handlers throw, never format).
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { ChatTemplateError } from '../chat-template.js';
import type { ErrorObject } from './openai-types.js';

export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'not_found_error'
  | 'server_error';

/** A client-visible error; `status` picks the HTTP status, the rest is the OpenAI error object. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: ContentfulStatusCode,
    message: string,
    readonly type: ErrorType,
    readonly param: string | null = null,
    readonly code: string | null = null,
    /** Response headers it sets (`Retry-After` on a 503). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  toJSON(): { error: ErrorObject } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** 400 invalid_request_error naming `param` (null when the body as a whole is wrong). */
export function invalidRequest(message: string, param: string | null, code: string | null = 'invalid_value'): ApiError {
  return new ApiError(400, message, 'invalid_request_error', param, code);
}

/** 400 for a feature the server does not implement (`tools`, `n` > 1, `logprobs` …). */
export function unsupported(param: string, detail = 'is not supported by this server'): ApiError {
  return new ApiError(400, `Unsupported parameter: '${param}' ${detail}.`, 'invalid_request_error', param, 'unsupported_parameter');
}

export function modelNotFound(id: string): ApiError {
  return new ApiError(404, `The model '${id}' does not exist.`, 'not_found_error', 'model', 'model_not_found');
}

export function contextLengthExceeded(contextSize: number, promptTokens: number, param: string): ApiError {
  return new ApiError(
    400,
    `This model's maximum context length is ${contextSize} tokens. However, your ${param} resulted in ${promptTokens} tokens ` +
      `(at least one more is needed for the completion). Please reduce the length of the ${param}.`,
    'invalid_request_error',
    param,
    'context_length_exceeded',
  );
}

/** 503 with `Retry-After`: the model's queue is full (`parallel` running, `maxQueue` waiting). */
export function overloaded(running: number, waiting: number): ApiError {
  return new ApiError(503, `The server is busy: ${running} generation(s) running and ${waiting} waiting. Retry later.`, 'server_error', null, 'server_overloaded', { 'Retry-After': '1' });
}

export function payloadTooLarge(maxBytes: number): ApiError {
  return new ApiError(413, `Request body too large: the limit is ${maxBytes} bytes.`, 'invalid_request_error', null, 'request_too_large');
}

/** Turns anything thrown into an ApiError; unknown errors become 500 server_error. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof ChatTemplateError) {
    // `raise_exception(...)` in a template is how templates reject a conversation (roles must
    // alternate, system message not first …): the client's doing. Parse/render failures are ours.
    return err.kind === 'raised'
      ? invalidRequest(`The chat template rejected the messages: ${err.message}`, 'messages', 'chat_template_error')
      : new ApiError(500, `Chat template failed: ${err.message}`, 'server_error', null, 'chat_template_error');
  }
  if (err instanceof HTTPException) {
    const status = err.status as ContentfulStatusCode;
    const type: ErrorType = status === 401 ? 'authentication_error' : status === 404 ? 'not_found_error' : status >= 500 ? 'server_error' : 'invalid_request_error';
    return new ApiError(status, err.message || `HTTP ${status}`, type);
  }
  const message = err instanceof Error ? err.message : String(err);
  return new ApiError(500, `Internal server error: ${message}`, 'server_error', null, 'internal_error');
}

/** Receives errors that are not the client's fault (500s from unexpected throws). */
export type ErrorLog = (message: string, err: unknown) => void;

export const consoleLog: ErrorLog = (message, err) => console.error(`[llmplayer server] ${message}`, err);

/** The app's `onError`. */
export function errorHandler(log: ErrorLog = consoleLog): (err: unknown, c: Context) => Response {
  return (err, c) => {
    // A client that went away (queued, loading …) gets nginx's 499; nobody reads it, nothing to log.
    const apiError = c.req.raw.signal.aborted
      ? new ApiError(499 as ContentfulStatusCode, 'The client closed the request.', 'invalid_request_error', null, 'client_closed_request')
      : toApiError(err);
    if (apiError.code === 'internal_error') log(`${c.req.method} ${c.req.path}`, err);
    return errorResponse(c, apiError);
  };
}

export function errorResponse(c: Context, apiError: ApiError): Response {
  if (apiError.status === 401) c.header('WWW-Authenticate', 'Bearer');
  for (const [k, v] of Object.entries(apiError.headers)) c.header(k, v);
  return c.json(apiError.toJSON(), apiError.status);
}

/** The app's `notFound`. */
export function handleNotFound(c: Context): Response {
  return errorResponse(c, new ApiError(404, `Invalid URL (${c.req.method} ${c.req.path})`, 'not_found_error', null, 'unknown_url'));
}
