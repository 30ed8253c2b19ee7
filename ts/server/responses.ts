// POST /v1/responses: OpenAI's Responses API, stateless (nothing stored, no previous_response_id).
// The request becomes a chat request (responses-validate.ts) and runs the chat path's preparation;
// the outcome is rendered as a `response` object, or streamed as Responses events (`event:` names,
// `sequence_number`), with reasoning, message and function_call output items in the order the
// model wrote them.
import { Hono } from 'hono';
import { renameParam } from './chat-translate.js';
import { prepareChat } from './chat.js';
import { readJson, type ServerContext } from './context.js';
import type { ApiError } from './errors.js';
import type { AssistantDelta, ChoiceOutcome, ParsedToolCall } from './generate.js';
import type { CompletionUsage } from './openai-types.js';
import type { ModelHandle } from './registry.js';
import { requestAbort, respond, type ResponseFormat, type Sse } from './respond.js';
import { validateResponsesRequest, type ResponsesEcho } from './responses-validate.js';

type Json = Record<string, unknown>;
type ItemStatus = 'in_progress' | 'completed' | 'incomplete';

const newId = (prefix: string) => `${prefix}_${crypto.randomUUID().replace(/-/g, '')}`;

interface OutputText {
  type: 'output_text';
  text: string;
  annotations: [];
  logprobs: [];
}
interface MessageItem {
  type: 'message';
  id: string;
  role: 'assistant';
  status: ItemStatus;
  content: OutputText[];
}
interface ReasoningItem {
  type: 'reasoning';
  id: string;
  summary: [];
  content: Array<{ type: 'reasoning_text'; text: string }>;
  status: ItemStatus;
}
interface FunctionCallItem {
  type: 'function_call';
  id: string;
  call_id: string;
  name: string;
  arguments: string;
  status: ItemStatus;
}
type OutputItem = MessageItem | ReasoningItem | FunctionCallItem;

const messageItem = (text: string, status: ItemStatus): MessageItem => ({
  type: 'message',
  id: newId('msg'),
  role: 'assistant',
  status,
  content: [{ type: 'output_text', text, annotations: [], logprobs: [] }],
});
const reasoningItem = (text: string, status: ItemStatus): ReasoningItem => ({ type: 'reasoning', id: newId('rs'), summary: [], content: [{ type: 'reasoning_text', text }], status });
const callItem = (t: ParsedToolCall, status: ItemStatus): FunctionCallItem => ({ type: 'function_call', id: newId('fc'), call_id: t.id, name: t.name, arguments: t.arguments, status });

/** Responses' usage from the chat one: cached tokens are part of the input tokens. */
function responsesUsage(u: CompletionUsage) {
  return {
    input_tokens: u.prompt_tokens,
    input_tokens_details: { cached_tokens: u.prompt_tokens_details?.cached_tokens ?? 0 },
    output_tokens: u.completion_tokens,
    // Reasoning is not counted apart from the answer.
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: u.total_tokens,
  };
}

