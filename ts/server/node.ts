// Node entry: `serve(options)` listens with @hono/node-server; `modelsFromDir` / `modelFromFile`
// turn .gguf files into registry entries (id = file name without `.gguf`).
import { serve as honoServe } from '@hono/node-server';
import { readdir, stat } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { basename, join } from 'node:path';
import type { LoadModelOptions } from '../types.js';
import { createApp, type AppOptions } from './app.js';
import type { LoadModelFn } from './load.js';
import { toRegistry, type ModelEntryOptions, type ModelRegistry } from './registry.js';

export interface ServeOptions extends AppOptions {
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1 (use 0.0.0.0 to listen on every interface). */
  hostname?: string;
}

export interface RunningServer {
  url: string;
  port: number;
  registry: ModelRegistry;
  /** Stops listening, drops open connections (aborting their generations) and unloads models. */
  close(): Promise<void>;
  /**
   * Graceful shutdown (SIGTERM): new requests get 503 `server_closing`, those in flight finish
   * until `deadlineMs` has passed, then `close()`. Resolves with how many were cut off.
   */
  drain(deadlineMs: number): Promise<number>;
}

export function serve(options: ServeOptions): Promise<RunningServer> {
  const registry = toRegistry(options.models, options);
  const app = createApp({ ...options, models: registry });
  // Requests inside the app's handler (body read, template, queue) that may not hold a model
  // yet; a held model (registry.inFlight) covers the rest, to the end of a stream.
  let handling = 0;
  const fetch = async (req: Request, ...rest: unknown[]) => {
    handling++;
    try {
      return await app.fetch(req, ...(rest as []));
    } finally {
      handling--;
    }
  };
  return new Promise((resolve, reject) => {
    const server = honoServe({ fetch, port: options.port ?? 8080, hostname: options.hostname ?? '127.0.0.1' }, (info: AddressInfo) => {
      server.off('error', reject);
      const host = info.family === 'IPv6' ? `[${info.address}]` : info.address;
      const close = async () => {
        await new Promise<void>((done) => {
          server.close(() => done());
          (server as { closeAllConnections?: () => void }).closeAllConnections?.();
        });
        await registry.close();
      };
      resolve({
        url: `http://${host}:${info.port}`,
        port: info.port,
        registry,
        close,
        drain: async (deadlineMs) => {
          const until = Date.now() + deadlineMs;
          await registry.close(); // refuses new requests; running ones go on
          (server as { closeIdleConnections?: () => void }).closeIdleConnections?.();
          const busy = () => registry.inFlight + handling;
          while (busy() > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
          const cut = busy();
          await close();
          return cut;
        },
      });
    });
    server.once('error', reject);
  });
}

/** One file, loaded at startup (so /health reports `loading` until it is ready). */
export function modelFromFile(path: string, loadModel: LoadModelFn, loadOptions?: LoadModelOptions): ModelEntryOptions {
  return { id: basename(path).replace(/\.gguf$/i, ''), load: () => loadModel(path, loadOptions), preload: true };
}

/** Every `*.gguf` directly in `dir`, loaded on first use. */
export async function modelsFromDir(dir: string, loadModel: LoadModelFn, loadOptions?: LoadModelOptions): Promise<ModelEntryOptions[]> {
  const names = (await readdir(dir)).filter((n) => /\.gguf$/i.test(n)).sort();
  const entries: ModelEntryOptions[] = [];
  for (const name of names) {
    const path = join(dir, name);
    const st = await stat(path);
    if (!st.isFile()) continue;
    entries.push({ id: name.replace(/\.gguf$/i, ''), load: () => loadModel(path, loadOptions), created: Math.floor(st.mtimeMs / 1000) });
  }
  if (entries.length === 0) throw new Error(`no .gguf files in ${dir}`);
  return entries;
}
