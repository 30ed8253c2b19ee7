// POST /v1/messages: Anthropic's Messages API. The request becomes a chat request
// (messages-validate.ts) and runs the chat path's preparation; the outcome is rendered as a
// `message` with thinking / text / tool_use blocks, or streamed as Anthropic's events
// (message_start, content_block_*, message_delta, message_stop, ping). Errors on this route,
// auth and body limit included, take Anthropic's shape: `{ type: 'error', error: { type, message } }`.
import type { Context } from 'hono';
import { Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { prepareChat } from './chat.js';
import { readJson, type ServerContext } from './context.js';
import { ApiError, toApiError, type ErrorLog } from './errors.js';
import type { AssistantDelta, ChoiceOutcome, ParsedToolCall } from './generate.js';
import { validateMessagesRequest, TOOL_ID_PREFIX } from './messages-validate.js';
import type { CompletionUsage } from './openai-types.js';
import { requestAbort, respond, type ResponseFormat, type Sse } from './respond.js';

type Json = Record<string, unknown>;

export const MESSAGES_PATH = '/v1/messages';

/** Anthropic's error types by HTTP status (their documented table; 499 is a client that left). */
function anthropicType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 413) return 'request_too_large';
  if (status === 429) return 'rate_limit_error';
  if (status === 503 || status === 529) return 'overloaded_error';
  if (status === 504) return 'timeout_error';
  return status >= 500 ? 'api_error' : 'invalid_request_error';
}

export function anthropicError(err: ApiError): { type: 'error'; error: { type: string; message: string } } {
  // Anthropic's errors carry no `param`: the message names it (as theirs do, `messages.0.role: …`).
  const message = err.param && !err.message.includes(err.param) ? `${err.param}: ${err.message}` : err.message;
  return { type: 'error', error: { type: anthropicType(err.status), message } };
}

/** The `onError` for /v1/messages (app.ts picks it by path, so auth and body-limit errors match too). */
export function messagesErrorHandler(log: ErrorLog): (err: unknown, c: Context) => Response {
  return (err, c) => {
    const apiError = c.req.raw.signal.aborted ? new ApiError(499 as ContentfulStatusCode, 'The client closed the request.', 'invalid_request_error') : toApiError(err);
    if (apiError.code === 'internal_error') log(`${c.req.method} ${c.req.path}`, err);
    for (const [k, v] of Object.entries(apiError.headers)) c.header(k, v);
    return c.json(anthropicError(apiError), apiError.status);
  };
}

type StopReason = 'end_turn' | 'max_tokens' | 'stop_sequence' | 'tool_use' | 'model_context_window_exceeded';

/** Anthropic's usage: `input_tokens` excludes the tokens read from the cache. */
function anthropicUsage(u: CompletionUsage) {
  const cached = u.prompt_tokens_details?.cached_tokens ?? 0;
  return { input_tokens: u.prompt_tokens - cached, cache_creation_input_tokens: 0, cache_read_input_tokens: cached, output_tokens: u.completion_tokens };
}

/** A tool call's arguments as the `input` object (the parser writes JSON objects; anything else is {}). */
function inputOf(t: ParsedToolCall): Json {
  try {
    const v: unknown = JSON.parse(t.arguments);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {};
  } catch {
    return {};
  }
}

const toolUse = (t: ParsedToolCall) => ({ type: 'tool_use', id: TOOL_ID_PREFIX + t.id, name: t.name, input: inputOf(t) });

