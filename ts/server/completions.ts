// POST /v1/completions: a raw prompt (text or token ids), no chat template.
import { Hono } from 'hono';
import { readJson, type ServerContext } from './context.js';
import { planGeneration, requestAbort, respond, responseMeta, type ResponseFormat, type ResponseMeta } from './generate.js';
import type { Completion, FinishReason } from './openai-types.js';
import { validateCompletionRequest } from './validate.js';

function completionFormat(meta: ResponseMeta): ResponseFormat {
  const chunk = (text: string, finish: FinishReason | null): Completion => ({
    id: meta.id,
    object: 'text_completion',
    created: meta.created,
    model: meta.model,
    system_fingerprint: meta.system_fingerprint,
    choices: [{ index: 0, text, logprobs: null, finish_reason: finish }],
  });
  return {
    object: (o) => ({ ...chunk(o.text, o.finishReason), usage: o.usage }),
    delta: (text) => chunk(text, null),
    finish: (reason) => chunk('', reason),
    usage: (usage) => ({ ...chunk('', null), choices: [], usage }),
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
      return await respond(c, { handle, req, prompt, options, format: completionFormat(responseMeta('cmpl', handle)), abort, log: ctx.log, keepAliveMs: ctx.keepAliveMs, timeoutMs: ctx.timeoutMs });
    } finally {
      if (!handedOver) handle.release();
    }
  });
  return app;
}
