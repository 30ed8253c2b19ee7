// Real GGUF models (fetched by scripts/fetch-models.sh) against llama.cpp's references
// (<fixtures>/real/*.ref.json, format in <fixtures>/real/README.md), through the SDK on both
// backends: chat template, tokenization, greedy tokens while the reference's choice is clear,
// and llama-perplexity's chunked perplexity.
//
// A model whose architecture the engine refuses (MODEL_UNSUPPORTED_ARCHITECTURE) still has its
// template and tokenizer checked (a vocab-only load works for any architecture); its greedy and
// perplexity tests are skipped with the reason. A model file that is not fetched fails under
// CI=true (.ci/run fetches them) and is skipped otherwise.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel, LlmError, type ChatMessage, type Model } from '../ts/index.js';
import { fixturesRoot } from './helpers/fixtures.js';
import { modelsDir, realModels } from './helpers/real-models.js';

const root = fixturesRoot();
const CI = process.env.CI === 'true';
const BACKENDS = ['native', 'wasm'] as const;
type Backend = (typeof BACKENDS)[number];

/** The reference's margin (winner minus runner-up logit) below which its greedy choice is a
 *  coin toss for any other correct implementation: llama.cpp's own batched and one-token logits
 *  differ by up to ~1.2 on these models, so steps from the first small margin on are not compared. */
const MIN_MARGIN = 0.5;
/**
 * |ppl / ppl_kv_f32 - 1|. Native runs llama-perplexity's own configuration (PPL_OPTIONS) and
 * reproduces its number to the printed digits, so it is held to 0.01% (the bar is
 * 0.1%); WASM runs the two-pass attention and is held to 0.2%.
 */
const PPL_TOL: Record<Backend, number> = { native: 0.0001, wasm: 0.002 };
/**
 * How llama-perplexity made `ppl_kv_f32` (its defaults on the CPU): flash attention on, which
 * reads K and V as f16 whatever -ctk/-ctv say (so its f32 and f16 numbers agree), on an AVX2
 * build (an AVX-512 build of the same commit gives 18.3914 for SmolLM2, 0.25% away: the two
 * builds' vector exp rounds differently). Natively the engine reproduces that run to the
 * digit. WASM runs the two-pass attention instead (flash attention's FMA chains are emulated
 * there, slower) and is held to 0.2%.
 */
const PPL_OPTIONS: Record<Backend, { flashAttn: boolean; rounding: 'avx2' }> = {
  native: { flashAttn: true, rounding: 'avx2' },
  wasm: { flashAttn: false, rounding: 'avx2' },
};
/**
 * Known gaps, expected to fail until fixed (then the test turns red: set the entry to false).
 * None. Native runs llama-perplexity's configuration and prints its 18.3459 for SmolLM2-135M
 * Q4_1. WASM runs the two-pass attention (its flash attention, an FMA chain emulated per
 * element, took 45 s a chunk) and prints 18.3643, +0.101%: that is llama.cpp's own `-fa off`
 * figure. Its logits equal llama.cpp's bit for bit since attention's f32 dots follow ggml's
 * order on simd128 and rope's cos/sin are glibc's (`ops/glibc.rs`; musl's differed by an ulp
 * from position 32 on and moved perplexity by 0.2%).
 */
const PPL_KNOWN_GAP: Record<Backend, boolean> = { native: false, wasm: false };
/** While a gap is known: the bound that still catches a real fault (the Q4_1 kernels' +0.39%). */
const PPL_GAP_GUARD: Record<Backend, number> = { native: 0.003, wasm: 0.006 };

interface RefCase {
  messages?: ChatMessage[];
  prompt?: string;
  rendered: string;
  prompt_tokens: number[];
  greedy: number[];
  greedy_margin: number[];
  greedy_text: string;
}

interface RefPerplexity {
  text: string;
  ctx: number;
  chunks: number;
  ppl_kv_f32: number;
}

interface Ref {
  model: string;
  model_sha256: string;
  add_bos: boolean;
  cases: RefCase[];
  perplexity: RefPerplexity[];
}

function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}

function label(c: RefCase): string {
  const text = c.messages ? c.messages[c.messages.length - 1]!.content : c.prompt!;
  const s = String(text).replace(/\s+/g, ' ');
  return JSON.stringify(s.length > 40 ? s.slice(0, 40) + '…' : s);
}

/** Native perplexities by model and text, so the WASM run can print how far it is from native. */
const nativePpl = new Map<string, number>();