export function messagesFormat(id: string, model: string, promptTokens: number, maxTokens: number): ResponseFormat {
  const stopReason = (c: ChoiceOutcome): StopReason => {
    if (c.finishReason === 'tool_calls') return 'tool_use';
    if (c.finishReason === 'stop') return c.stopSequence !== undefined ? 'stop_sequence' : 'end_turn';
    // 'length' short of max_tokens: the context (planGeneration caps maxTokens by it) ran out.
    return c.completionTokens >= maxTokens ? 'max_tokens' : 'model_context_window_exceeded';
  };
  const message = (content: Json[], stop: StopReason | null, usage: Json, stopSequence: string | null = null) => ({
    id,
    type: 'message',
    role: 'assistant',
    model,
    content,
    stop_reason: stop,
    stop_sequence: stopSequence,
    usage,
  });

  // Streaming: the open block (thinking or text) and the next block index.
  let open: 'thinking' | 'text' | null = null;
  let index = 0;
  const ev = (type: string, fields: Json): Sse => ({ event: type, data: { type, ...fields } });
  const closeOpen = (): Sse[] => {
    if (!open) return [];
    open = null;
    return [ev('content_block_stop', { index: index++ })];
  };
  const append = (kind: 'thinking' | 'text', text: string): Sse[] => {
    const out: Sse[] = [];
    if (open !== kind) {
      out.push(...closeOpen());
      open = kind;
      out.push(ev('content_block_start', { index, content_block: kind === 'text' ? { type: 'text', text: '' } : { type: 'thinking', thinking: '', signature: '' } }));
    }
    out.push(ev('content_block_delta', { index, delta: kind === 'text' ? { type: 'text_delta', text } : { type: 'thinking_delta', thinking: text } }));
    return out;
  };
  const calls = (list: ParsedToolCall[]): Sse[] => {
    const out = closeOpen();
    for (const t of list) {
      out.push(
        ev('content_block_start', { index, content_block: { ...toolUse(t), input: {} } }),
        ev('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: JSON.stringify(inputOf(t)) } }),
        ev('content_block_stop', { index: index++ }),
      );
    }
    return out;
  };
  let sentBlocks = false;

  return {
    object: (choices, usage) => {
      const c = choices[0]!;
      const content: Json[] = [];
      if (c.reasoning) content.push({ type: 'thinking', thinking: c.reasoning, signature: '' });
      if (c.content || c.toolCalls.length === 0) content.push({ type: 'text', text: c.content });
      content.push(...c.toolCalls.map(toolUse));
      return message(content, stopReason(c), anthropicUsage(usage), c.stopSequence ?? null);
    },
    start: () => [
      ev('message_start', { message: message([], null, { input_tokens: promptTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 0 }) }),
      ev('ping', {}),
    ],
    delta: (_index, d: AssistantDelta) => {
      const out = [...(d.reasoning ? append('thinking', d.reasoning) : []), ...(d.content ? append('text', d.content) : []), ...(d.toolCalls?.length ? calls(d.toolCalls) : [])];
      if (out.length > 0) sentBlocks = true;
      return out;
    },
    finish: () => {
      // An empty answer still gets its (empty) text block, as the non-streaming message does.
      const out = sentBlocks ? [] : [ev('content_block_start', { index, content_block: { type: 'text', text: '' } })];
      if (!sentBlocks) open = 'text';
      return [...out, ...closeOpen()];
    },
    end: (choices, usage) => [
      // message_delta's usage counters are the whole message's (the SDK replaces message_start's with them).
      ev('message_delta', { delta: { stop_reason: stopReason(choices[0]!), stop_sequence: choices[0]!.stopSequence ?? null }, usage: anthropicUsage(usage) }),
      ev('message_stop', {}),
    ],
    error: (err) => [{ event: 'error', data: anthropicError(err) }],
  };
}

export function messagesRoutes(ctx: ServerContext): Hono {
  const app = new Hono();
  app.post(MESSAGES_PATH, async (c) => {
    const { chat: req, maxTokens } = validateMessagesRequest(await readJson(c));
    const abort = requestAbort(c);
    const handle = await ctx.registry.use(req.model, abort.signal);
    let handedOver = false;
    try {
      const { prompt, options, view, grammarParam: param } = prepareChat(handle, req);
      const grammarParam = param === 'response_format' ? 'output_config.format' : param;
      handedOver = true;
      const format = messagesFormat(`msg_${crypto.randomUUID().replace(/-/g, '')}`, handle.id, prompt.length, maxTokens);
      return await respond(c, { handle, prompt, options, n: 1, stream: req.stream, format, view, abort, log: ctx.log, keepAliveMs: ctx.keepAliveMs, timeoutMs: ctx.timeoutMs, observe: ctx.telemetry.generation, grammarParam });
    } finally {
      if (!handedOver) handle.release();
    }
  });
  return app;
}
