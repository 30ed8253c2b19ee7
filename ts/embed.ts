// `model.embed()`: input → tokens → the engine's pooled vector (a session of its own, sized to
// the input) → optional truncation to `dimensions` → optional L2 normalization. The engine pools
// (crates/llmplayer-core/src/model/session/embed.rs); this file only shapes its vector.
import type { RawModel } from './backend.js';
import { fromBackendError } from './errors.js';
import type { EmbedOptions, Embedding, Pooling } from './types.js';

const POOLINGS: readonly Pooling[] = ['mean', 'cls', 'last'];

/** What `embed` needs of the model (the SDK's LlmModel). */
export interface EmbeddingSource {
  readonly raw: RawModel;
  readonly contextSize: number;
  readonly info: { embeddingLength: number | null };
  tokenize(text: string, options?: { addSpecial?: boolean; special?: boolean }): number[];
  toIds(ids: ArrayLike<number>): Uint32Array;
}

/**
 * `v` scaled to unit length in place (a zero vector stays zero). The sum of squares in double,
 * as llama.cpp's `common_embd_normalize` (embd_norm 2) does.
 */
export function normalizeL2(v: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i]! * v[i]!;
  const norm = Math.sqrt(sum);
  if (norm > 0) {
    const scale = 1 / norm;
    for (let i = 0; i < v.length; i++) v[i] = v[i]! * scale;
  }
  return v;
}

/** Checks `options` against the model before anything runs; RangeError names the option. */
function checkOptions(model: EmbeddingSource, options: EmbedOptions): void {
  if (options.pooling !== undefined && !POOLINGS.includes(options.pooling)) {
    throw new RangeError(`pooling must be one of ${POOLINGS.join(', ')}, got ${String(options.pooling)}`);
  }
  const dims = options.dimensions;
  const nEmbd = model.info.embeddingLength;
  if (dims !== undefined && (!Number.isInteger(dims) || dims < 1 || (nEmbd !== null && dims > nEmbd))) {
    throw new RangeError(`dimensions must be an integer in 1..=${nEmbd ?? 'n_embd'}, got ${dims}`);
  }
  const n = options.contextSize;
  if (n !== undefined && (!Number.isInteger(n) || n < 1)) throw new RangeError(`contextSize must be a positive integer, got ${n}`);
}

export async function embed(model: EmbeddingSource, input: string | ArrayLike<number>, options: EmbedOptions = {}): Promise<Embedding> {
  checkOptions(model, options);
  const ids = typeof input === 'string' ? Uint32Array.from(model.tokenize(input, { addSpecial: true, special: false })) : model.toIds(input);
  let vector: Float32Array;
  try {
    // Empty input, unknown ids, too many tokens, vocab-only models: refused by the engine.
    vector = await model.raw.embed(ids, options.pooling ?? null, options.contextSize ?? model.contextSize);
  } catch (err) {
    throw fromBackendError(err);
  }
  if (options.dimensions !== undefined && options.dimensions < vector.length) vector = vector.slice(0, options.dimensions);
  if (options.normalize ?? true) normalizeL2(vector);
  return { embedding: vector, nTokens: ids.length };
}

export async function embedMany(model: EmbeddingSource, inputs: Array<string | ArrayLike<number>>, options: EmbedOptions = {}): Promise<Embedding[]> {
  const out: Embedding[] = [];
  for (const input of inputs) out.push(await embed(model, input, options));
  return out;
}
