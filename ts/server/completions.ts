// POST /v1/completions: a raw prompt (text or token ids), no chat template.
import { Hono } from 'hono';
import type { Model } from '../types.js';
import { readJson, type ServerContext } from './context.js';
import { planGeneration } from './generate.js';
import { requestAbort, respond, responseMeta, type ResponseFormat, type ResponseMeta } from './respond.js';
import { completionLogprobs } from './logprobs.js';
import type { Completion, CompletionLogprobs, FinishReason } from './openai-types.js';
import { validateCompletionRequest, type CompletionRequest } from './validate.js';

function completionFormat(meta: ResponseMeta, req: CompletionRequest, model: Model): ResponseFormat {
  const object = (choices: Completion.Choice[]): Completion => ({
    id: meta.id,
    object: 'text_completion',
    created: meta.created,
    model: meta.model,
    system_fingerprint: meta.system_fingerprint,
    choices,
  });
  // With `stream_options.include_usage`, every chunk carries `usage: null` until the last.
  const chunk = (choices: Completion.Choice[]): Completion => (req.includeUsage ? { ...object(choices), usage: null } : object(choices));
  const choice = (index: number, text: string, logprobs: CompletionLogprobs | null, finish: FinishReason | null): Completion.Choice => ({ index, text, logprobs, finish_reason: finish });
  // Streamed text offsets continue from what each choice already sent.
  const sent = new Array<number>(req.n).fill(0);
  return {
    object: (choices, usage) => ({
      ...object(choices.map((c) => choice(c.index, c.text, c.logprobs ? completionLogprobs(model, c.logprobs) : null, c.finishReason === 'length' ? 'length' : 'stop'))),
      usage,
    }),
    start: () => [],
    delta: (index, delta, logprobs) => {
      const text = delta.content ?? '';
      const lp = logprobs ? completionLogprobs(model, logprobs, sent[index]) : null;
      sent[index] = (sent[index] ?? 0) + text.length;
      return [{ data: chunk([choice(index, text, lp, null)]) }];
    },
    finish: (c) => [{ data: chunk([choice(c.index, '', null, c.finishReason === 'length' ? 'length' : 'stop')]) }],
    end: (_choices, usage) => [...(req.includeUsage ? [{ data: { ...object([]), usage } }] : []), { data: '[DONE]' }],
  };
}

export function completionRoutes(ctx: ServerContext): Hono {
  const app = new Hono();
  app.post('/v1/completions', async (c) => {
    const req = validateCompletionRequest(await readJson(c));
    const abort = requestAbort(c);
    const handle = await ctx.registry.use(req.model, abort.signal);
    let handedOver = false;
    try {
      // Text prompts: special tokens written in them are parsed and BOS is added (llama.cpp does both).
      const prompt = typeof req.prompt === 'string' ? handle.model.tokenize(req.prompt, { special: true, addSpecial: true }) : req.prompt;
      const options = planGeneration(handle, req, prompt, 'prompt');
      handedOver = true;
      const format = completionFormat(responseMeta('cmpl', handle), req, handle.model);
      return await respond(c, { handle, prompt, options, n: req.n, stream: req.stream, format, abort, log: ctx.log, keepAliveMs: ctx.keepAliveMs, timeoutMs: ctx.timeoutMs, observe: ctx.telemetry.generation });
    } finally {
      if (!handedOver) handle.release();
    }
  });
  return app;
}
