// model.embed() against llama.cpp's embeddings (test/refs/embeddings.json, made by
// bench/embeddings-ref.mjs with node-llama-cpp 3.21.1) on the real SmolLM2-135M model, on both
// backends; the options' arithmetic (normalize, dimensions, pooling) against the engine's own
// vectors; and POST /v1/embeddings through the official `openai` client, hostile inputs included.
import OpenAI from 'openai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../ts/index.js';
import { serve, type RunningServer } from '../ts/server/node.js';
import { fixturesRoot } from './helpers/fixtures.js';
import { modelsDir, realModels } from './helpers/real-models.js';

interface EmbeddingsRef {
  model: { file: string; sha256: string };
  pooling: { used: 'last' };
  entries: { text: string; tokens: number[]; embedding: number[] }[];
}

const REF = JSON.parse(readFileSync(new URL('./refs/embeddings.json', import.meta.url), 'utf8')) as EmbeddingsRef;
/** llama.cpp's own pooling (last and mean) from a source build of the same llama.cpp. */
const SOURCE = JSON.parse(readFileSync(new URL('./refs/embeddings-llama-cpp.json', import.meta.url), 'utf8')) as {
  model: { sha256: string };
  entries: { text: string; tokens: number[]; last: number[]; mean: number[] }[];
};
/** llama-embedding prints %1.7f: a value equal to llama.cpp's float is within half a unit of the 7th decimal. */
const PRINTED = 5e-8 + 1e-12;
const CI = process.env.CI === 'true';
const root = fixturesRoot();
const smol = root === null ? undefined : realModels(root).find((m) => m.file === REF.model.file);
const usable = smol !== undefined && smol.missing === null;
if (root !== null && !usable && !CI) console.warn(`skipping embeddings: ${smol?.missing ?? `${REF.model.file} is not in models.json`} (run scripts/fetch-models.sh; cache ${modelsDir()})`);

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return dot / Math.sqrt(na * nb);
}

const norm = (v: ArrayLike<number>) => Math.sqrt(Array.from(v).reduce((s, x) => s + x * x, 0));

it('the reference is for the model the tests load', () => {
  if (root === null) return;
  if (CI) expect(usable, smol?.missing ?? 'not in models.json').toBe(true);
  if (smol) expect(REF.model.sha256).toBe(smol.sha256);
});

