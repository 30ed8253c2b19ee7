// KV cache types: the SDK's `kvType` (load and session options) on both backends, the engine's
// validation (LlmError MODEL_KV_TYPE_UNSUPPORTED), `session.kvBytesPerToken`, and the CLI's and
// server's `--kv-type`. Logit bounds as in crates/llmplayer-core/tests/kv_cache.rs (measured
// worst differences with ~3x headroom: f16 2.3e-2, q8_0 0.27).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadModel, LlmError, type KvType } from '../ts/index.js';
import { createApp } from '../ts/server/index.js';
import { FakeModel, type FakeSession } from './helpers/fake-model.js';
import { fixturesRoot } from './helpers/fixtures.js';
import { post } from './helpers/server.js';

const repo = fileURLToPath(new URL('..', import.meta.url));
const cli = `${repo}dist/cli.js`;
/** The embedded demo model: 5 layers, 4 KV heads of 8 (so q8_0 is refused). */
const STORIES = join(repo, 'models/stories260K.gguf');
const root = fixturesRoot();

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);

async function rejection(p: Promise<unknown> | (() => unknown)): Promise<LlmError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    return err as LlmError;
  }
  throw new Error('expected an error');
}

for (const backend of ['native', 'wasm'] as const) {
  describe(`kvType (${backend})`, () => {
    it('stories260K: f32 by default, f16 on request, per-token bytes, q8_0 and unknown names refused', async () => {
      const model = await loadModel(STORIES, { backend, threads: 2 });
      const s32 = model.createSession({ contextSize: 64 });
      expect(s32.kvType).toBe('f32');
      // 5 layers x (K + V) x 4 heads x 8 = 320 values per position.
      expect(s32.kvBytesPerToken).toBe(320 * 4);
      const s16 = model.createSession({ contextSize: 64, kvType: 'f16' });
      expect(s16.kvType).toBe('f16');
      expect(s16.kvBytesPerToken).toBe(320 * 2);
      const ids = model.tokenize('Once upon a time, there was a little girl');
      const a = await s32.evaluate(ids, { allLogits: true });
      const b = await s16.evaluate(ids, { allLogits: true });
      const d = maxDiff(a, b);
      expect(d).toBeGreaterThan(0);
      expect(d).toBeLessThan(0.06);

      for (const bad of ['q8_0', 'q4_0', 'F16']) {
        const err = await rejection(() => model.createSession({ kvType: bad as KvType }));
        expect(err).toBeInstanceOf(LlmError);
        expect(err.code).toBe('MODEL_KV_TYPE_UNSUPPORTED');
        expect(err.message).toMatch(bad === 'q8_0' ? /multiples of 32/ : /f32, f16, q8_0/);
      }
      const perr = await rejection(model.perplexity(ids, { kvType: 'bf16' as KvType }));
      expect(perr.code).toBe('MODEL_KV_TYPE_UNSUPPORTED');
      model.dispose();

      // The load option: the default of every session, validated against the model at load.
      const m16 = await loadModel(STORIES, { backend, threads: 2, kvType: 'f16' });
      const s = m16.createSession({ contextSize: 64 });
      expect(s.kvType).toBe('f16');
      expect(await s.evaluate(ids, { allLogits: true })).toEqual(b);
      expect(m16.createSession({ contextSize: 64, kvType: 'f32' }).kvType).toBe('f32');
      m16.dispose();
      for (const bad of ['q8_0', 'fp8']) {
        const err = await rejection(loadModel(STORIES, { backend, kvType: bad as KvType }));
        expect(err.code).toBe('MODEL_KV_TYPE_UNSUPPORTED');
      }
      // Vocab-only loads have no heads: only the name is checked.
      expect((await loadModel(STORIES, { backend, vocabOnly: true, kvType: 'q8_0' })).vocabOnly).toBe(true);
    });

    it.skipIf(root === null)('qwen3 fixture: f16 and q8_0 close to f32, generation works', async () => {
      const model = await loadModel(join(root!, 'models/qwen3.gguf'), { backend, threads: 2 });
      const ids = Array.from({ length: 60 }, (_, i) => (i * 7919 + 3) % model.nVocab);
      const logits = async (kvType: KvType) => model.createSession({ contextSize: 128, kvType }).evaluate(ids, { allLogits: true });
      const f32 = await logits('f32');
      const d16 = maxDiff(await logits('f16'), f32);
      const d8 = maxDiff(await logits('q8_0'), f32);
      expect(d16).toBeGreaterThan(0);
      expect(d16).toBeLessThan(0.06);
      expect(d8).toBeGreaterThan(d16); // 8-bit blocks round far more coarsely than f16
      expect(d8).toBeLessThan(0.8);
      // 3 layers x (K + V) x 2 heads x 64 = 768 values per position.
      const q8 = model.createSession({ contextSize: 128, kvType: 'q8_0' });
      expect(q8.kvBytesPerToken).toBe((768 / 32) * 34);
      const r = await q8.complete(ids.slice(0, 8), { maxTokens: 6, temperature: 0 });
      expect(r.tokens).toHaveLength(6);
      model.dispose();
    });
  });
}

