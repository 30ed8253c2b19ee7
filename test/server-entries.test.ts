// The runtime entries that can run under Node: the Node helpers (model directory, one file) and
// the workerd handler with a loadModel-shaped fake. Bun/Deno entries only check their runtime here.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { serve as serveBun } from '../ts/server/bun.js';
import { serve as serveDeno } from '../ts/server/deno.js';
import { modelFromFile, modelsFromDir, serve } from '../ts/server/node.js';
import { createWorkerHandler } from '../ts/server/worker.js';
import type { LoadModelOptions } from '../ts/types.js';
import { FakeModel } from './helpers/fake-model.js';

type Json = Record<string, any>;
const chat = (model: string) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], temperature: 0 }),
});

describe('server entries', () => {
  const dir = mkdtempSync(join(tmpdir(), 'llmplayer-server-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('node: serves a directory of .gguf files, loading each on first use', async () => {
    for (const name of ['b.gguf', 'a.GGUF', 'notes.txt']) writeFileSync(join(dir, name), 'x');
    const loads: Array<{ path: string | Uint8Array; options?: LoadModelOptions }> = [];
    const loadModel = async (path: string | Uint8Array, options?: LoadModelOptions) => {
      loads.push({ path, options });
      return new FakeModel();
    };
    const server = await serve({ models: await modelsFromDir(dir, loadModel, { threads: 2 }), port: 0 });
    try {
      const list = (await (await fetch(`${server.url}/v1/models`)).json()) as Json;
      expect(list.data.map((m: Json) => [m.id, m.status])).toEqual([
        ['a', 'unloaded'],
        ['b', 'unloaded'],
      ]);
      expect(list.data[0].created).toBeGreaterThan(1_600_000_000);
      const res = await fetch(`${server.url}/v1/chat/completions`, chat('b'));
      expect(((await res.json()) as Json).choices[0].message.content).toBe('echo: hi');
      expect(loads).toEqual([{ path: join(dir, 'b.gguf'), options: { threads: 2 } }]);
    } finally {
      await server.close();
    }
    await expect(modelsFromDir(mkdtempSync(join(tmpdir(), 'llmplayer-empty-')), loadModel)).rejects.toThrow(/no \.gguf files/);
  });

  it('node: one file is loaded at startup; /health says loading until it is ready', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const entry = modelFromFile('/models/Tiny-Q4_0.gguf', async () => {
      await gate;
      return new FakeModel();
    });
    expect(entry.id).toBe('Tiny-Q4_0');
    const server = await serve({ models: [entry], port: 0 });
    try {
      expect((await fetch(`${server.url}/health`)).status).toBe(503);
      release();
      const res = await fetch(`${server.url}/v1/chat/completions`, chat('anything'));
      expect(res.status).toBe(200);
      expect(((await (await fetch(`${server.url}/health`)).json()) as Json).status).toBe('ready');
    } finally {
      await server.close();
    }
  });

  it('node: a busy port rejects', async () => {
    const a = await serve({ models: new FakeModel(), port: 0 });
    try {
      await expect(serve({ models: new FakeModel(), port: a.port })).rejects.toThrow(/EADDRINUSE/);
    } finally {
      await a.close();
    }
  });

  it('worker: loads the model from env bytes with the WASM backend, once per isolate', async () => {
    const calls: Array<{ bytes: unknown; options?: LoadModelOptions }> = [];
    const handler = createWorkerHandler<{ MODEL: ArrayBuffer }>({
      wasmModule: new Uint8Array(0),
      id: 'edge',
      loadModel: async (bytes, options) => {
        calls.push({ bytes, options });
        return new FakeModel();
      },
      loadOptions: { contextSize: 512 },
      modelBytes: (env) => env.MODEL,
    });
    const env = { MODEL: new Uint8Array([1, 2, 3]).buffer };
    const res = await handler.fetch(new Request('http://worker/v1/chat/completions', chat('edge')), env);
    expect(((await res.json()) as Json).choices[0].message.content).toBe('echo: hi');
    const models = (await (await handler.fetch(new Request('http://worker/v1/models'), env)).json()) as Json;
    expect(models.data[0].id).toBe('edge');
    expect(calls).toHaveLength(1);
    expect(calls[0]!.bytes).toEqual(new Uint8Array([1, 2, 3]));
    expect(calls[0]!.options).toEqual({ contextSize: 512, backend: 'wasm' });
  });

  it('worker: a failed model fetch shows in /health and as a 500', async () => {
    const handler = createWorkerHandler({
      wasmModule: new Uint8Array(0),
      loadModel: async () => new FakeModel(),
      modelUrl: 'http://127.0.0.1:1/missing.gguf',
    });
    const res = await handler.fetch(new Request('http://worker/v1/chat/completions', chat('x')), {});
    expect(res.status).toBe(500);
    expect(((await res.json()) as Json).error.code).toBe('model_load_failed');
    expect((await handler.fetch(new Request('http://worker/health'), {})).status).toBe(503);
  });

  it('bun / deno entries refuse to run elsewhere', () => {
    expect(() => serveBun({ models: new FakeModel() })).toThrow(/Bun runtime/);
    expect(() => serveDeno({ models: new FakeModel() })).toThrow(/Deno runtime/);
  });
});
