// The server with the REAL model (stories260K) on both backends: a listening Node server driven by
// the official `openai` client and the Vercel AI SDK. Greedy (temperature 0) answers are checked
// against the SDK run directly, streamed text against non-streamed text, usage against /tokenize,
// and the context limits, abort, and 8 concurrent streams on 2 slots against the real engine.
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { generateText, streamText } from 'ai';
import OpenAI from 'openai';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../ts/index.js';
import { serve, type RunningServer } from '../ts/server/node.js';
import type { GenerationPool } from '../ts/server/queue.js';
import { fixturesRoot } from './helpers/fixtures.js';
import { streamChat } from './helpers/server.js';

const root = fixturesRoot();
const KEY = 'sk-real-test';
type ChatMsg = OpenAI.Chat.ChatCompletionMessageParam;
type ApiErr = InstanceType<typeof OpenAI.APIError>;

/** Greedy chat answers per backend, compared across backends at the end. */
const answers: Record<string, string[]> = {};

async function rejection(p: Promise<unknown>): Promise<ApiErr> {
  try {
    await p;
  } catch (err) {
    return err as ApiErr;
  }
  throw new Error('expected a rejection');
}


for (const backend of ['native', 'wasm'] as const) {
  describe.skipIf(root === null)(`server with the real model (${backend})`, () => {
    let model: Model;
    let server: RunningServer;
    let client: OpenAI;
    answers[backend] = [];

    beforeAll(async () => {
      model = await loadModel(join(root!, 'real', 'stories260K.gguf'), { backend, threads: 2 });
      server = await serve({
        models: [
          { id: 'stories', model },
          { id: 'stories-64', model, contextSize: 64 },
          // One slot with room for a long generation: the abort test.
          { id: 'stories-4k', model, contextSize: 4096, parallel: 1 },
        ],
        port: 0,
        parallel: 2,
        apiKey: KEY,
        log: () => {},
      });
      client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: KEY, maxRetries: 0 });
    });
    afterAll(async () => {
      await server?.close();
      model?.dispose();
    });

    const api = async (path: string, body: unknown) => {
      const res = await fetch(`${server.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
        body: JSON.stringify(body),
      });
      expect(res.status, path).toBe(200);
      return (await res.json()) as Record<string, any>;
    };
    const pool = async (id: string): Promise<GenerationPool> => {
      const h = await server.registry.use(id);
      h.release();
      return h.pool;
    };
    /** Greedy reference straight from the SDK: the chat prompt as the server builds it. */
    const reference = async (messages: ChatMsg[], maxTokens: number) => {
      const prompt = model.tokenizePrompt(model.applyChatTemplate(messages as never, { addGenerationPrompt: true }));
      const session = model.createSession({ contextSize: 512 });
      try {
        return { prompt, result: await session.complete(prompt, { temperature: 0, maxTokens }) };
      } finally {
        session.dispose();
      }
    };

    it('chat: non-streaming equals the SDK; usage agrees with /tokenize', async () => {
      const messages: ChatMsg[] = [{ role: 'user', content: 'Tell me a story about a cat.' }];
      const res = await client.chat.completions.create({ model: 'stories', messages, temperature: 0, max_tokens: 48 });
      expect(res.object).toBe('chat.completion');
      expect(res.model).toBe('stories');
      expect(res.system_fingerprint).toBe(`llmplayer-${backend}`);
      const choice = res.choices[0]!;
      expect(choice.message.role).toBe('assistant');
      const ref = await reference(messages, 48);
      expect(choice.message.content).toBe(ref.result.text);
      expect(choice.message.content!.length).toBeGreaterThan(20);
      expect(choice.finish_reason).toBe(ref.result.finishReason);
      // No chat template in the file: the llama2 [INST] fallback, tokenized with BOS and specials.
      expect(model.chatTemplate.fallback).toBe(true);
      const rendered = model.applyChatTemplate(messages as never, { addGenerationPrompt: true });
      expect(rendered).toContain('[INST]');
      // The template writes `<s>` itself: the server adds no second BOS, so /tokenize without
      // add_special counts the same prompt (with add_special, BOS would appear twice).
      expect(rendered.startsWith('<s>[INST]')).toBe(true);
      const tok = await api('/tokenize', { model: 'stories', content: rendered, add_special: false, parse_special: true });
      expect(tok.tokens[0]).toBe(model.bos);
      expect(tok.tokens[1]).not.toBe(model.bos);
      expect(res.usage).toMatchObject({
        prompt_tokens: tok.tokens.length,
        completion_tokens: ref.result.tokens.length,
        total_tokens: tok.tokens.length + ref.result.tokens.length,
      });
      answers[backend]!.push(choice.message.content!);
    });

    it('chat: streamed deltas assemble to the non-streaming text (temperature 0)', async () => {
      const messages: ChatMsg[] = [
        { role: 'system', content: 'You tell short stories.' },
        { role: 'user', content: 'Once upon a time there was a dog.' },
      ];
      const plain = await client.chat.completions.create({ model: 'stories', messages, temperature: 0, max_tokens: 40 });
      const streamed = await streamChat(
        await client.chat.completions.create({
          model: 'stories',
          messages,
          temperature: 0,
          max_tokens: 40,
          stream: true,
          stream_options: { include_usage: true },
        }),
      );
      expect(streamed.text).toBe(plain.choices[0]!.message.content);
      expect(streamed.finish).toBe(plain.choices[0]!.finish_reason);
      expect(streamed.roles).toBe(1);
      const { prompt_tokens, completion_tokens, total_tokens } = plain.usage!;
      expect(streamed.usage).toMatchObject({ prompt_tokens, completion_tokens, total_tokens });
      // The same prompt again lands on the slot that holds it: all but the last token reused.
      expect(streamed.usage!.prompt_tokens_details!.cached_tokens).toBe(prompt_tokens - 1);
      answers[backend]!.push(streamed.text);
    });

    it('completions: plain, streamed and from token ids agree; usage agrees with /tokenize', async () => {
      const body = { model: 'stories', prompt: 'Once upon a time', temperature: 0, max_tokens: 24 };
      const plain = await client.completions.create(body);
      const text = plain.choices[0]!.text;
      expect(plain.object).toBe('text_completion');
      expect(text).toMatch(/^, there was/);
      expect(plain.choices[0]!.finish_reason).toBe('length');
      const tok = await api('/tokenize', { content: body.prompt, add_special: true, model: 'stories' });
      expect(plain.usage).toMatchObject({ prompt_tokens: tok.tokens.length, completion_tokens: 24, total_tokens: tok.tokens.length + 24 });
      let streamed = '';
      let finish: string | null = null;
      for await (const chunk of await client.completions.create({ ...body, stream: true })) {
        streamed += chunk.choices[0]?.text ?? '';
        finish = chunk.choices[0]?.finish_reason ?? finish;
      }
      expect(streamed).toBe(text);
      expect(finish).toBe('length');
      const fromIds = await client.completions.create({ ...body, prompt: tok.tokens as number[] });
      expect(fromIds.choices[0]!.text).toBe(text);
    });

    it('completions: text held back for an unfinished stop string is streamed at the end', async () => {
      // The generation ends (max_tokens) on a prefix of the stop string: that tail was held back
      // while streaming and belongs to the answer. (Before the fix streams lost it.)
      const body = { model: 'stories', prompt: 'Once upon a time', temperature: 0, max_tokens: 12 };
      const base = (await client.completions.create(body)).choices[0]!.text;
      const stop = [`${base.slice(-3)}QQ`];
      const plain = await client.completions.create({ ...body, stop });
      expect(plain.choices[0]!.text).toBe(base);
      let streamed = '';
      for await (const chunk of await client.completions.create({ ...body, stop, stream: true })) streamed += chunk.choices[0]?.text ?? '';
      expect(streamed).toBe(base);
      // A stop string that does occur cuts the text (and is not included) in both modes.
      const cut = base.slice(0, base.indexOf(' ', 10));
      const word = base.slice(cut.length, base.indexOf(' ', cut.length + 1));
      const stopped = await client.completions.create({ ...body, stop: [word] });
      expect(stopped.choices[0]).toMatchObject({ text: cut, finish_reason: 'stop' });
      streamed = '';
      for await (const chunk of await client.completions.create({ ...body, stop: [word], stream: true })) streamed += chunk.choices[0]?.text ?? '';
      expect(streamed).toBe(cut);
    });

    it('usage: cached_tokens counts what the session really holds', async () => {
      // A continuation sends the prompt plus the whole completion plus more. The last completion
      // token was sampled but never evaluated (that happens lazily, on the next step), so the
      // cache holds all but that one.
      const prompt = model.tokenize('One day, a little bird', { addSpecial: true });
      const first = await client.completions.create({ model: 'stories', prompt, temperature: 0, max_tokens: 10 });
      expect(first.choices[0]!.finish_reason).toBe('length');
      const session = model.createSession({ contextSize: 512 });
      const generated = (await session.complete(prompt, { temperature: 0, maxTokens: 10 })).tokens;
      session.dispose();
      const more = model.tokenize(' and then', { addSpecial: false });
      const next = await client.completions.create({ model: 'stories', prompt: [...prompt, ...generated, ...more], temperature: 0, max_tokens: 4 });
      expect(next.usage!.prompt_tokens).toBe(prompt.length + 10 + more.length);
      expect(next.usage!.prompt_tokens_details!.cached_tokens).toBe(prompt.length + 10 - 1);
    });

    it('models: list and retrieve', async () => {
      const list: OpenAI.Models.Model[] = [];
      for await (const m of client.models.list()) list.push(m);
      expect(list.map((m) => [m.id, (m as unknown as { status: string }).status])).toEqual([
        ['stories', 'ready'],
        ['stories-64', 'ready'],
        ['stories-4k', 'ready'],
      ]);
      expect(await client.models.retrieve('stories-64')).toMatchObject({ id: 'stories-64', object: 'model', owned_by: 'llmplayer' });
      expect(await rejection(client.models.retrieve('gpt-4o'))).toMatchObject({ status: 404, type: 'not_found_error', code: 'model_not_found' });
    });

    it('errors: status, type, param and code', async () => {
      const user: ChatMsg[] = [{ role: 'user', content: 'hi' }];
      const n17 = await rejection(client.chat.completions.create({ model: 'stories', messages: user, n: 17 }));
      expect(n17).toBeInstanceOf(OpenAI.BadRequestError);
      expect(n17).toMatchObject({ status: 400, type: 'invalid_request_error', param: 'n', code: 'integer_above_max_value' });
      const unknown = await rejection(client.chat.completions.create({ model: 'gpt-4o', messages: user }));
      expect(unknown).toBeInstanceOf(OpenAI.NotFoundError);
      expect(unknown).toMatchObject({ status: 404, type: 'not_found_error', param: 'model', code: 'model_not_found' });
      const temp = await rejection(client.chat.completions.create({ model: 'stories', messages: user, temperature: 3 }));
      expect(temp).toMatchObject({ status: 400, type: 'invalid_request_error', param: 'temperature', code: 'decimal_above_max_value' });
      const bias = await rejection(client.chat.completions.create({ model: 'stories', messages: user, logit_bias: { [model.nVocab]: 5 } }));
      expect(bias).toMatchObject({ status: 400, param: 'logit_bias', code: 'invalid_value' });
      const ids = await rejection(client.completions.create({ model: 'stories', prompt: [1, 2, model.nVocab + 7] }));
      expect(ids).toMatchObject({ status: 400, param: 'prompt[2]', code: 'invalid_value' });
      const wrongKey = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'sk-wrong', maxRetries: 0 });
      const unauth = await rejection(wrongKey.chat.completions.create({ model: 'stories', messages: user }));
      expect(unauth).toBeInstanceOf(OpenAI.AuthenticationError);
      expect(unauth).toMatchObject({ status: 401, type: 'authentication_error', code: 'invalid_api_key' });
      // The server still answers afterwards.
      const ok = await client.chat.completions.create({ model: 'stories', messages: user, temperature: 0, max_tokens: 4 });
      expect(ok.usage!.completion_tokens).toBeLessThanOrEqual(4);
    });

    it('context: a prompt longer than the context is 400 context_length_exceeded', async () => {
      const long = 'The little dog ran to the park and played with a ball. '.repeat(8);
      expect(model.tokenize(long).length).toBeGreaterThan(64);
      const chat = await rejection(client.chat.completions.create({ model: 'stories-64', messages: [{ role: 'user', content: long }] }));
      expect(chat).toBeInstanceOf(OpenAI.BadRequestError);
      expect(chat).toMatchObject({ status: 400, type: 'invalid_request_error', param: 'messages', code: 'context_length_exceeded' });
      expect(chat.message).toMatch(/maximum context length is 64 tokens/);
      const cmpl = await rejection(client.completions.create({ model: 'stories-64', prompt: long }));
      expect(cmpl).toMatchObject({ status: 400, param: 'prompt', code: 'context_length_exceeded' });
      // Exactly 64 tokens leaves no room for one more; 63 leaves one.
      const ids = model.tokenize(long).slice(0, 64);
      expect(await rejection(client.completions.create({ model: 'stories-64', prompt: ids }))).toMatchObject({ code: 'context_length_exceeded' });
      const one = await client.completions.create({ model: 'stories-64', prompt: ids.slice(0, 63), max_tokens: 100, temperature: 0 });
      expect(one.choices[0]!.finish_reason).toBe('length');
      expect(one.usage).toMatchObject({ prompt_tokens: 63, completion_tokens: 1, total_tokens: 64 });
      // The same prompt fits the 512-token model.
      const fits = await client.completions.create({ model: 'stories', prompt: long, max_tokens: 1, temperature: 0 });
      expect(fits.usage!.prompt_tokens).toBeGreaterThan(64);
    });

    it('context: max_tokens beyond what fits ends with finish_reason length at the context size', async () => {
      const plain = await client.completions.create({ model: 'stories-64', prompt: 'Once upon a time', max_tokens: 1000, temperature: 0 });
      expect(plain.choices[0]!.finish_reason).toBe('length');
      expect(plain.usage!.total_tokens).toBe(64);
      const messages: ChatMsg[] = [{ role: 'user', content: 'Tell me a story.' }];
      const chat = await client.chat.completions.create({ model: 'stories-64', messages, max_tokens: 1000, temperature: 0 });
      expect(chat.choices[0]!.finish_reason).toBe('length');
      expect(chat.usage!.total_tokens).toBe(64);
      // No max_tokens at all: the same bound.
      const streamed = await streamChat(
        await client.chat.completions.create({ model: 'stories-64', messages, temperature: 0, stream: true, stream_options: { include_usage: true } }),
      );
      expect(streamed.finish).toBe('length');
      expect(streamed.usage!.total_tokens).toBe(64);
      expect(streamed.text).toBe(chat.choices[0]!.message.content);
    });

    it('/tokenize and /detokenize round-trip', async () => {
      const text = 'Once upon a time, there was a little girl named Lily. She loved to play outside.';
      const plain = await api('/tokenize', { model: 'stories', content: text });
      expect(plain.tokens).toEqual(model.tokenize(text, { addSpecial: false, special: true }));
      expect(plain.tokens[0]).not.toBe(model.bos);
      expect((await api('/detokenize', { model: 'stories', tokens: plain.tokens })).content).toBe(text);
      const withBos = await api('/tokenize', { model: 'stories', content: text, add_special: true });
      expect(withBos.tokens).toEqual([model.bos, ...plain.tokens]);
      const pieces = await api('/tokenize', { model: 'stories', content: text, with_pieces: true });
      expect(pieces.tokens.map((t: { id: number }) => t.id)).toEqual(plain.tokens);
      expect(pieces.tokens.map((t: { piece: string }) => t.piece).join('').replace(/\u2581/g, ' ').trim()).toBe(text);
    });

    it('abort mid-stream stops the generation and frees the slot', async () => {
      const slots = await pool('stories-4k');
      const ac = new AbortController();
      const body = { model: 'stories-4k', prompt: 'Once upon a time', temperature: 0, max_tokens: 4000, stream: true as const };
      const stream = await client.completions.create(body, { signal: ac.signal });
      let received = 0;
      let abortedAt = 0;
      for await (const chunk of stream) {
        if (chunk.choices[0]?.text) received++;
        if (received === 5 && !abortedAt) {
          abortedAt = performance.now();
          ac.abort();
        }
      }
      expect(received).toBeGreaterThanOrEqual(5);
      expect(received).toBeLessThan(100);
      while (slots.stats.busy > 0) {
        if (performance.now() - abortedAt > 5000) throw new Error('the slot did not free within 5 s of the abort');
        await new Promise((r) => setTimeout(r, 1));
      }
      const freeMs = performance.now() - abortedAt;
      // One slot: the next request runs only once the aborted generation (4000 tokens) has let go.
      const next = await client.completions.create({ model: 'stories-4k', prompt: 'Once upon a time', temperature: 0, max_tokens: 8 });
      const servedMs = performance.now() - abortedAt;
      expect(next.choices[0]!.text).toMatch(/^, there was/);
      console.log(`[server-real ${backend}] abort → slot free ${freeMs.toFixed(1)} ms; next request answered ${servedMs.toFixed(0)} ms after the abort`);
      expect(freeMs).toBeLessThan(500);
      expect(servedMs).toBeLessThan(2000);
    });

    it('8 simultaneous streams on 2 slots: no cross-talk, all finish', async () => {
      const animals = ['cat', 'dog', 'bird', 'fish', 'frog', 'bear', 'duck', 'lion'];
      const prompts = animals.map((a, i) => `Tell me a story about a ${a}${' who was very happy'.repeat(i % 3)}.`);
      const body = (p: string) => ({ model: 'stories', messages: [{ role: 'user' as const, content: p }], temperature: 0, max_tokens: 32 });
      const expected: string[] = [];
      for (const p of prompts) expected.push((await client.chat.completions.create(body(p))).choices[0]!.message.content!);
      expect(new Set(expected).size).toBe(8);
      const slots = await pool('stories');
      let maxBusy = 0;
      let maxQueued = 0;
      const watch = setInterval(() => {
        maxBusy = Math.max(maxBusy, slots.stats.busy);
        maxQueued = Math.max(maxQueued, slots.stats.queued);
      }, 1);
      try {
        const got = await Promise.all(
          prompts.map(async (p) => streamChat(await client.chat.completions.create({ ...body(p), stream: true, stream_options: { include_usage: true } }))),
        );
        got.forEach((g, i) => {
          expect(g.text, prompts[i]).toBe(expected[i]);
          expect(g.finish).not.toBeNull();
          expect(g.usage!.completion_tokens).toBeLessThanOrEqual(32);
        });
      } finally {
        clearInterval(watch);
      }
      expect(maxBusy).toBe(2);
      expect(maxQueued).toBeGreaterThan(0);
      expect(slots.stats).toMatchObject({ slots: 2, busy: 0, queued: 0 });
    });

    it('Vercel AI SDK: generateText and streamText', async () => {
      const provider = createOpenAICompatible({ name: 'llmplayer', baseURL: `${server.url}/v1`, apiKey: KEY, includeUsage: true });
      const prompt = 'Tell me a story about a small boat.';
      const gen = await generateText({ model: provider('stories'), prompt, temperature: 0, maxOutputTokens: 32, maxRetries: 0 });
      const ref = await reference([{ role: 'user', content: prompt }], 32);
      expect(gen.text).toBe(ref.result.text);
      expect(gen.finishReason).toBe(ref.result.finishReason === 'length' ? 'length' : 'stop');
      expect(gen.usage.inputTokens).toBe(ref.prompt.length);
      expect(gen.usage.outputTokens).toBe(ref.result.tokens.length);
      const st = streamText({ model: provider('stories'), prompt, temperature: 0, maxOutputTokens: 32, maxRetries: 0 });
      let text = '';
      for await (const delta of st.textStream) text += delta;
      expect(text).toBe(gen.text);
      expect(await st.finishReason).toBe(gen.finishReason);
      expect((await st.usage).outputTokens).toBe(gen.usage.outputTokens);
      // The completion model sends /v1/completions a `user:`/`assistant:` transcript of the prompt.
      const cmpl = await generateText({ model: provider.completionModel('stories'), prompt: 'Once upon a time', temperature: 0, maxOutputTokens: 16, maxRetries: 0 });
      expect(cmpl.text.length).toBeGreaterThan(10);
      expect(cmpl.finishReason).toBe('length');
      expect(cmpl.usage.outputTokens).toBe(16);
      answers[backend]!.push(gen.text);
    });
  });
}

describe.skipIf(root === null)('server with the real model: backends agree', () => {
  it('greedy answers are the same on native and wasm', () => {
    expect(answers.native!.length).toBe(3);
    expect(answers.wasm).toEqual(answers.native);
  });
});
