// Every standard-architecture model fixture (each `models*/` folder under the fixture root)
// through the SDK on both backends: batched prefill logits, one-token-at-a-time decode logits
// and the greedy continuation against llama.cpp's references (`*.ref.json`).
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { inspect, loadModel, LlmError } from '../ts/index.js';
import { fixturesRoot, listFixtures } from './helpers/fixtures.js';

const root = fixturesRoot();

interface Ref {
  prompt_tokens: number[];
  logits_prefill: number[][];
  logits_decode: number[][];
  greedy: number[];
  greedy_margin?: number[];
}

/** models/README.md: |a - b| <= 1e-3 + 1e-4 |b| (SiLU models). */
const tol = (b: number) => 1e-3 + 1e-4 * Math.abs(b);
/**
 * Known gaps, expected to fail until fixed (then the test turns red: remove the entry). None
 * now: both builds round every step of these models as llama.cpp's AVX2 build does (vector
 * exp, rope's fused multiply-add, `ggml_vec_dot_f32` / tinyBLAS order in attention, on simd128
 * with ggml's accumulator emulated exactly).
 */
const KNOWN_WASM_GAPS = new Set<string>([]);

/** Every `models*` folder (new seeds and head shapes join by being there). */
const files =
  root === null
    ? []
    : readdirSync(root)
        .filter((d) => d.startsWith('models') && statSync(join(root, d)).isDirectory())
        .sort()
        .flatMap((d) => listFixtures(d, 'gguf'));

/** Per row, max |a - b| where the row leaves the F32 tolerance, else 0. */
function rowExcess(ours: ArrayLike<number>, want: number[][]): number[] {
  const n = want[0]!.length;
  return want.map((row, i) => {
    let worst = 0;
    let out = false;
    row.forEach((b, j) => {
      const d = Math.abs(ours[i * n + j]! - b);
      worst = Math.max(worst, d);
      out ||= d > tol(b);
    });
    return out ? worst : 0;
  });
}

describe.skipIf(root === null)('model fixtures through the SDK', () => {
  it('finds model fixtures', () => expect(files.length).toBeGreaterThan(0));

  for (const file of files) {
    const name = `${basename(dirname(file))}/${basename(file)}`;
    for (const backend of ['native', 'wasm'] as const) {
      const test = backend === 'wasm' && KNOWN_WASM_GAPS.has(name) ? it.fails : it;
      test(`${backend}: ${name}`, async () => {
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
        // A row may leave the F32 tolerance only where llama.cpp's own batched and one-token
        // paths differ in it (an 8-bit activation rounded across a step), by at most as much.
        // Every such row is reported.
        const own = rowExcess(ref.logits_decode.flat(), ref.logits_prefill);
        rowExcess(all, ref.logits_prefill).forEach((got, i) => {
          if (got === 0) return;
          const where = `${name} ${backend} row ${i}`;
          console.log(`${where}: ${got.toExponential(3)} beyond the F32 tolerance (llama.cpp's prefill vs decode: ${own[i]!.toExponential(3)})`);
          expect(quantized && got <= own[i]!, where).toBe(true);
        });
        // One token at a time (the KV cache's and the recurrent state's decode path) against
        // llama.cpp's one-token-per-call rows, under the same rule.
        const ds = model.createSession({ contextSize: 128 });
        const decoded: number[] = [];
        for (let i = 0; i < ref.prompt_tokens.length; i++) decoded.push(...(await ds.evaluate(ref.prompt_tokens.slice(0, i + 1))));
        rowExcess(decoded, ref.logits_decode).forEach((got, i) => {
          if (got === 0) return;
          const where = `${name} ${backend} decode row ${i}`;
          console.log(`${where}: ${got.toExponential(3)} beyond the F32 tolerance (llama.cpp's prefill vs decode: ${own[i]!.toExponential(3)})`);
          expect(quantized && got <= own[i]!, where).toBe(true);
        });
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

/**
 * Architectures the shared fixtures hold in F32 only, on quantized weights (llama.cpp's
 * llama-quantize of the F32 fixtures, with llama.cpp's logits of a 100-token prompt):
 * test/refs/moe-quant (MXFP4 experts for gpt-oss, Q4_K_M for the others) and
 * test/refs/recurrent-quant (Q4_K_M of the recurrent and hybrid ones). Every row within the F32
 * tolerance on both backends.
 */
for (const [refs, atLeast] of [['moe-quant', 4], ['recurrent-quant', 5]] as const) {
  describe(`quantized ${refs} files against llama.cpp`, () => {
    const dir = join(import.meta.dirname, 'refs', refs);
    const tokens = readFileSync(join(dir, 'tokens.txt'), 'utf8').trim().split(/\s+/).map(Number);
    const ggufs = readdirSync(dir).filter((f) => f.endsWith('.gguf')).sort();
    it(`finds the ${atLeast} files`, () => expect(ggufs.length).toBeGreaterThanOrEqual(atLeast));
    for (const f of ggufs) {
      for (const backend of ['native', 'wasm'] as const) {
        it(`${backend}: ${f}`, async () => {
          const model = await loadModel(join(dir, f), { backend, threads: 2 });
          const raw = readFileSync(join(dir, f.replace(/\.gguf$/, '.logits.bin')));
          const want = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
          const n = want.length / tokens.length;
          const rows = Array.from({ length: tokens.length }, (_, i) => Array.from(want.subarray(i * n, (i + 1) * n)));
          const all = await model.createSession({ contextSize: 512 }).evaluate(tokens, { allLogits: true });
          const bad = rowExcess(all, rows).flatMap((e, i) => (e > 0 ? [`row ${i}: ${e.toExponential(3)}`] : []));
          expect(bad, `${f} ${backend}`).toEqual([]);
          model.dispose();
        });
      }
    }
  });
}
