// POST /v1/embeddings, OpenAI's shape: `input` (a string, strings, token ids or lists of them)
// → one pooled, L2-normalized vector per input (`model.embed`), optionally cut to `dimensions`
// and renormalized (text-embedding-3's rule), as floats or base64 of little-endian float32.
//
// Where it runs: each input is embedded by `model.embed`, which evaluates it in a session of
// its own sized to the input (crates/llmplayer-core/src/runtime.rs `RuntimeModel::embed`) and
// drops it afterwards. The generation pool's scheduler and its KV cache (every slot's cached
// prefix) are never touched, so an embedding can run beside generations without corrupting
// them and without waiting for a generation slot. To bound the extra memory (one input's KV
// at most) and keep embedding requests fair, a model runs one input at a time, in arrival
// order; more than EMBED_LIMITS.queue requests waiting get 503 like a full generation queue.
import { Hono } from 'hono';
import type { Model } from '../types.js';
import { readJson, type ServerContext } from './context.js';
import { ApiError, invalidRequest, overloaded } from './errors.js';
import type { ModelHandle } from './registry.js';
import { describe, optNumber, optString, requireObject } from './validate.js';

/** Limits on a request (REST-API.md documents them); a longer input than the context is a 400 too. */
export const EMBED_LIMITS = {
  /** Inputs per request (OpenAI's limit). */
  inputs: 2048,
  /** Tokens over all inputs of a request (OpenAI's limit). */
  totalTokens: 300_000,
  /** Requests waiting for a model's embedder beyond the running one. */
  queue: 64,
} as const;

type Input = string | number[];

/** `input` as a list of strings or token-id lists; token ids are range-checked later. */
function parseInput(v: unknown): Input[] {
  if (v === undefined || v === null) throw invalidRequest("Missing required parameter: 'input'.", 'input', 'missing_required_parameter');
  const bad = (param: string, what: unknown) =>
    invalidRequest(`Invalid type for '${param}': expected a string, an array of strings, an array of token ids or an array of such arrays, but got ${describe(what)} instead.`, param, 'invalid_type');
  const empty = (param: string) => invalidRequest(`Invalid '${param}': it must not be empty.`, param, 'invalid_value');
  if (typeof v === 'string') {
    if (v.length === 0) throw empty('input');
    return [v];
  }
  if (!Array.isArray(v)) throw bad('input', v);
  if (v.length === 0) throw empty('input');
  if (v.length > EMBED_LIMITS.inputs) {
    throw invalidRequest(`Invalid 'input': ${v.length} inputs; at most ${EMBED_LIMITS.inputs} are allowed per request.`, 'input', 'array_above_max_length');
  }
  // One list of token ids, or a list whose items are all strings or all token-id lists.
  if (typeof v[0] === 'number') return [tokenIds(v, 'input')];
  return v.map((item: unknown, i) => {
    const param = `input[${i}]`;
    if (typeof item === 'string') {
      if (item.length === 0) throw empty(param);
      return item;
    }
    if (Array.isArray(item)) {
      if (item.length === 0) throw empty(param);
      return tokenIds(item, param);
    }
    throw bad(param, item);
  });
}

function tokenIds(list: unknown[], param: string): number[] {
  list.forEach((t, j) => {
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 0) {
      throw invalidRequest(`Invalid type for '${param}[${j}]': expected a token id (a non-negative integer), but got ${describe(t)} instead.`, `${param}[${j}]`, 'invalid_type');
    }
  });
  return list as number[];
}

