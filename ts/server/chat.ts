// POST /v1/chat/completions: messages → the model's chat template → tokens → generation.
import { Hono } from 'hono';
import type { Model } from '../types.js';
import { prepareChat } from './chat-prepare.js';
import { readJson, type ServerContext } from './context.js';
import type { AssistantDelta, ChoiceOutcome } from './generate.js';
import { requestAbort, respond, responseMeta, type ResponseFormat, type ResponseMeta } from './respond.js';
import { chatLogprobs } from './logprobs.js';
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionMessage, FinishReason } from './openai-types.js';
import { validateChatRequest, type ChatRequest } from './validate.js';

function message(c: ChoiceOutcome): ChatCompletionMessage {
  const calls = c.toolCalls.map((t) => ({ id: t.id, type: 'function' as const, function: { name: t.name, arguments: t.arguments } }));
  return {
    role: 'assistant',
    content: calls.length > 0 && !c.content ? null : c.content,
    refusal: null,
    ...(c.reasoning ? { reasoning_content: c.reasoning } : {}),
    ...(calls.length > 0 ? { tool_calls: calls } : {}),
  };
}

export function chatFormat(meta: ResponseMeta, req: ChatRequest, model: Model): ResponseFormat {
  const base = { id: meta.id, object: 'chat.completion.chunk' as const, created: meta.created, model: meta.model, system_fingerprint: meta.system_fingerprint };
  const chunk = (index: number, delta: ChatCompletionChunk.Choice['delta'], finish: FinishReason | null, logprobs: ChatCompletionChunk.Choice['logprobs'] = null): ChatCompletionChunk => ({
    ...base,
    choices: [{ index, delta, logprobs, finish_reason: finish }],
    // With `stream_options.include_usage`, every chunk carries `usage: null` until the last.
    ...(req.includeUsage ? { usage: null } : {}),
  });
  // Streamed tool calls are numbered per choice.
  const callsSent = new Array<number>(req.n).fill(0);
  const delta = (index: number, d: AssistantDelta): ChatCompletionChunk.Choice['delta'] => {
    const out: ChatCompletionChunk.Choice['delta'] = {};
    if (d.reasoning) out.reasoning_content = d.reasoning;
    if (d.content || (!d.reasoning && !d.toolCalls?.length)) out.content = d.content ?? '';
    if (d.toolCalls?.length) {
      out.tool_calls = d.toolCalls.map((t) => ({ index: callsSent[index]!++, id: t.id, type: 'function' as const, function: { name: t.name, arguments: t.arguments } }));
    }
    return out;
  };
  return {
    object: (choices, usage): ChatCompletion => ({
      id: meta.id,
      object: 'chat.completion',
      created: meta.created,
      model: meta.model,
      system_fingerprint: meta.system_fingerprint,
      choices: choices.map((c) => ({ index: c.index, message: message(c), logprobs: c.logprobs ? chatLogprobs(model, c.logprobs) : null, finish_reason: c.finishReason })),
      usage,
    }),
    start: () => Array.from({ length: req.n }, (_, i) => ({ data: chunk(i, { role: 'assistant', content: '' }, null) })),
    delta: (index, d, logprobs) => [{ data: chunk(index, delta(index, d), null, logprobs ? chatLogprobs(model, logprobs) : null) }],
    finish: (c) => [{ data: chunk(c.index, {}, c.finishReason) }],
    end: (_choices, usage) => [...(req.includeUsage ? [{ data: { ...base, choices: [], usage } }] : []), { data: '[DONE]' }],
  };
}

export { prepareChat, type PreparedChat } from './chat-prepare.js';

export function chatRoutes(ctx: ServerContext): Hono {
  const app = new Hono();
  app.post('/v1/chat/completions', async (c) => {
    const req = validateChatRequest(await readJson(c));
    const abort = requestAbort(c);
    const handle = await ctx.registry.use(req.model, abort.signal);
    let handedOver = false;
    try {
      const { prompt, options, view, grammarParam } = prepareChat(handle, req);
      handedOver = true;
      const format = chatFormat(responseMeta('chatcmpl', handle), req, handle.model);
      return await respond(c, { handle, prompt, options, n: req.n, stream: req.stream, format, view, abort, log: ctx.log, keepAliveMs: ctx.keepAliveMs, timeoutMs: ctx.timeoutMs, observe: ctx.telemetry.generation, grammarParam });
    } finally {
      if (!handedOver) handle.release();
    }
  });
  return app;
}
