// POST /v1/chat/completions: messages → the model's chat template → tokens → generation.
import { Hono } from 'hono';
import { HarmonyContent, isHarmonyModel } from '../harmony.js';
import { readJson, type ServerContext } from './context.js';
import { planGeneration, requestAbort, respond, responseMeta, type ResponseFormat, type ResponseMeta } from './generate.js';
import type { ChatCompletion, ChatCompletionChunk, FinishReason } from './openai-types.js';
import { validateChatRequest } from './validate.js';

function chatFormat(meta: ResponseMeta): ResponseFormat {
  const chunk = (delta: ChatCompletionChunk.Choice['delta'], finish: FinishReason | null): ChatCompletionChunk => ({
    id: meta.id,
    object: 'chat.completion.chunk',
    created: meta.created,
    model: meta.model,
    system_fingerprint: meta.system_fingerprint,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
  });
  return {
    object: (o): ChatCompletion => ({
      id: meta.id,
      object: 'chat.completion',
      created: meta.created,
      model: meta.model,
      system_fingerprint: meta.system_fingerprint,
      choices: [{ index: 0, message: { role: 'assistant', content: o.text, refusal: null }, logprobs: null, finish_reason: o.finishReason }],
      usage: o.usage,
    }),
    first: () => chunk({ role: 'assistant', content: '' }, null),
    delta: (text) => chunk({ content: text }, null),
    finish: (reason) => chunk({}, reason),
    usage: (usage) => ({ ...chunk({}, null), choices: [], usage }),
  };
}

export function chatRoutes(ctx: ServerContext): Hono {
  const app = new Hono();
  app.post('/v1/chat/completions', async (c) => {
    const req = validateChatRequest(await readJson(c));
    const abort = requestAbort(c);
    const handle = await ctx.registry.use(req.model, abort.signal);
    let handedOver = false;
    try {
      const text = handle.model.applyChatTemplate(req.messages, { addGenerationPrompt: true, extra: req.templateKwargs });
      // Special tokens written by the template parsed; BOS as the vocabulary asks, once.
      const prompt = handle.model.tokenizePrompt(text);
      const options = planGeneration(handle, req, prompt, 'messages');
      // A harmony model (gpt-oss) answers on channels: the content is its final channel only.
      const view = isHarmonyModel(handle.model) ? () => new HarmonyContent() : undefined;
      handedOver = true;
      const format = chatFormat(responseMeta('chatcmpl', handle));
      return await respond(c, { handle, req, prompt, options, format, view, abort, log: ctx.log, keepAliveMs: ctx.keepAliveMs, timeoutMs: ctx.timeoutMs });
    } finally {
      if (!handedOver) handle.release();
    }
  });
  return app;
}
