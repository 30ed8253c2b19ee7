// Continuous batching through the SDK (`model.createBatchScheduler()`), on both backends:
// concurrent greedy generations equal each run alone in a session (a quantized file: every
// row's result is independent of the rows beside it), a shared prefix is reused, abort and
// early exit free the sequence at once, and bad requests are refused before they queue.
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { loadModel, LlmError, type GenerateResult, type Model } from '../ts/index.js';
import { fixturesRoot } from './helpers/fixtures.js';

const root = fixturesRoot();
const BACKENDS = ['native', 'wasm'] as const;

describe.skipIf(root === null)('batch scheduler', () => {
  const models = new Map<string, Promise<Model>>();
  const model = (backend: (typeof BACKENDS)[number]) => {
    if (!models.has(backend)) models.set(backend, loadModel(join(root!, 'models', 'llama.Q8_0.gguf'), { backend, threads: 2, contextSize: 128 }));
    return models.get(backend)!;
  };
  const prompts = [
    [1, 15, 200, 31, 7, 99, 5],
    [1, 300, 301, 302],
    [1, 15, 200, 31, 7, 99, 5, 42, 43], // extends the first
    [1, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25],
    [1, 77],
  ];

  for (const backend of BACKENDS) {
    it(`${backend}: concurrent greedy generations equal each alone`, async () => {
      const m = await model(backend);
      const alone: GenerateResult[] = [];
      for (const p of prompts) {
        const s = m.createSession();
        alone.push(await s.complete(p, { temperature: 0, maxTokens: 12 }));
        s.dispose();
      }
      const sched = m.createBatchScheduler!({ parallel: 3, batchSize: 8 });
      expect(sched.parallel).toBe(3);
      const got = await Promise.all(prompts.map((p) => sched.complete(p, { temperature: 0, maxTokens: 12 })));
      got.forEach((g, i) => {
        expect(g.tokens, `prompt ${i}`).toEqual(alone[i]!.tokens);
        expect(g.text).toBe(alone[i]!.text);
        expect(g.finishReason).toBe(alone[i]!.finishReason);
        expect(g.usage.promptTokens).toBe(prompts[i]!.length);
      });
      // Seeded sampling is the session's too (each request its own sampler and seed).
      const opts = { temperature: 0.9, topK: 40, seed: 1234, maxTokens: 10 };
      const s = m.createSession();
      const want = await s.complete(prompts[1]!, opts);
      s.dispose();
      const [a, b] = await Promise.all([sched.complete(prompts[1]!, opts), sched.complete(prompts[3]!, opts)]);
      expect(a.tokens).toEqual(want.tokens);
      expect(b.tokens.length).toBe(10);
      // Everything finished: no sequence holds KV for a running request.
      await waitFor(() => sched.stats.active === 0);
      expect(sched.stats).toMatchObject({ active: 0, waiting: 0, kvActive: 0, kvSize: 3 * 128 });
      sched.dispose();
    });

    it(`${backend}: a repeated prompt is reused; stop, abort and early exit free the sequence`, async () => {
      const m = await model(backend);
      const sched = m.createBatchScheduler!({ parallel: 2 });
      const first = await sched.complete(prompts[3]!, { temperature: 0, maxTokens: 4 });
      const again = await sched.complete(prompts[3]!, { temperature: 0, maxTokens: 4 });
      expect(first.usage.cachedTokens).toBe(0);
      expect(again.usage.cachedTokens).toBe(prompts[3]!.length - 1);
      expect(again.tokens).toEqual(first.tokens);
      // Abort mid-stream.
      const ac = new AbortController();
      let n = 0;
      let last: GenerateResult | undefined;
      for await (const item of sched.generate(prompts[0]!, { temperature: 0, maxTokens: 100, signal: ac.signal })) {
        if ('finishReason' in item) last = item as GenerateResult;
        else if (++n === 3) ac.abort();
      }
      expect(last?.finishReason).toBe('abort');
      expect(n).toBe(3);
      // The consumer leaving early.
      for await (const _ of sched.generate(prompts[1]!, { temperature: 0, maxTokens: 100 })) break;
      await waitFor(() => sched.stats.active === 0);
      expect(sched.stats.kvActive).toBe(0);
      // Refused before queueing, with the engine's codes.
      await expect(sched.complete([], {})).rejects.toMatchObject({ code: 'EMPTY_PROMPT' });
      await expect(sched.complete(new Array(200).fill(1), {})).rejects.toMatchObject({ code: 'CONTEXT_LENGTH_EXCEEDED' });
      await expect(sched.complete([1, 2], { topLogprobs: 50 })).rejects.toBeInstanceOf(LlmError);
      const small = m.createBatchScheduler!({ parallel: 2, contextSize: 64, kvSize: 32 });
      await expect(small.complete([1, 2, 3], { maxTokens: 40 })).rejects.toMatchObject({ code: 'KV_BUDGET_EXCEEDED' });
      const ok = await small.complete([1, 2, 3], { temperature: 0, maxTokens: 5 });
      expect(ok.tokens.length).toBeLessThanOrEqual(5);
      small.dispose();
      // Disposing ends what runs (an error, not a hang) and frees the engine's scheduler.
      const gen = sched.generate(prompts[4]!, { temperature: 0, maxTokens: 100 })[Symbol.asyncIterator]();
      await gen.next();
      sched.dispose();
      await expect((async () => {
        while (!(await gen.next()).done);
      })()).rejects.toMatchObject({ code: 'SCHEDULER_DISPOSED' });
      expect(() => sched.stats).toThrow(/disposed/);
    });
  }
});

async function waitFor(cond: () => boolean, ms = 2000): Promise<void> {
  const t0 = performance.now();
  while (!cond()) {
    if (performance.now() - t0 > ms) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 2));
  }
}