for (const backend of ['native', 'wasm'] as const) {
  describe.skipIf(!usable)(`embed on ${backend}`, () => {
    let model: Model;
    beforeAll(async () => {
      // llama.cpp ran with flash attention (its CPU default, see the reference's context).
      model = await loadModel(smol!.path, { backend, threads: 2, flashAttn: true });
    });
    afterAll(() => model?.dispose());

    it('matches llama.cpp: last-token pooling, unnormalized, cosine ≥ 0.999', async () => {
      // The model has no pooling_type key: llmplayer pools mean by default, llama.cpp took its
      // NONE and node-llama-cpp read the last token's state, so the reference case asks for last.
      // Measured: 4 of the 5 vectors equal bit for bit; the 24-token one is at 1 - cosine 1.4e-4,
      // which is how far node-llama-cpp's prebuilt binary is from a source build of its own
      // llama.cpp there (this engine equals the source build: the next test). The cause is the
      // prebuilt binary's rounding, not the engine; 0.999 is the bar either way.
      expect(REF.pooling.used).toBe('last');
      for (const e of REF.entries) {
        expect(model.tokenize(e.text, { addSpecial: true, special: false }), e.text).toEqual(e.tokens);
        const { embedding, nTokens } = await model.embed!(e.text, { pooling: 'last', normalize: false });
        expect(nTokens).toBe(e.tokens.length);
        expect(embedding.length).toBe(e.embedding.length);
        const cos = cosine(embedding, e.embedding);
        expect(cos, `${e.text}: cosine ${cos}`).toBeGreaterThanOrEqual(0.999);
        // Not just the direction: the same magnitude too (no normalization on either side).
        expect(Math.abs(norm(embedding) / norm(e.embedding) - 1), e.text).toBeLessThan(1e-2);
      }
    });

    it("equals llama.cpp's source build: last pooling to its printed precision, mean to f32 rounding", async () => {
      // node-llama-cpp's prebuilt binary rounds differently from a build of its own llama.cpp
      // source on some inputs (the 24-token text: 1 - cosine 1.4e-4 between the two llama.cpp
      // builds, and the same between the prebuilt one and this engine); the engine follows the
      // source build, so against it every value agrees to the 7 printed decimals.
      // Mean: the same states summed in f32, where llama.cpp's order of the sum is not
      // reproduced bit for bit (see Pooling::fold): a component then moves by an ulp or so (a
      // relative 1e-7), which keeps 1 - cosine below (1e-7)² ≈ 1e-14; 1e-12 leaves room and is
      // far below any real difference (the two llama.cpp builds differ by 1.4e-4).
      expect(SOURCE.model.sha256).toBe(REF.model.sha256);
      for (const e of SOURCE.entries) {
        expect(model.tokenize(e.text, { addSpecial: true, special: false }), e.text).toEqual(e.tokens);
        const last = (await model.embed!(e.text, { pooling: 'last', normalize: false })).embedding;
        const worst = Math.max(...Array.from(last, (x, i) => Math.abs(x - e.last[i]!)));
        expect(worst, `last: ${e.text}`).toBeLessThanOrEqual(PRINTED);
        const mean = (await model.embed!(e.text, { pooling: 'mean', normalize: false })).embedding;
        expect(1 - cosine(mean, e.mean), `mean: ${e.text}`).toBeLessThan(1e-12);
        expect(Math.abs(norm(mean) / norm(e.mean) - 1), `mean: ${e.text}`).toBeLessThan(1e-6);
      }
    });

    it('normalizes, truncates to dimensions then renormalizes, and pools mean by default', async () => {
      const text = REF.entries[1]!.text;
      const raw = (await model.embed!(text, { normalize: false })).embedding;
      const mean = (await model.embed!(text)).embedding;
      expect(Math.abs(norm(mean) - 1)).toBeLessThan(1e-6);
      expect(cosine(raw, mean)).toBeGreaterThan(0.999999);
      // Mean is not last: the default is the model's (absent key → mean).
      const last = (await model.embed!(text, { pooling: 'last', normalize: false })).embedding;
      expect(cosine(raw, last)).toBeLessThan(0.99);
      // Mean pooling by hand: the last-token states of every prefix are each position's state (causal).
      const tokens = model.tokenize(text, { addSpecial: true });
      const sum = new Float64Array(raw.length);
      for (let n = 1; n <= tokens.length; n++) {
        const v = (await model.embed!(tokens.slice(0, n), { pooling: 'last', normalize: false })).embedding;
        v.forEach((x, i) => (sum[i] = sum[i]! + x / tokens.length));
      }
      expect(cosine(sum, raw)).toBeGreaterThan(0.9999);
      const cut = (await model.embed!(text, { dimensions: 64 })).embedding;
      expect(cut.length).toBe(64);
      expect(Math.abs(norm(cut) - 1)).toBeLessThan(1e-6);
      const head = raw.slice(0, 64);
      expect(cosine(cut, head)).toBeGreaterThan(0.999999);
      const many = await model.embedMany!([text, tokens], { pooling: 'cls' });
      expect(many.map((m) => m.nTokens)).toEqual([tokens.length, tokens.length]);
      expect(cosine(many[0]!.embedding, many[1]!.embedding)).toBeGreaterThan(0.999999);
    });

    it('refuses bad input with clear errors', async () => {
      await expect(model.embed!([])).rejects.toMatchObject({ code: 'EMPTY_PROMPT' });
      await expect(model.embed!([model.nVocab])).rejects.toMatchObject({ code: 'MODEL_BAD_TOKEN' });
      await expect(model.embed!(REF.entries[1]!.text, { contextSize: 4 })).rejects.toMatchObject({ code: 'MODEL_CONTEXT_FULL' });
      await expect(model.embed!('hello', { dimensions: 0 })).rejects.toThrow(/dimensions/);
      await expect(model.embed!('hello', { dimensions: 577 })).rejects.toThrow(/dimensions/);
      await expect(model.embed!('hello', { pooling: 'rank' as never })).rejects.toThrow(/pooling/);
      expect((await model.embed!('still alive')).embedding.length).toBe(576);
    });
  });
}

