// Every GGUF fixture through both backends: same summary field by field, and the values the
// fixture manifests state.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { inspect, GgufError, type Inspection } from '../ts/index.js';
import { fixturesRoot, listFixtures } from './helpers/fixtures.js';

const root = fixturesRoot();
const folders = ['vocab', 'models', 'quants', 'real'];
const files = folders.flatMap((f) => listFixtures(f, 'gguf'));

function withoutBackend(i: Inspection) {
  const { backend: _backend, ...rest } = i;
  return rest;
}

describe.skipIf(root === null)('inspect on every fixture', () => {
  it('finds fixtures in every folder', () => {
    for (const f of folders) expect(listFixtures(f, 'gguf').length, f).toBeGreaterThan(0);
  });

  it.each(files.map((f) => [basename(f), f]))('%s: native and wasm agree', async (_name, file) => {
    const native = await inspect(file, { backend: 'native', tensors: true });
    const wasm = await inspect(file, { backend: 'wasm', tensors: true });
    expect(native.backend).toBe('native');
    expect(wasm.backend).toBe('wasm');
    expect(withoutBackend(wasm)).toEqual(withoutBackend(native));
    // Bytes in memory give the same answer as a mapped path.
    const fromBytes = await inspect(readFileSync(file), { backend: 'native', tensors: true });
    expect(withoutBackend(fromBytes)).toEqual(withoutBackend(native));
  });

  it('vocab files match index.json', async () => {
    const index = JSON.parse(readFileSync(join(root!, 'vocab', 'index.json'), 'utf8')) as {
      included: Record<string, { 'tokenizer.ggml.model': string; 'tokenizer.ggml.pre'?: string; n_tokens: number }>;
    };
    const included = Object.entries(index.included);
    expect(included.length).toBeGreaterThan(0);
    for (const [name, want] of included) {
      for (const backend of ['native', 'wasm'] as const) {
        const got = await inspect(join(root!, 'vocab', name), { backend, tensors: false });
        expect(got.tokenizerModel, name).toBe(want['tokenizer.ggml.model']);
        expect(got.tokenizerPre ?? undefined, name).toBe(want['tokenizer.ggml.pre']);
        expect(got.vocabSize, name).toBe(want.n_tokens);
        expect(got.tensorCount, name).toBe(0);
      }
    }
  });

  it('model files match manifest.json', async () => {
    const manifest = JSON.parse(readFileSync(join(root!, 'models', 'manifest.json'), 'utf8')) as {
      files: Record<
        string,
        { arch: string; bytes: number; n_params: number; tensor_types: Record<string, number>; hparams?: Record<string, unknown>; ftype?: string }
      >;
    };
    const names = Object.keys(manifest.files);
    expect(names.length).toBeGreaterThan(0);
    for (const name of names) {
      const want = manifest.files[name]!;
      const got = await inspect(join(root!, 'models', name), { backend: 'native' });
      expect(got.architecture, name).toBe(want.arch);
      expect(got.fileBytes, name).toBe(want.bytes);
      expect(got.parameterCount, name).toBe(want.n_params);
      expect(Object.fromEntries(got.quantMix.map((q) => [q.type, q.tensors])), name).toEqual(want.tensor_types);
      const hp = want.hparams ?? {};
      // `layers` is block_count; the manifest's n_layer leaves out NextN/MTP blocks.
      const blockCount = hp.block_count_metadata ?? hp.n_layer;
      if (typeof blockCount === 'number') expect(got.layers, name).toBe(blockCount);
      if (typeof hp.n_embd === 'number') expect(got.embeddingLength, name).toBe(hp.n_embd);
    }
  });

  it('quant files hold w in the type they name', async () => {
    for (const file of listFixtures('quants', 'gguf')) {
      const got = await inspect(file, { backend: 'wasm', tensors: true });
      const type = got.metadata['fixture.type'];
      const w = got.tensors!.find((t) => t.name === 'w')!;
      expect(w.type, file).toBe(type);
      expect(w.shape, file).toEqual([got.metadata['fixture.cols'], got.metadata['fixture.rows']]);
    }
  });

  it('stories260K matches its README', async () => {
    const got = await inspect(join(root!, 'real', 'stories260K.gguf'), { backend: 'wasm' });
    // real/README.md: llama, 64 embd, 5 layers, 8 heads, 4 kv heads, 512 vocab, SPM, ctx 512.
    expect(got).toMatchObject({
      architecture: 'llama',
      embeddingLength: 64,
      layers: 5,
      heads: 8,
      headsKv: 4,
      vocabSize: 512,
      tokenizerModel: 'llama',
      contextLength: 512,
      parameterCount: 292_800,
      hasChatTemplate: false,
      // No template and no llama-3 header tokens: the llama-2 [INST] fallback.
      chatTemplate: { name: 'llama2', fallback: true },
    });
    expect(got.tensors!.find((t) => t.name === 'token_embd.weight')!.shape).toEqual([64, 512]);
  });

  it('KV bytes per token: heads for GQA, latents for MLA', async () => {
    const meta = (i: Inspection, k: string) => i.metadata[`${i.architecture}.${k}`] as number;
    for (const backend of ['native', 'wasm'] as const) {
      const s = await inspect(join(root!, 'real', 'stories260K.gguf'), { backend });
      const gqa = s.layers! * meta(s, 'attention.head_count_kv') * 2 * (s.embeddingLength! / meta(s, 'attention.head_count'));
      // Q8_0 needs heads of a multiple of 32; stories260K's are 8 wide.
      expect(s.kvBytesPerToken, backend).toEqual({ f32: 4 * gqa, f16: 2 * gqa });
      const d = await inspect(join(root!, 'models', 'deepseek2.gguf'), { backend });
      const latent = d.layers! * (meta(d, 'attention.kv_lora_rank') + meta(d, 'rope.dimension_count'));
      expect(d.kvBytesPerToken, backend).toEqual({ f32: 4 * latent, f16: 2 * latent });
      expect(d.kvLayers, backend).toEqual([{ kind: 'latent', layers: d.layers, bytesPerToken: d.kvBytesPerToken }]);
      // Mamba-2 keeps no KV: per layer a conv window of d_conv - 1 rows (x, B, C) and a
      // (d_state x d_inner) scan state, f32, whatever the context.
      const u = await inspect(join(root!, 'models', 'mamba2.gguf'), { backend });
      expect(u.kvBytesPerToken, backend).toBeNull();
      expect(u.kvLayers, backend).toBeNull();
      const [conv, inner, state, groups] = ['conv_kernel', 'inner_size', 'state_size', 'group_count'].map((k) => meta(u, `ssm.${k}`));
      expect(u.stateBytesPerSequence, backend).toBe(4 * u.layers! * ((conv! - 1) * (inner! + 2 * groups! * state!) + inner! * state!));
      expect(s.stateBytesPerSequence, backend).toBeNull();
      // Gemma 3: five windowed layers to one global (the file gives the window, llama.cpp the
      // period of 6); the windowed ones hold the window, one 512-token batch and 63 positions
      // of alignment, rounded up to 64.
      const g = await inspect(join(root!, 'models', 'gemma3.gguf'), { backend });
      const w = meta(g, 'attention.sliding_window');
      const nWindowed = g.layers! - Math.floor(g.layers! / 6);
      const kinds = Object.fromEntries(g.kvLayers!.map((k) => [k.kind, k]));
      expect(kinds.window, backend).toMatchObject({ layers: nWindowed, window: w, maxPositions: Math.ceil((w + 512 + 63) / 64) * 64 });
      expect(kinds.full, backend).toMatchObject({ layers: g.layers! - nWindowed });
      // Every layer has the same heads: the windowed ones' share of the bytes is theirs.
      expect(kinds.window!.bytesPerToken.f32, backend).toBe((g.kvBytesPerToken!.f32! * nWindowed) / g.layers!);
      expect(kinds.full!.bytesPerToken.f32! + kinds.window!.bytesPerToken.f32!, backend).toBe(g.kvBytesPerToken!.f32);
    }
  });
});

describe('errors', () => {
  for (const backend of ['native', 'wasm'] as const) {
    it(`${backend}: malformed bytes give a typed GgufError`, async () => {
      const bad = new Uint8Array([0x47, 0x47, 0x55, 0x46, 1, 0, 0, 0]);
      const err = await inspect(bad, { backend }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(GgufError);
      expect((err as GgufError).code).toBe('GGUF_UNSUPPORTED_VERSION');
      expect((err as GgufError).offset).toBe(4);
      const trunc = await inspect(new Uint8Array([0x47, 0x47]), { backend }).catch((e: unknown) => e);
      expect((trunc as GgufError).code).toBe('GGUF_TRUNCATED');
    });
  }
  it('a missing file is a clear error, not a crash', async () => {
    await expect(inspect('/nonexistent/model.gguf', { backend: 'native' })).rejects.toThrow(/nonexistent/);
    await expect(inspect('/nonexistent/model.gguf', { backend: 'wasm' })).rejects.toThrow(/nonexistent|ENOENT/);
  });
});
