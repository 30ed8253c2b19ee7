// Errors as data: both bindings throw Errors whose `code` and `offset` are properties (the message
// carries no `[CODE]` prefix for the SDK to parse), the prompt checks are the engine's, and
// `usage.cachedTokens` is the engine's own count of reused cache positions.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RawModel } from '../ts/backend.js';
import { GgufError, LlmError, loadModel, type Model } from '../ts/index.js';
import type { LlmModel } from '../ts/model.js';
import { fixturesRoot } from './helpers/fixtures.js';

const root = fixturesRoot();
const BACKENDS = ['native', 'wasm'] as const;
const BAD_VERSION = new Uint8Array([0x47, 0x47, 0x55, 0x46, 1, 0, 0, 0]);

interface RawInspect {
  inspectBytes(bytes: Uint8Array, ...flags: unknown[]): string;
}

/** The binding itself, below the SDK's conversion. */
async function rawBinding(backend: (typeof BACKENDS)[number]): Promise<RawInspect> {
  if (backend === 'native') return createRequire(import.meta.url)('../native/index.cjs') as RawInspect;
  // @ts-ignore -- generated at build time by scripts/build-wasm.sh
  const mod = (await import('../wasm/llmplayer_wasm.js')) as RawInspect & { initSync(a: { module: BufferSource }): unknown };
  mod.initSync({ module: readFileSync(new URL('../wasm/llmplayer_wasm_bg.wasm', import.meta.url)) });
  return mod;
}

function thrown(fn: () => unknown): Error & { code?: unknown; offset?: unknown } {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a throw');
}

/** What `fn` throws or rejects with (WASM calls throw synchronously, native ones reject). */
async function rejected(fn: () => unknown): Promise<Error & { code?: unknown; offset?: unknown }> {
  try {
    await fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

describe('errors cross the bindings as data', () => {
  for (const backend of BACKENDS) {
    it(`${backend}: a malformed GGUF throws an Error with code and offset properties`, async () => {
      const raw = await rawBinding(backend);
      const err = thrown(() => (backend === 'native' ? raw.inspectBytes(BAD_VERSION) : raw.inspectBytes(BAD_VERSION, false, false)));
      expect(err).toBeInstanceOf(Error);
      expect(err.code).toBe('GGUF_UNSUPPORTED_VERSION');
      expect(err.offset).toBe(4);
      expect(err.message).not.toMatch(/^\[/);
      expect(err.message).toContain('unsupported GGUF version 1');

      // Through the SDK: the same fields on a typed error, from a load as from inspect.
      const sdk = await rejected(() => loadModel(BAD_VERSION, { backend }));
      expect(sdk).toBeInstanceOf(GgufError);
      expect(sdk).toMatchObject({ code: 'GGUF_UNSUPPORTED_VERSION', offset: 4, message: err.message });
    });
  }

  it('an error that is not the engine\'s passes through unchanged', async () => {
    const err = await rejected(() => loadModel('/nonexistent/model.gguf', { backend: 'native' }));
    expect(err).not.toBeInstanceOf(LlmError);
    expect(err.message).toMatch(/nonexistent/);
  });
});

describe.skipIf(root === null)('engine checks and counts (stories260K)', () => {
  const models = new Map<string, Promise<Model>>();
  const model = (backend: (typeof BACKENDS)[number]) => {
    if (!models.has(backend)) models.set(backend, loadModel(join(root!, 'real', 'stories260K.gguf'), { backend, threads: 2 }));
    return models.get(backend)!;
  };

  for (const backend of BACKENDS) {
    it(`${backend}: a bad token is the engine's MODEL_BAD_TOKEN, as properties of the raw error`, async () => {
      const m = await model(backend);
      const raw: RawModel = (m as LlmModel).raw;
      const rs = raw.createSession(16);
      const err = await rejected(() => rs.begin(Uint32Array.from([1, m.nVocab]), '{}'));
      expect(err).toMatchObject({ code: 'MODEL_BAD_TOKEN', offset: null });
      expect(err.message).not.toMatch(/^\[/);
      rs.free?.();

      const s = m.createSession({ contextSize: 16 });
      const sdk = await rejected(() => s.complete([1, m.nVocab]));
      expect(sdk).toBeInstanceOf(LlmError);
      expect(sdk).toMatchObject({ code: 'MODEL_BAD_TOKEN', message: err.message });
      expect(await rejected(() => s.evaluate([1, m.nVocab]))).toMatchObject({ code: 'MODEL_BAD_TOKEN' });
      expect(await rejected(() => s.complete([]))).toMatchObject({ code: 'EMPTY_PROMPT' });
      expect(await rejected(() => s.complete(new Array(16).fill(1)))).toMatchObject({ code: 'CONTEXT_LENGTH_EXCEEDED' });
      // Not a token id at all: refused before it reaches the binding (a Uint32Array would wrap it).
      expect(await rejected(() => s.complete([1, -1]))).toBeInstanceOf(RangeError);
    });

    it(`${backend}: usage.cachedTokens is the engine's count`, async () => {
      const m = await model(backend);
      const raw = (m as LlmModel).raw.createSession(64);
      const s = m.createSession({ contextSize: 64 });
      const prompt = m.tokenize('Once upon a time', { addSpecial: true });
      const opts = { temperature: 0, maxTokens: 5 };
      const first = await s.complete(prompt, opts);
      expect(first.usage.cachedTokens).toBe(0);
      // The same prompt: all but its last token, which is evaluated again for its logits.
      expect((await s.complete(prompt, opts)).usage.cachedTokens).toBe(prompt.length - 1);
      // A continuation: the last sampled token was never evaluated, so the cache lacks it.
      const next = [...prompt, ...first.tokens, ...m.tokenize(' and', { addSpecial: false })];
      const cont = await s.complete(next, opts);
      expect(cont.usage.cachedTokens).toBe(prompt.length + first.tokens.length - 1);

      // The raw binding reports the same count from `begin`.
      const params = JSON.stringify({ temperature: 0 });
      expect(await raw.begin(Uint32Array.from(prompt), params)).toEqual({ nPrompt: prompt.length, nReused: 0 });
      for (let i = 0; i < first.tokens.length; i++) await raw.next();
      expect(await raw.begin(Uint32Array.from(next), params)).toEqual({ nPrompt: next.length, nReused: cont.usage.cachedTokens });
      raw.free?.();
    });
  }

  it('a vocab-only model is refused by the engine', async () => {
    const m = await loadModel(join(root!, 'real', 'stories260K.gguf'), { backend: 'wasm', vocabOnly: true });
    expect(thrown(() => m.createSession())).toMatchObject({ code: 'MODEL_NO_WEIGHTS', message: expect.stringMatching(/vocab-only/) });
    expect(await rejected(() => m.perplexity([1, 2, 3]))).toMatchObject({ code: 'MODEL_NO_WEIGHTS' });
  });
});