describe.skipIf(!usable)('POST /v1/embeddings (openai client)', () => {
  let model: Model;
  let server: RunningServer;
  let client: OpenAI;
  beforeAll(async () => {
    model = await loadModel(smol!.path, { threads: 2 });
    server = await serve({ models: [{ id: 'smol', model }, { id: 'smol-16', model, contextSize: 16 }], port: 0, log: () => {} });
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'none', maxRetries: 0 });
  });
  afterAll(async () => {
    await server?.close();
    model?.dispose();
  });

  const direct = async (input: string | number[], dimensions?: number) => (await model.embed!(input, { dimensions })).embedding;

  it('embeds a string, strings and token ids like model.embed, with usage', async () => {
    const texts = REF.entries.slice(0, 3).map((e) => e.text);
    const one = await client.embeddings.create({ model: 'smol', input: texts[0]!, encoding_format: 'float' });
    expect(one.object).toBe('list');
    expect(one.model).toBe('smol');
    expect(one.data).toHaveLength(1);
    expect(one.data[0]!.object).toBe('embedding');
    expect(one.data[0]!.index).toBe(0);
    expect(cosine(one.data[0]!.embedding, await direct(texts[0]!))).toBeGreaterThan(0.999999);
    expect(one.usage).toEqual({ prompt_tokens: REF.entries[0]!.tokens.length, total_tokens: REF.entries[0]!.tokens.length });

    const many = await client.embeddings.create({ model: 'smol', input: texts, encoding_format: 'float' });
    expect(many.data.map((d) => d.index)).toEqual([0, 1, 2]);
    for (const [i, t] of texts.entries()) expect(cosine(many.data[i]!.embedding, await direct(t))).toBeGreaterThan(0.999999);
    expect(many.usage.prompt_tokens).toBe(REF.entries.slice(0, 3).reduce((n, e) => n + e.tokens.length, 0));

    const ids = REF.entries[1]!.tokens;
    const byIds = await client.embeddings.create({ model: 'smol', input: ids, encoding_format: 'float' });
    expect(cosine(byIds.data[0]!.embedding, many.data[1]!.embedding)).toBeGreaterThan(0.999999);
    const idLists = await client.embeddings.create({ model: 'smol', input: [ids, REF.entries[0]!.tokens], encoding_format: 'float' });
    expect(idLists.data).toHaveLength(2);
    expect(idLists.usage.total_tokens).toBe(ids.length + REF.entries[0]!.tokens.length);
  });

  it('dimensions truncates and renormalizes; base64 is little-endian float32 (decoded by the client by default)', async () => {
    const text = REF.entries[2]!.text;
    const cut = await client.embeddings.create({ model: 'smol', input: text, dimensions: 32, encoding_format: 'float' });
    expect(cut.data[0]!.embedding).toHaveLength(32);
    expect(Math.abs(norm(cut.data[0]!.embedding) - 1)).toBeLessThan(1e-6);
    expect(cosine(cut.data[0]!.embedding, await direct(text, 32))).toBeGreaterThan(0.999999);

    // No encoding_format: the openai client asks for base64 and decodes it itself.
    const decoded = await client.embeddings.create({ model: 'smol', input: text });
    const floats = await client.embeddings.create({ model: 'smol', input: text, encoding_format: 'float' });
    expect(decoded.data[0]!.embedding).toEqual(floats.data[0]!.embedding.map((x) => Math.fround(x)));
    // Asked for explicitly, base64 comes back as the string: its bytes are the float32 values.
    const b64 = await client.embeddings.create({ model: 'smol', input: text, encoding_format: 'base64' });
    const s = b64.data[0]!.embedding as unknown as string;
    expect(typeof s).toBe('string');
    const bytes = Buffer.from(s, 'base64');
    expect(bytes.length).toBe(576 * 4);
    const back = Array.from({ length: 576 }, (_, i) => bytes.readFloatLE(i * 4));
    expect(back).toEqual(floats.data[0]!.embedding);
  });

  it('answers hostile input with a 400 naming the param, and keeps serving', async () => {
    const bad = async (body: Record<string, unknown>, param: string, code?: string) => {
      const res = await fetch(`${server.url}/v1/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'smol', ...body }) });
      const json = (await res.json()) as { error: { param: string; code: string; type: string } };
      expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(json.error.type).toBe('invalid_request_error');
      expect(json.error.param).toBe(param);
      if (code) expect(json.error.code).toBe(code);
    };
    await bad({}, 'input', 'missing_required_parameter');
    await bad({ input: '' }, 'input');
    await bad({ input: [] }, 'input');
    await bad({ input: ['ok', ''] }, 'input[1]');
    await bad({ input: [[]] }, 'input[0]');
    await bad({ input: 42 }, 'input', 'invalid_type');
    await bad({ input: { text: 'x' } }, 'input', 'invalid_type');
    await bad({ input: ['ok', 7] }, 'input[1]', 'invalid_type');
    await bad({ input: [1, 'a'] }, 'input[1]', 'invalid_type');
    await bad({ input: [1, -2] }, 'input[1]', 'invalid_type');
    await bad({ input: [1.5] }, 'input[0]', 'invalid_type');
    await bad({ input: [[1], [2, null]] }, 'input[1][1]', 'invalid_type');
    await bad({ input: Array.from({ length: 10_000 }, () => 'x') }, 'input', 'array_above_max_length');
    await bad({ input: [1, model.nVocab] }, 'input[1]', 'invalid_value');
    await bad({ input: [[1], [2, 2 ** 31]] }, 'input[1][1]', 'invalid_value');
    await bad({ input: 'x', dimensions: 0 }, 'dimensions', 'integer_below_min_value');
    await bad({ input: 'x', dimensions: 577 }, 'dimensions', 'integer_above_max_value');
    await bad({ input: 'x', dimensions: 1.5 }, 'dimensions', 'invalid_type');
    await bad({ input: 'x', dimensions: '8' }, 'dimensions', 'invalid_type');
    await bad({ input: 'x', encoding_format: 'int8' }, 'encoding_format');
    await bad({ input: 'x', encoding_format: 3 }, 'encoding_format', 'invalid_type');
    await bad({ input: 'x', model: 7 }, 'model', 'invalid_type');
    await bad({ input: 'x', user: {} }, 'user', 'invalid_type');
    // Longer than the context: like chat's context_length_exceeded.
    await bad({ model: 'smol-16', input: 'word '.repeat(40) }, 'input', 'context_length_exceeded');
    await bad({ model: 'smol-16', input: ['ok', Array.from({ length: 17 }, () => 1)] }, 'input[1]', 'context_length_exceeded');
    const missing = await fetch(`${server.url}/v1/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'nope', input: 'x' }) });
    expect(missing.status).toBe(404);
    // `user` is accepted and ignored; the server still answers.
    const ok = await client.embeddings.create({ model: 'smol', input: 'still alive', user: 'someone', encoding_format: 'float' });
    expect(ok.data[0]!.embedding).toHaveLength(576);
  });

  it('stops a request past the server timeout with 504, between inputs', async () => {
    const slow = await serve({ models: [{ id: 'smol', model }], port: 0, requestTimeoutMs: 50, log: () => {} });
    try {
      const res = await fetch(`${slow.url}/v1/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ input: Array.from({ length: 400 }, (_, i) => `sentence number ${i}`) }) });
      expect(res.status).toBe(504);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('timeout');
      const ok = await fetch(`${slow.url}/v1/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ input: 'quick' }) });
      expect(ok.status).toBe(200);
    } finally {
      await slow.close();
    }
  });

  it('runs beside a generation without touching its cache', async () => {
    const prompt = [{ role: 'user' as const, content: 'Count from one to five.' }];
    const alone = await client.chat.completions.create({ model: 'smol', messages: prompt, max_tokens: 12, temperature: 0 });
    const [withEmbeds] = await Promise.all([
      client.chat.completions.create({ model: 'smol', messages: prompt, max_tokens: 12, temperature: 0 }),
      client.embeddings.create({ model: 'smol', input: REF.entries.map((e) => e.text), encoding_format: 'float' }),
    ]);
    expect(withEmbeds.choices[0]!.message.content).toBe(alone.choices[0]!.message.content);
  });
});
