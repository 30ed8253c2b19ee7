// Real GGUF models (fetched by scripts/fetch-models.sh) against llama.cpp's references
// (<fixtures>/real/*.ref.json, format in <fixtures>/real/README.md), through the SDK on both
// backends: chat template, tokenization, every greedy token, and llama-perplexity's chunked
// perplexity (against the fixture's figure and test/refs/llama-perplexity.json's).
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

/**
 * |ppl / ppl_kv_f32 - 1| against the fixture's reference, the issues' bars (0.1% natively, 0.2%
 * in WASM). That reference is llama-perplexity with llama.cpp's defaults: flash attention, and
 * weights repacked into interleaved blocks (Q4_0, Q4_K, Q8_0, IQ4_NL) whose GEMMs round
 * differently from the plain kernels, so a model with those types lands near it, not on it
 * (Gemma 3 270M Q4_K_M: 13.8813 against 13.8792, +0.015%).
 */
const PPL_TOL: Record<Backend, number> = { native: 0.001, wasm: 0.002 };
/**
 * |ppl / run - 1| against llama-perplexity in the configuration the backend reproduces
 * (test/refs/llama-perplexity.json: no repacking, f32 KV, flash attention as PPL_OPTIONS):
 * the same kernels, so the printed 4 decimals must agree.
 */
const PPL_EXACT_TOL = 0.0001;
/**
 * How each backend evaluates perplexity: natively llama-perplexity's flash attention on an
 * AVX2 build's rounding (an AVX-512 build of the same commit gives 18.3914 for SmolLM2, 0.25%
 * away: the two builds' vector exp rounds differently); in WASM the two-pass attention, whose
 * logits equal llama.cpp's `-fa off` bit for bit (attention's f32 dots follow ggml's order on
 * simd128 and rope's cos/sin are glibc's, `ops/glibc.rs`), while flash attention's FMA chains,
 * emulated per element there, took 45 s a chunk.
 */
const PPL_OPTIONS: Record<Backend, { flashAttn: boolean; rounding: 'avx2' }> = {
  native: { flashAttn: true, rounding: 'avx2' },
  wasm: { flashAttn: false, rounding: 'avx2' },
};
/**
 * Chunks the single-threaded WASM build scores where all of them would not fit CI's time
 * (2-core CI machine): Gemma 3 270M's 262k-row output makes a chunk take about 58 s (14 chunks:
 * 14 min). Such a subset is held to llama-perplexity's own figure for the same chunks.
 */
const WASM_PPL_CHUNKS: Record<string, number> = { 'gemma-3-270m-q4_k_m.gguf': 2 };

interface LlamaPerplexityRun {
  model: string;
  text: string;
  ctx: number;
  chunks: number;
  flash_attn: boolean;
  ppl: number;
}
const exactRuns = (JSON.parse(readFileSync(join(import.meta.dirname, 'refs', 'llama-perplexity.json'), 'utf8')) as { runs: LlamaPerplexityRun[] }).runs;

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

          it('a rendered chat prompt holds BOS at most once', () => {
            // Gemma's fallback template writes bos_token and the vocabulary adds BOS too: the
            // prompt generation takes (run --chat, the server) must start with one, as
            // llama.cpp's.
            const text = model.applyChatTemplate([{ role: 'user', content: 'Hi' }], { addGenerationPrompt: true });
            // (Counting BOS ids would not do: SmolLM2's BOS is <|im_start|>, written per turn.)
            const tokens = model.tokenizePrompt(text);
            const written = model.bos !== null && text.startsWith(model.tokenPiece(model.bos));
            if (ref.add_bos || written) expect(tokens[0]).toBe(model.bos);
            expect(tokens[1]).not.toBe(model.bos);
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

            // Every step, small margins included: both backends reproduce the kernels the
            // reference ran (no repacking, f32 KV, two-pass attention), so even a 0.01 margin
            // must come out the same.
            it(`case ${i} ${label(c)}: greedy tokens`, async ({ skip }) => {
              skip(refused !== null, refused ?? undefined);
              const steps = c.greedy.length;
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
              const bad = got.findIndex((t, k) => t !== c.greedy[k]);
              const margin = bad === -1 ? '' : ` (first difference at step ${bad}, reference margin ${c.greedy_margin[bad]})`;
              expect(got, `greedy tokens${margin}`).toEqual(c.greedy);
            }, 300_000);
          });

          // Every chunk natively; in WASM every chunk too (SmolLM2: about 570 s on the 2-core CI
          // machine, held to llama.cpp's own figures rather than to native on a subset) except
          // where WASM_PPL_CHUNKS cuts it for time.
          for (const p of ref.perplexity) {
            const chunks = backend === 'wasm' ? (WASM_PPL_CHUNKS[m.file] ?? p.chunks) : p.chunks;
            const opts = PPL_OPTIONS[backend];
            const exact = exactRuns.find(
              (r) => r.model === m.file && r.text === p.text && r.ctx === p.ctx && r.chunks === chunks && r.flash_attn === opts.flashAttn,
            );
            const bars = [chunks === p.chunks ? `within ${PPL_TOL[backend] * 100}% of llama.cpp's defaults` : null, exact ? `within ${PPL_EXACT_TOL * 100}% of its exact configuration` : null];
            it(`perplexity of ${p.text}: ctx ${p.ctx}, ${chunks} chunks, ${bars.filter(Boolean).join(', ')}`, async ({ skip }) => {
              skip(refused !== null, refused ?? undefined);
              // A subset needs llama.cpp's figure for it.
              expect(chunks === p.chunks || exact !== undefined, `test/refs/llama-perplexity.json has no run of ${chunks} chunks`).toBe(true);
              // llama-perplexity tokenizes the whole text with add_special as the vocabulary says
              // and no special-token parsing (common_tokenize(ctx, text, true)); the SDK's
              // defaults. It then uses min(tokens / ctx, --chunks) chunks: exactly `chunks` here.
              const tokens = model.tokenize(readFileSync(join(root!, 'real', p.text), 'utf8'), { addSpecial: true, special: false });
              expect(tokens.length).toBeGreaterThanOrEqual(chunks * p.ctx);
              const t0 = performance.now();
              // Chunks start with BOS only when the vocabulary adds BOS (SmolLM2's does not).
              const pplModel = await loadModel(m.path, { backend, ...opts });
              const r = await pplModel.perplexity(tokens.slice(0, chunks * p.ctx), { contextSize: p.ctx }).finally(() => pplModel.dispose());
              const seconds = (performance.now() - t0) / 1000;
              expect(r.nPredictions).toBe(chunks * (p.ctx - 1 - p.ctx / 2));
              const pct = (x: number) => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(3)}%`;
              const rel = r.ppl / p.ppl_kv_f32 - 1;
              const relExact = exact ? r.ppl / exact.ppl - 1 : 0;
              console.log(
                `${m.file} [${backend}] perplexity ${p.text} ctx ${p.ctx} × ${chunks}: ${r.ppl.toFixed(4)} (` +
                  [chunks === p.chunks ? `llama.cpp defaults ${p.ppl_kv_f32}, ${pct(rel)}` : null, exact ? `its exact configuration ${exact.ppl}, ${pct(relExact)}` : null]
                    .filter(Boolean)
                    .join('; ') +
                  `) in ${seconds.toFixed(1)} s`,
              );
              if (chunks === p.chunks) expect(Math.abs(rel)).toBeLessThan(PPL_TOL[backend]);
              if (exact) expect(Math.abs(relExact)).toBeLessThan(PPL_EXACT_TOL);
            }, 1_200_000);
          }
        });
      }
    });
  }
});