/** Base64 of the vector's float32 bytes, little-endian whatever the platform (no `Buffer`: workerd). */
function base64Floats(v: Float32Array): string {
  const bytes = new Uint8Array(v.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < v.length; i++) view.setFloat32(i * 4, v[i]!, true);
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

/** One embedding at a time per model, first come first served (see the header). */
const queues = new WeakMap<Model, { tail: Promise<void>; waiting: number }>();

async function serialized<T>(model: Model, run: () => Promise<T>): Promise<T> {
  let q = queues.get(model);
  if (!q) queues.set(model, (q = { tail: Promise.resolve(), waiting: 0 }));
  if (q.waiting > EMBED_LIMITS.queue) throw overloaded(1, q.waiting - 1);
  q.waiting++;
  const prev = q.tail;
  let done!: () => void;
  q.tail = new Promise<void>((r) => (done = r));
  try {
    await prev;
    return await run();
  } finally {
    q.waiting--;
    done();
  }
}

/** Each input's tokens, checked against the vocabulary and the context. */
function tokenizeAll(handle: ModelHandle, inputs: Input[]): number[][] {
  const { model } = handle;
  const contextSize = handle.pool.contextSize;
  let total = 0;
  return inputs.map((input, i) => {
    const param = inputs.length === 1 ? 'input' : `input[${i}]`;
    // As model.embed tokenizes a string: BOS/EOS as the vocabulary asks, special tokens as text.
    const tokens = typeof input === 'string' ? model.tokenize(input, { addSpecial: true, special: false }) : input;
    const bad = typeof input === 'string' ? -1 : tokens.findIndex((t) => t >= model.nVocab);
    if (bad >= 0) {
      throw invalidRequest(`Invalid '${param}[${bad}]': token id ${tokens[bad]} is out of range (the vocabulary has ${model.nVocab} tokens).`, `${param}[${bad}]`, 'invalid_value');
    }
    if (tokens.length === 0) throw invalidRequest(`Invalid '${param}': it tokenizes to nothing.`, param, 'invalid_value');
    if (tokens.length > contextSize) {
      throw new ApiError(
        400,
        `This model's maximum context length is ${contextSize} tokens. However, your ${param} resulted in ${tokens.length} tokens. Please reduce the length of the ${param}.`,
        'invalid_request_error',
        param,
        'context_length_exceeded',
      );
    }
    total += tokens.length;
    if (total > EMBED_LIMITS.totalTokens) {
      throw invalidRequest(`Invalid 'input': more than ${EMBED_LIMITS.totalTokens} tokens in all; send fewer inputs per request.`, 'input', 'invalid_value');
    }
    return tokens;
  });
}

export function embeddingRoutes(ctx: ServerContext): Hono {
  const app = new Hono();
  app.post('/v1/embeddings', async (c) => {
    const body = requireObject(await readJson(c));
    const inputs = parseInput(body.input);
    const format = optString(body, 'encoding_format') ?? 'float';
    if (format !== 'float' && format !== 'base64') {
      throw invalidRequest(`Invalid 'encoding_format': expected 'float' or 'base64', but got '${format.slice(0, 40)}' instead.`, 'encoding_format', 'invalid_value');
    }
    const dimensions = optNumber(body, 'dimensions', { integer: true, min: 1 });
    optString(body, 'user'); // accepted and ignored, but a string as OpenAI requires
    const signal = c.req.raw.signal;
    const handle = await ctx.registry.use(optString(body, 'model'), signal);
    try {
      const { model } = handle;
      if (model.vocabOnly || !model.embed) {
        throw invalidRequest(`The model '${handle.id}' cannot compute embeddings${model.vocabOnly ? ' (it has no weights)' : ''}.`, 'model', 'model_not_embedding');
      }
      const nEmbd = model.info.embeddingLength;
      if (dimensions !== undefined && nEmbd !== null && dimensions > nEmbd) {
        throw invalidRequest(`Invalid 'dimensions': integer above maximum value. Expected a value <= ${nEmbd} (the model's embedding size), but got ${dimensions} instead.`, 'dimensions', 'integer_above_max_value');
      }
      const tokens = tokenizeAll(handle, inputs);
      const embed = model.embed.bind(model);
      // The server's request timeout (waiting included), checked between inputs.
      const deadline = ctx.timeoutMs > 0 ? Date.now() + ctx.timeoutMs : Infinity;
      const vectors = await serialized(model, async () => {
        const out: Float32Array[] = [];
        for (const t of tokens) {
          signal.throwIfAborted(); // the app's error handler answers 499 for a client gone
          if (Date.now() > deadline) {
            throw new ApiError(504, `The request took longer than the server's limit of ${ctx.timeoutMs / 1000} s and was stopped.`, 'server_error', null, 'timeout');
          }
          out.push((await embed(t, { dimensions, normalize: true, contextSize: handle.pool.contextSize })).embedding);
        }
        return out;
      });
      const promptTokens = tokens.reduce((n, t) => n + t.length, 0);
      return c.json({
        object: 'list',
        data: vectors.map((v, index) => ({ object: 'embedding', index, embedding: format === 'base64' ? base64Floats(v) : Array.from(v) })),
        model: handle.id,
        usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
      });
    } finally {
      handle.release();
    }
  });
  return app;
}