export function responsesFormat(id: string, model: string, echo: ResponsesEcho): ResponseFormat {
  const createdAt = Math.floor(Date.now() / 1000);
  const response = (status: 'in_progress' | 'completed' | 'incomplete' | 'failed', output: OutputItem[], usage: CompletionUsage | null, error: Json | null = null) => ({
    id,
    object: 'response',
    created_at: createdAt,
    status,
    ...(status === 'completed' ? { completed_at: Math.floor(Date.now() / 1000) } : {}),
    background: false,
    error,
    incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
    instructions: echo.instructions,
    max_output_tokens: echo.maxOutputTokens,
    metadata: echo.metadata,
    model,
    output,
    output_text: output.flatMap((o) => (o.type === 'message' ? o.content.map((c) => c.text) : [])).join(''),
    parallel_tool_calls: echo.parallelToolCalls,
    previous_response_id: null,
    reasoning: echo.reasoning,
    service_tier: 'default',
    store: false,
    temperature: echo.temperature,
    text: echo.text,
    tool_choice: echo.toolChoice,
    tools: echo.tools,
    top_p: echo.topP,
    truncation: 'disabled',
    usage: usage ? responsesUsage(usage) : null,
    user: null,
  });
  const statusOf = (c: ChoiceOutcome) => (c.finishReason === 'length' ? 'incomplete' : 'completed');

  // Streaming state: the items sent so far, the one open (reasoning or message) and the numbering.
  let seq = 0;
  const items: OutputItem[] = [];
  let open: ReasoningItem | MessageItem | null = null;
  const ev = (type: string, fields: Json): Sse => ({ event: type, data: { type, sequence_number: seq++, ...fields } });
  const at = (item: OutputItem) => ({ item_id: item.id, output_index: items.indexOf(item) });

  const openItem = (item: ReasoningItem | MessageItem): Sse[] => {
    items.push(item);
    open = item;
    const part = item.type === 'message' ? { type: 'output_text', text: '', annotations: [], logprobs: [] } : { type: 'reasoning_text', text: '' };
    return [
      ev('response.output_item.added', { output_index: items.length - 1, item: { ...item, status: 'in_progress', content: [] } }),
      ev('response.content_part.added', { ...at(item), content_index: 0, part }),
    ];
  };
  const closeOpen = (status: ItemStatus): Sse[] => {
    const item = open;
    if (!item) return [];
    open = null;
    item.status = status;
    const part = item.content[0]!;
    const done = item.type === 'message' ? ev('response.output_text.done', { ...at(item), content_index: 0, text: part.text, logprobs: [] }) : ev('response.reasoning_text.done', { ...at(item), content_index: 0, text: part.text });
    return [done, ev('response.content_part.done', { ...at(item), content_index: 0, part }), ev('response.output_item.done', { output_index: items.indexOf(item), item })];
  };
  const append = (kind: 'reasoning' | 'message', text: string): Sse[] => {
    const out: Sse[] = [];
    if (open?.type !== kind) {
      out.push(...closeOpen('completed'));
      out.push(...openItem(kind === 'message' ? messageItem('', 'in_progress') : reasoningItem('', 'in_progress')));
    }
    const item = open!;
    item.content[0]!.text += text;
    const type = kind === 'message' ? 'response.output_text.delta' : 'response.reasoning_text.delta';
    out.push(ev(type, { ...at(item), content_index: 0, delta: text, ...(kind === 'message' ? { logprobs: [] } : {}) }));
    return out;
  };
  const calls = (list: ParsedToolCall[]): Sse[] => {
    const out = closeOpen('completed');
    for (const t of list) {
      const item = callItem(t, 'completed');
      items.push(item);
      out.push(
        ev('response.output_item.added', { output_index: items.length - 1, item: { ...item, arguments: '', status: 'in_progress' } }),
        ev('response.function_call_arguments.delta', { ...at(item), delta: t.arguments }),
        ev('response.function_call_arguments.done', { ...at(item), name: t.name, arguments: t.arguments }),
        ev('response.output_item.done', { output_index: items.indexOf(item), item }),
      );
    }
    return out;
  };

  return {
    object: (choices, usage) => {
      const c = choices[0]!;
      const status = statusOf(c);
      const output: OutputItem[] = [];
      if (c.reasoning) output.push(reasoningItem(c.reasoning, status));
      if (c.content || c.toolCalls.length === 0) output.push(messageItem(c.content, status));
      output.push(...c.toolCalls.map((t) => callItem(t, 'completed')));
      return response(status, output, usage);
    },
    start: () => [ev('response.created', { response: response('in_progress', [], null) }), ev('response.in_progress', { response: response('in_progress', [], null) })],
    delta: (_index, d: AssistantDelta) => [
      ...(d.reasoning ? append('reasoning', d.reasoning) : []),
      ...(d.content ? append('message', d.content) : []),
      ...(d.toolCalls?.length ? calls(d.toolCalls) : []),
    ],
    finish: (c) => {
      // An answer with nothing in it still gets its (empty) message, as the non-streaming object does.
      const out = items.length === 0 && !open ? openItem(messageItem('', 'in_progress')) : [];
      return [...out, ...closeOpen(statusOf(c))];
    },
    end: (choices, usage) => {
      const status = statusOf(choices[0]!);
      return [ev(status === 'completed' ? 'response.completed' : 'response.incomplete', { response: response(status, items, usage) })];
    },
    // `response.failed` ends the response; the `error` event (with OpenAI's `error` object too) is what the client raises.
    error: (err: ApiError) => [
      ev('response.failed', { response: response('failed', items, null, { code: err.status >= 500 ? 'server_error' : (err.code ?? 'server_error'), message: err.message }) }),
      ev('error', { code: err.code, message: err.message, param: err.param, error: err.toJSON().error }),
    ],
  };
}

export function responsesRoutes(ctx: ServerContext): Hono {
  const app = new Hono();
  app.post('/v1/responses', async (c) => {
    const { chat: req, echo } = validateResponsesRequest(await readJson(c));
    const abort = requestAbort(c);
    const handle: ModelHandle = await ctx.registry.use(req.model, abort.signal);
    let handedOver = false;
    try {
      let prepared;
      try {
        prepared = prepareChat(handle, req, 'input');
      } catch (err) {
        throw renameParam(err, { messages: 'input' });
      }
      const { prompt, options, view } = prepared;
      const grammarParam = prepared.grammarParam === 'response_format' ? 'text.format' : prepared.grammarParam;
      handedOver = true;
      const format = responsesFormat(newId('resp'), handle.id, echo);
      return await respond(c, { handle, prompt, options, n: 1, stream: req.stream, format, view, abort, log: ctx.log, keepAliveMs: ctx.keepAliveMs, timeoutMs: ctx.timeoutMs, observe: ctx.telemetry.generation, grammarParam });
    } finally {
      if (!handedOver) handle.release();
    }
  });
  return app;
}