describe('kvType in the server', () => {
  it('sessions of the pool use the kvType option (per model overrides the app)', async () => {
    const a = new FakeModel();
    const b = new FakeModel({ name: 'other' });
    const app = createApp({ models: [{ id: 'a', model: a }, { id: 'b', model: b, kvType: 'q8_0' }], kvType: 'f16' });
    const chat = (model: string) => ({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
    expect((await post(app, '/v1/chat/completions', chat('a'))).status).toBe(200);
    expect((await post(app, '/v1/chat/completions', chat('b'))).status).toBe(200);
    expect((a.sessions[0] as FakeSession).kvType).toBe('f16');
    expect((b.sessions[0] as FakeSession).kvType).toBe('q8_0');
  });
});

describe.skipIf(!existsSync(cli))('--kv-type in the CLI (dist/cli.js)', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { cwd: repo, encoding: 'utf8', timeout: 60_000 });

  it('is in --help', () => {
    const r = run('--help');
    expect(r.stdout).toMatch(/--kv-type T\s+KV cache type/);
    expect(r.stdout).toMatch(/serve \[.*\n.*--kv-type T/);
  });

  it('run reports the cache type and bytes per token; a bad type fails with the engine code', () => {
    const r = run('run', '-p', 'Once upon a time', '-n', '4', '--temp', '0', '--kv-type', 'f16');
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('kv f16: 640 B/token');
    const bad = run('run', '-p', 'Once', '-n', '1', '--kv-type', 'q8_0');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/KV cache type "q8_0": head sizes 8 \(K\) and 8 \(V\) must be multiples of 32/);
  });

  it.skipIf(root === null)('perplexity takes --kv-type', () => {
    const real = join(root!, 'real');
    const r = run('perplexity', '-m', join(real, 'stories260K.gguf'), '-f', join(real, 'story.txt'), '--ctx', '128', '--kv-type', 'f16');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^perplexity: 2\.62\d\d over 252 predictions.*kv f16\]/);
  });

  it('serve --kv-type: the model loads with it; an unusable type is reported and /health says error', async () => {
    const { spawn } = await import('node:child_process');
    const start = (kv: string) => {
      const child = spawn(process.execPath, [cli, 'serve', '--port', '0', '--kv-type', kv], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const url = new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /at (http:\/\/127\.0\.0\.1:\d+)\/v1/.exec(out);
          if (m) resolve(m[1]!);
        });
        child.once('exit', () => reject(new Error(`exited: ${err}`)));
      });
      return { child, url, stderr: () => err };
    };
    const ok = start('f16');
    try {
      const url = await ok.url;
      const body = { messages: [{ role: 'user', content: 'Once upon a time' }], temperature: 0, max_tokens: 8 };
      const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect(res.status).toBe(200);
    } finally {
      ok.child.kill('SIGTERM');
    }
    const bad = start('q8_0');
    try {
      const url = await bad.url;
      let health: { status: string; models: { error?: string }[] } = { status: 'loading', models: [] };
      for (let i = 0; i < 100 && health.status === 'loading'; i++) {
        health = (await (await fetch(`${url}/health`)).json()) as typeof health;
        if (health.status === 'loading') await new Promise((r) => setTimeout(r, 50));
      }
      expect(health.status).toBe('error');
      expect(health.models[0]!.error).toMatch(/KV cache type "q8_0"/);
      expect(bad.stderr()).toMatch(/failed to load .*stories260K\.gguf: .*\(MODEL_KV_TYPE_UNSUPPORTED\)/);
    } finally {
      bad.child.kill('SIGTERM');
    }
  });
});
