// Every standard-architecture model fixture through the SDK on both backends: batched prefill
// logits and the greedy continuation against llama.cpp's references (models/*.ref.json).
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { inspect, loadModel, LlmError } from '../ts/index.js';
import { fixturesRoot, listFixtures } from './helpers/fixtures.js';

const root = fixturesRoot();

interface Ref {
  prompt_tokens: number[];
  logits_prefill: number[][];
  greedy: number[];
  greedy_margin?: number[];
}

/** models/README.md: |a - b| <= 1e-3 + 1e-4 |b| (SiLU models). */
const tol = (b: number) => 1e-3 + 1e-4 * Math.abs(b);
/** Quantized files: a few rows may differ more (an activation rounded across an int8 step). */
const QUANT_ROWS_ALLOWED = 3;
const QUANT_MAX = 0.1;

const files = listFixtures('models', 'gguf');

describe.skipIf(root === null)('model fixtures through the SDK', () => {
  it('finds model fixtures', () => expect(files.length).toBeGreaterThan(0));

  for (const file of files) {
    const name = basename(file);
    for (const backend of ['native', 'wasm'] as const) {
      it(`${backend}: ${name}`, async () => {
        const info = await inspect(file, { backend: 'native', tensors: false });
        let model;
        try {
          model = await loadModel(file, { backend, threads: 2 });
        } catch (err) {
          // Architectures of the other engines are refused with a clear error, nothing else.
          expect(err).toBeInstanceOf(LlmError);
          expect((err as LlmError).code).toBe('MODEL_UNSUPPORTED_ARCHITECTURE');
          expect((err as Error).message).toContain(info.architecture!);
          return;
        }
        const ref = JSON.parse(readFileSync(file + '.ref.json', 'utf8')) as Ref;
        const quantized = info.quantMix.some((q) => !['F32', 'F16', 'BF16'].includes(q.type));
        const s = model.createSession({ contextSize: 128 });
        const all = await s.evaluate(ref.prompt_tokens, { allLogits: true });
        const n = model.nVocab;
        let rowsOut = 0;
        ref.logits_prefill.forEach((want, i) => {
          const got = all.subarray(i * n, (i + 1) * n);
          let worst = 0;
          let out = false;
          want.forEach((b, j) => {
            const d = Math.abs(got[j]! - b);
            worst = Math.max(worst, d);
            out ||= d > tol(b);
          });
          if (out) rowsOut++;
          expect(worst, `row ${i}`).toBeLessThanOrEqual(quantized ? QUANT_MAX : tol(Math.max(...want.map(Math.abs))));
        });
        expect(rowsOut).toBeLessThanOrEqual(quantized ? QUANT_ROWS_ALLOWED : 0);
        const r = await model.createSession({ contextSize: 128 }).complete(ref.prompt_tokens, { temperature: 0, maxTokens: ref.greedy.length });
        // Identical up to the first near-tie of the reference (margin within the tolerance).
        const tie = (ref.greedy_margin ?? []).findIndex((m) => m <= 2 * tol(0));
        let upTo = tie === -1 ? ref.greedy.length : tie;
        // llama.cpp's reference keeps taking the argmax through end-of-generation tokens; the
        // SDK stops there, so the reference must have an EOG token where we stopped.
        if (r.finishReason === 'stop' && r.tokens.length < upTo) {
          expect(model.isEndOfGeneration(ref.greedy[r.tokens.length]!)).toBe(true);
          upTo = r.tokens.length;
        }
        expect(r.tokens.slice(0, upTo)).toEqual(ref.greedy.slice(0, upTo));
        model.dispose();
      });
    }
  }
});
