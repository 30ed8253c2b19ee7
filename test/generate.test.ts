// The engine through the SDK on both backends: stories260K against llama.cpp's references,
// generation options, abort, stop strings, and the event loop during native generation.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel, isGenerateResult, LlmError, type GenerateResult, type Model } from '../ts/index.js';
import { fixturesRoot } from './helpers/fixtures.js';

const root = fixturesRoot();
const BACKENDS = ['native', 'wasm'] as const;

interface Ref {
  prompt_tokens: number[];
  logits_prefill: number[][];
  logits_decode: number[][];
  greedy: number[];
  greedy_text: string;
}

describe.skipIf(root === null)('generation through the SDK (stories260K)', () => {
  const file = () => join(root!, 'real', 'stories260K.gguf');
  const ref = () => JSON.parse(readFileSync(join(root!, 'real', 'stories260K.ref.json'), 'utf8')) as Ref;
  const models = new Map<string, Promise<Model>>();
  const model = (backend: (typeof BACKENDS)[number]) => {
    if (!models.has(backend)) models.set(backend, loadModel(file(), { backend, threads: 2 }));
    return models.get(backend)!;
  };

  for (const backend of BACKENDS) {
    it(`${backend}: prefill and decode logits match llama.cpp`, async () => {
      const m = await model(backend);
      const r = ref();
      const s = m.createSession({ contextSize: 64 });
      const all = await s.evaluate(r.prompt_tokens, { allLogits: true });
      const n = m.nVocab;
      // models/README.md: |a - b| <= 1e-3 + 1e-4 |b| for SiLU models.
      const close = (got: ArrayLike<number>, want: number[], what: string) => {
        want.forEach((b, j) => expect(Math.abs(got[j]! - b), `${what}[${j}]`).toBeLessThanOrEqual(1e-3 + 1e-4 * Math.abs(b)));
      };
      r.logits_prefill.forEach((row, i) => close(all.subarray(i * n, (i + 1) * n), row, `prefill ${i}`));
      const d = m.createSession({ contextSize: 64 });
      for (let i = 0; i < r.prompt_tokens.length; i++) {
        close(await d.evaluate(r.prompt_tokens.slice(0, i + 1)), r.logits_decode[i]!, `decode ${i}`);
      }
    });

    it(`${backend}: greedy continuation equals llama.cpp's`, async () => {
      const m = await model(backend);
      const r = ref();
      const result = await m.createSession().complete(r.prompt_tokens, { temperature: 0, maxTokens: r.greedy.length });
      expect(result.tokens).toEqual(r.greedy);
      expect(result.text.trimStart()).toBe(r.greedy_text);
      expect(result.finishReason).toBe('length');
      expect(result.usage).toEqual({ promptTokens: r.prompt_tokens.length, completionTokens: r.greedy.length, totalTokens: r.prompt_tokens.length + r.greedy.length, cachedTokens: 0 });
    });

    it(`${backend}: perplexity of story.txt under both protocols within 0.5%`, async () => {
      const m = await model(backend);
      const want = JSON.parse(readFileSync(join(root!, 'real', 'story.ppl.json'), 'utf8')) as {
        full_context: { n_eval: number; ppl: number };
        llama_perplexity: { n_ctx: number; ppl: number };
      };
      const tokens = readFileSync(join(root!, 'real', 'story.tokens.txt'), 'utf8').trim().split(/\s+/).map(Number);
      const full = await m.perplexity(tokens.slice(0, want.full_context.n_eval));
      expect(Math.abs(full.ppl / want.full_context.ppl - 1)).toBeLessThan(0.005);
      const chunked = await m.perplexity(tokens, { contextSize: want.llama_perplexity.n_ctx });
      expect(Math.abs(chunked.ppl / want.llama_perplexity.ppl - 1)).toBeLessThan(0.005);
    });
  }

  it('the same seed gives the same tokens on native and wasm', async () => {
    const opts = { temperature: 0.9, topK: 40, topP: 0.95, seed: 1234, maxTokens: 48 };
    const a = await (await model('native')).createSession().complete('Once upon a time', opts);
    const b = await (await model('wasm')).createSession().complete('Once upon a time', opts);
    expect(b.tokens).toEqual(a.tokens);
    const c = await (await model('native')).createSession().complete('Once upon a time', { ...opts, seed: 99 });
    expect(c.tokens).not.toEqual(a.tokens);
  });

  it('streams chunks whose text adds up to the result', async () => {
    const m = await model('native');
    let streamed = '';
    let result: GenerateResult | undefined;
    for await (const item of m.createSession().generate('Once upon a time', { temperature: 0, maxTokens: 30 })) {
      if (isGenerateResult(item)) result = item;
      else streamed += item.text;
    }
    expect(result!.text).toBe(streamed);
    expect(result!.timings.generateTokensPerSecond).toBeGreaterThan(0);
  });

  it('stop strings end generation and are not emitted, across token boundaries', async () => {
    const m = await model('native');
    const free = await m.createSession().complete('Once upon a time', { temperature: 0, maxTokens: 40 });
    const stop = 'ly. Sh'; // spans "Lily", "." and "She"
    expect(free.text).toContain(stop);
    const stopped = await m.createSession().complete('Once upon a time', { temperature: 0, maxTokens: 40, stop: ['never seen', stop] });
    expect(stopped.finishReason).toBe('stop');
    expect(stopped.text).toBe(free.text.slice(0, free.text.indexOf(stop)));
    expect(stopped.stopSequence).toBe(stop); // which one ended it
    expect(free.stopSequence).toBeUndefined();
  });

  it('an AbortSignal ends generation with finishReason abort', async () => {
    const m = await model('wasm');
    const ac = new AbortController();
    let n = 0;
    let result: GenerateResult | undefined;
    for await (const item of m.createSession().generate('Once upon a time', { temperature: 0, maxTokens: 200, signal: ac.signal })) {
      if (isGenerateResult(item)) result = item;
      else if (++n === 5) ac.abort();
    }
    expect(result!.finishReason).toBe('abort');
    expect(result!.tokens.length).toBe(5);
  });

  it('a full context ends with length; an over-long prompt is refused', async () => {
    const m = await model('native');
    const s = m.createSession({ contextSize: 16 });
    const r = await s.complete('Once upon a time', { temperature: 0 });
    expect(r.finishReason).toBe('length');
    expect(r.usage.totalTokens).toBe(16);
    const long = 'Once upon a time '.repeat(20);
    await expect(s.complete(long)).rejects.toMatchObject({ code: 'CONTEXT_LENGTH_EXCEEDED' });
    await expect(s.complete('x', { topP: 2 })).rejects.toBeInstanceOf(LlmError);
  });

  it('a second prompt sharing a prefix reuses the cache', async () => {
    const m = await model('native');
    const s = m.createSession();
    const first = await s.complete('Once upon a time, there was', { temperature: 0, maxTokens: 8 });
    expect(s.nPast).toBeGreaterThan(first.usage.promptTokens);
    const again = await s.complete('Once upon a time, there was', { temperature: 0, maxTokens: 8 });
    expect(again.tokens).toEqual(first.tokens);
  });

  it('native generation leaves the event loop free', async () => {
    const m = await loadModel(join(root!, 'models', 'llama.gguf'), { backend: 'native', threads: 1 });
    const s = m.createSession({ contextSize: 512 });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const t0 = performance.now();
    const r = await s.complete([1, 2, 3, 4], { temperature: 0, maxTokens: 200 });
    const ms = performance.now() - t0;
    clearInterval(timer);
    expect(r.tokens.length).toBeGreaterThan(0);
    // A blocked loop would not tick at all; allow for timer coarseness on a busy machine.
    expect(ticks).toBeGreaterThan(Math.min(10, ms / 10));
    m.dispose();
  });
});