describe.skipIf(root === null)('real models against llama.cpp', () => {
  const models = realModels(root!);

  for (const m of models) {
    const ref = JSON.parse(readFileSync(join(root!, 'real', m.ref), 'utf8')) as Ref;

    if (m.missing !== null) {
      const why = `${m.missing}; run scripts/fetch-models.sh (cache: ${modelsDir()}, override with LLMPLAYER_MODELS)`;
      if (CI) {
        it(`${m.file}: fetched`, () => {
          throw new Error(why);
        });
      } else {
        console.warn(`skipping ${m.file}: ${why}`);
        it.skip(`${m.file} (skipped: not fetched, run scripts/fetch-models.sh)`, () => {});
      }
      continue;
    }

    describe(m.file, () => {
      it('the reference is for this file', () => {
        expect(ref.model).toBe(m.file);
        expect(ref.model_sha256).toBe(m.sha256);
      });

      for (const backend of BACKENDS) {
        describe(backend, () => {
          let model: Model;
          /** Set when the engine refuses the architecture; `model` is then vocab-only. */
          let refused: string | null = null;

          beforeAll(async () => {
            // The references use a 1024 context; the perplexity chunks make their own sessions.
            try {
              model = await loadModel(m.path, { backend, contextSize: 1024 });
            } catch (err) {
              if (!(err instanceof LlmError && err.code === 'MODEL_UNSUPPORTED_ARCHITECTURE')) throw err;
              refused = `${err.code}: ${err.message}`;
              console.warn(`${m.file} [${backend}]: ${refused}; only the template and tokenizer are checked`);
              model = await loadModel(m.path, { backend, vocabOnly: true });
            }
            expect(model.backend).toBe(backend);
          }, 300_000);

          afterAll(() => model?.dispose());

          it(`the vocabulary ${ref.add_bos ? 'adds' : 'does not add'} BOS, as the reference says`, () => {
            // tokenize(…, { addSpecial: true }) below means "as the vocabulary says"; this pins
            // what the vocabulary says to what llama.cpp did.
            const plain = model.tokenize('Hello', { addSpecial: false });
            const withSpecial = model.tokenize('Hello', { addSpecial: true });
            const addsBos = model.bos !== null && withSpecial.length === plain.length + 1 && withSpecial[0] === model.bos;
            expect(addsBos).toBe(ref.add_bos);
          });

          ref.cases.forEach((c, i) => {
            it(`case ${i} ${label(c)}: rendered prompt and its tokens`, () => {
              if (c.messages) {
                expect(model.applyChatTemplate(c.messages, { addGenerationPrompt: true })).toBe(c.rendered);
              } else {
                expect(c.rendered).toBe(c.prompt);
              }
              // Special tokens parsed, BOS as the vocabulary says: how llama.cpp made prompt_tokens.
              expect(model.tokenize(c.rendered, { special: true, addSpecial: true })).toEqual(c.prompt_tokens);
            });

            it(`case ${i} ${label(c)}: greedy tokens up to the first margin below ${MIN_MARGIN}`, async ({ skip }) => {
              skip(refused !== null, refused ?? undefined);
              const low = c.greedy_margin.findIndex((x) => x < MIN_MARGIN);
              const steps = low === -1 ? c.greedy.length : low;
              // One token per evaluate() call, as the reference was made (the first from the
              // prompt's batch). The context is fed the reference's tokens: identical to free
              // greedy decoding while they agree, and a mismatch then shows every differing step.
              const session = model.createSession({ contextSize: c.prompt_tokens.length + steps + 1 });
              const context = [...c.prompt_tokens];
              const got: number[] = [];
              for (let step = 0; step < steps; step++) {
                got.push(argmax(await session.evaluate(context)));
                context.push(c.greedy[step]!);
              }
              session.dispose();
              console.log(`${m.file} [${backend}] case ${i}: ${steps} greedy steps compared (of ${c.greedy.length})`);
              expect(got).toEqual(c.greedy.slice(0, steps));
            }, 300_000);
          });

          // Every chunk on both backends, WASM included: the single-threaded WASM build takes
          // about 570 s for SmolLM2's 14 chunks of 512 on the 2-core CI machine (native: 12 s;
          // WASM took 260 s before its dot products emulated ggml's FMAs exactly), which keeps
          // CI (about 7 min without this file) inside its 25 min; all chunks
          // let WASM be held to llama.cpp's own number rather than to native on a subset.
          for (const p of ref.perplexity) {
            it(`perplexity of ${p.text}: ctx ${p.ctx}, ${p.chunks} chunks, within ${PPL_TOL[backend] * 100}% of llama.cpp (f32 KV)`, async ({ skip }) => {
              skip(refused !== null, refused ?? undefined);
              // llama-perplexity tokenizes the whole text with add_special as the vocabulary says
              // and no special-token parsing (common_tokenize(ctx, text, true)); the SDK's
              // defaults. It then uses min(tokens / ctx, --chunks) chunks: exactly `chunks` here.
              const tokens = model.tokenize(readFileSync(join(root!, 'real', p.text), 'utf8'), { addSpecial: true, special: false });
              expect(tokens.length).toBeGreaterThanOrEqual(p.chunks * p.ctx);
              const t0 = performance.now();
              // Chunks start with BOS only when the vocabulary adds BOS (SmolLM2's does not).
              const pplModel = await loadModel(m.path, { backend, ...PPL_OPTIONS[backend] });
              const r = await pplModel.perplexity(tokens.slice(0, p.chunks * p.ctx), { contextSize: p.ctx }).finally(() => pplModel.dispose());
              const seconds = (performance.now() - t0) / 1000;
              expect(r.nPredictions).toBe(p.chunks * (p.ctx - 1 - p.ctx / 2));
              const rel = r.ppl / p.ppl_kv_f32 - 1;
              const key = `${m.file}:${p.text}:${p.ctx}:${p.chunks}`;
              if (backend === 'native') nativePpl.set(key, r.ppl);
              const vsNative = backend !== 'native' && nativePpl.has(key) ? `, ${((r.ppl / nativePpl.get(key)! - 1) * 100).toFixed(3)}% vs native` : '';
              console.log(
                `${m.file} [${backend}] perplexity ${p.text} ctx ${p.ctx} × ${p.chunks}: ${r.ppl.toFixed(4)} ` +
                  `(llama.cpp ${p.ppl_kv_f32}, ${rel >= 0 ? '+' : ''}${(rel * 100).toFixed(3)}%${vsNative}) in ${seconds.toFixed(1)} s`,
              );
              if (PPL_KNOWN_GAP[backend]) {
                expect(Math.abs(rel), 'the known gap has closed: set PPL_KNOWN_GAP to false').toBeGreaterThanOrEqual(PPL_TOL[backend]);
                expect(Math.abs(rel)).toBeLessThan(PPL_GAP_GUARD[backend]);
              } else {
                expect(Math.abs(rel)).toBeLessThan(PPL_TOL[backend]);
              }
            }, 1_200_000);
          }
        });
      }
    });
  }
});
