// Logprobs through the SDK on both backends (stories260K): the chosen token's logprob under the
// raw logits, the top alternatives and their order, the same numbers on native and wasm.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel, isGenerateResult, type GenerateChunk, type GenerateOptions, type GenerateResult, type Model } from '../ts/index.js';
import { fixturesRoot } from './helpers/fixtures.js';

const root = fixturesRoot();
const BACKENDS = ['native', 'wasm'] as const;

/** log softmax(logits)[id] in f64, the plain way. */
function logSoftmaxAt(logits: Float32Array, id: number): number {
  let m = -Infinity;
  for (const l of logits) m = Math.max(m, l);
  let sum = 0;
  for (const l of logits) sum += Math.exp(l - m);
  return logits[id]! - m - Math.log(sum);
}

async function run(m: Model, prompt: number[], options: GenerateOptions): Promise<{ chunks: GenerateChunk[]; result: GenerateResult }> {
  const chunks: GenerateChunk[] = [];
  let result: GenerateResult | undefined;
  for await (const item of m.createSession().generate(prompt, options)) {
    if (isGenerateResult(item)) result = item;
    else chunks.push(item);
  }
  return { chunks, result: result! };
}

describe.skipIf(root === null)('logprobs through the SDK (stories260K)', () => {
  const file = () => join(root!, 'real', 'stories260K.gguf');
  const ref = () => JSON.parse(readFileSync(join(root!, 'real', 'stories260K.ref.json'), 'utf8')) as { prompt_tokens: number[]; greedy: number[] };
  const models = new Map<string, Promise<Model>>();
  const model = (backend: (typeof BACKENDS)[number]) => {
    if (!models.has(backend)) models.set(backend, loadModel(file(), { backend, threads: 2 }));
    return models.get(backend)!;
  };

  for (const backend of BACKENDS) {
    it(`${backend}: the greedy token has the top logprob; alternatives sorted; same tokens as without`, async () => {
      const m = await model(backend);
      const r = ref();
      const n = 12;
      const { chunks, result } = await run(m, r.prompt_tokens, { temperature: 0, maxTokens: n, topLogprobs: 5 });
      expect(result.tokens).toEqual(r.greedy.slice(0, n));
      expect(result.logprobs!.map((s) => s.token)).toEqual(result.tokens);
      chunks.forEach((c, i) => {
        const top = c.topLogprobs!;
        expect(top).toHaveLength(5);
        expect(top[0]!.id).toBe(c.token);
        expect(c.logprob).toBe(top[0]!.logprob);
        expect(c.logprob!).toBeLessThanOrEqual(0);
        for (let j = 1; j < top.length; j++) {
          const [a, b] = [top[j - 1]!, top[j]!];
          expect(a.logprob > b.logprob || (a.logprob === b.logprob && a.id < b.id)).toBe(true);
        }
        expect(result.logprobs![i]).toEqual({ token: c.token, logprob: c.logprob, topLogprobs: top });
      });
      // The first token's logprob is the log-softmax of the prompt's last logits.
      const logits = await m.createSession().evaluate(r.prompt_tokens);
      expect(Math.abs(chunks[0]!.logprob! - logSoftmaxAt(logits, chunks[0]!.token))).toBeLessThan(1e-9);
      // Not asked for: no fields, no extra call.
      const plain = await run(m, r.prompt_tokens, { temperature: 0, maxTokens: 3 });
      expect(plain.chunks[0]).toEqual({ token: r.greedy[0], text: plain.chunks[0]!.text });
      expect(plain.result.logprobs).toBeUndefined();
    });
  }

  it('native and wasm report the same logprobs for the same seed; logprobs alone give no alternatives', async () => {
    const opts = { temperature: 0.9, topK: 40, topP: 0.95, seed: 1234, maxTokens: 24, topLogprobs: 3 };
    const a = (await run(await model('native'), ref().prompt_tokens, opts)).result;
    const b = (await run(await model('wasm'), ref().prompt_tokens, opts)).result;
    expect(b.tokens).toEqual(a.tokens);
    // Same logits give the same bits (the normalizer avoids libm); the two backends' logits
    // may differ in their last bits, hence the tolerance.
    a.logprobs!.forEach((s, i) => {
      const t = b.logprobs![i]!;
      expect(t.topLogprobs.map((x) => x.id)).toEqual(s.topLogprobs.map((x) => x.id));
      expect(Math.abs(t.logprob - s.logprob)).toBeLessThan(1e-5);
      s.topLogprobs.forEach((x, j) => expect(Math.abs(t.topLogprobs[j]!.logprob - x.logprob)).toBeLessThan(1e-5));
    });
    const only = (await run(await model('native'), ref().prompt_tokens, { ...opts, topLogprobs: undefined, logprobs: true })).result;
    expect(only.tokens).toEqual(a.tokens);
    expect(only.logprobs!.map((s) => s.logprob)).toEqual(a.logprobs!.map((s) => s.logprob));
    expect(only.logprobs!.every((s) => s.topLogprobs.length === 0)).toBe(true);
  });

  it('topLogprobs outside 0..=20 is refused by the engine', async () => {
    for (const backend of BACKENDS) {
      const s = (await model(backend)).createSession();
      await expect(s.complete('Once', { topLogprobs: 21 })).rejects.toMatchObject({ code: 'SAMPLING_TOP_LOGPROBS' });
      await expect(s.complete('Once', { topLogprobs: 2.5 })).rejects.toMatchObject({ code: 'SAMPLING_TOPLOGPROBS' });
    }
  });
});
