// /v1/responses and /v1/messages translate their requests into a chat completions body and run it
// through the chat path's own validation, so tools, response formats and reasoning behave (and are
// refused) exactly as on /v1/chat/completions. Errors from that validation name the chat body's
// params; `viaChat` renames them to the caller's (`max_completion_tokens` → `max_output_tokens`).
import { ChatTemplateError } from '../chat-template.js';
import { ApiError, invalidRequest, toApiError } from './errors.js';
import { describe, validateChatRequest, type ChatRequest } from './validate.js';

type Json = Record<string, unknown>;

/** A chat param (or the prefix of one, `messages` for `messages[3].content`) → the caller's name. */
export type ParamRenames = Record<string, string>;

/** The renamed param (longest matching prefix wins), or null to keep it. */
function rename(param: string, renames: ParamRenames): string | null {
  let best: string | null = null;
  for (const key of Object.keys(renames)) {
    const matches = param === key || param.startsWith(`${key}[`) || param.startsWith(`${key}.`);
    if (matches && (best === null || key.length > best.length)) best = key;
  }
  return best === null ? null : renames[best]! + param.slice(best.length);
}

/** The same error naming the caller's param. */
export function renameParam(thrown: unknown, renames: ParamRenames): unknown {
  // A template's raise_exception is the client's doing (400 naming `messages`): renamed too.
  const err = thrown instanceof ChatTemplateError ? toApiError(thrown) : thrown;
  if (!(err instanceof ApiError) || err.param === null) return err;
  const to = rename(err.param, renames);
  if (to === null) return err;
  // The chat body's message indexes are not the caller's: name the whole field instead.
  const param = /^messages\[/.test(err.param) ? to.replace(/\[.*$/, '') : to;
  const message = err.message.split(`'${err.param}'`).join(`'${param}'`);
  return new ApiError(err.status, message, err.type, param, err.code, err.headers);
}

/** Validates a translated chat body; errors name the caller's params. */
export function viaChat(body: Json, renames: ParamRenames): ChatRequest {
  try {
    const req = validateChatRequest(body);
    req.n = 1;
    return req;
  } catch (err) {
    throw renameParam(err, renames);
  }
}

/** 400 naming `param` for a value of the wrong JSON type. */
export function typeError(param: string, expected: string, got: unknown): ApiError {
  return invalidRequest(`Invalid type for '${param}': expected ${expected}, but got ${describe(got)} instead.`, param, 'invalid_type');
}

export function missing(param: string): ApiError {
  return invalidRequest(`Missing required parameter: '${param}'.`, param, 'missing_required_parameter');
}

/** Present and not null. */
export function given(o: Json, key: string): boolean {
  return o[key] !== undefined && o[key] !== null;
}
