// Positions past 4k: the next-token logits after a 6000-token prompt on both backends against
// llama.cpp's (test/refs/long-context.json, scripts/gen-long-context-refs.mjs: node-llama-cpp
// with two-pass attention over an f32 cache, as llmplayer's default). The fixtures' own
// references stop at 512 positions; here every RoPE variant of the model fixtures runs at
// large angles: plain and NeoX, llama3 factors, LongRoPE past its original context, YaRN,
// linear scaling, partial rotary, sliding windows, and the batched attention over 6k keys.
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../ts/index.js';
import { fixturesRoot } from './helpers/fixtures.js';

interface LongRef {
  n_prompt: number;
  models: { file: string; sha256: string; n_vocab: number; log_probs: number[] }[];
}

const refs = JSON.parse(readFileSync(join(import.meta.dirname, 'refs', 'long-context.json'), 'utf8')) as LongRef;
const root = fixturesRoot();
/** The prompt the references were made with (see the JSON's `prompt`). */
const promptOf = (nVocab: number) => Array.from({ length: refs.n_prompt }, (_, i) => ((i * 7919 + 13) % (nVocab - 10)) + 5);
/**
 * Centered logits against centered log-probabilities: measured within 5.4e-6 natively (the
 * reference's own f32 softmax and log); a wrong rotation at these positions moves them by O(1).
 */
const TOL = 1e-4;

const centered = (v: ArrayLike<number>) => {
  const a = Array.from(v);
  const mean = a.reduce((s, x) => s + x, 0) / a.length;
  return a.map((x) => x - mean);
};

/**
 * WASM is single-threaded and its attention emulates x86's FMA chains element by element: a
 * 6000-token prompt takes 55 s on most of these models (4 min on deepseek2's MLA), past CI's
 * budget. It runs the two whose sliding windows keep attention short, YaRN and linear scaling
 * among them (15-18 s each); the RoPE code is the same Rust on both backends.
 */
const WASM_FILES = new Set(['models/gemma3.gguf', 'models/gpt-oss.gguf']);

describe.skipIf(root === null)('logits after 6000 tokens match llama.cpp', () => {
  for (const backend of ['native', 'wasm'] as const) {
    for (const ref of refs.models.filter((m) => backend === 'native' || WASM_FILES.has(m.file))) {
      it(`${ref.file} (${backend})`, { timeout: 180_000 }, async () => {
        const path = join(root!, ref.file);
        expect(createHash('sha256').update(readFileSync(path)).digest('hex')).toBe(ref.sha256);
        const contextSize = refs.n_prompt + 64;
        const model = await loadModel(path, { backend, contextSize });
        try {
          expect(model.nVocab).toBe(ref.n_vocab);
          const session = model.createSession({ contextSize });
          const logits = centered(await session.evaluate(promptOf(ref.n_vocab)));
          const want = centered(ref.log_probs);
          const diff = Math.max(...logits.map((x, i) => Math.abs(x - want[i]!)));
          expect(diff, `max |logit - reference| (centered)`).toBeLessThan(TOL);
          session.dispose();
        } finally {
          model.dispose();
        }
      });
    }
  }
});
