// workerd (Cloudflare Workers) entry: the WASM backend, the GGUF from a binding, an asset or a
// URL, loaded on the first request of an isolate and kept for its lifetime.
//
//   import wasmModule from 'llmplayer/wasm/llmplayer_wasm_bg.wasm';
//   import { loadModel } from 'llmplayer';
//   export default createWorkerHandler({
//     wasmModule, loadModel,
//     modelBytes: async (env) => (await env.MODELS.get('tiny.gguf'))!.arrayBuffer(),
//   });
import { setWasmModule } from '../backend.js';
import type { LoadModelOptions } from '../types.js';
import { createApp, type AppOptions } from './app.js';
import type { LoadModelFn } from './load.js';
import { ModelRegistry } from './registry.js';

type Bytes = Uint8Array | ArrayBuffer;

export interface WorkerHandlerOptions<Env> extends Omit<AppOptions, 'models'> {
  /** The compiled `llmplayer_wasm_bg.wasm` (workerd imports .wasm files as WebAssembly.Module). */
  wasmModule: WebAssembly.Module | BufferSource;
  /** The SDK's `loadModel` (from 'llmplayer'), or anything of its shape. */
  loadModel: LoadModelFn;
  loadOptions?: LoadModelOptions;
  /** The id clients see (default 'model'; with one model any requested name is accepted). */
  id?: string;
  /** The GGUF: bytes, or a function of the Worker's env (R2, KV, an asset fetch …). */
  modelBytes?: Bytes | ((env: Env) => Bytes | Promise<Bytes>);
  /** Or where to fetch it from (a string, or a function of env). */
  modelUrl?: string | ((env: Env) => string);
}

export interface WorkerHandler<Env> {
  fetch(request: Request, env: Env, ctx?: unknown): Promise<Response>;
}

/** Reads the model's bytes per the options (exported for tests). */
export async function readModelBytes<Env>(options: Pick<WorkerHandlerOptions<Env>, 'modelBytes' | 'modelUrl'>, env: Env): Promise<Uint8Array> {
  let bytes: Bytes;
  if (options.modelBytes !== undefined) {
    bytes = typeof options.modelBytes === 'function' ? await options.modelBytes(env) : options.modelBytes;
  } else if (options.modelUrl !== undefined) {
    const url = typeof options.modelUrl === 'function' ? options.modelUrl(env) : options.modelUrl;
    const res = await fetch(url);
    if (!res.ok) throw new Error(`fetching the model from ${url} failed: HTTP ${res.status}`);
    bytes = await res.arrayBuffer();
  } else {
    throw new Error('createWorkerHandler: pass modelBytes or modelUrl');
  }
  return bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
}

export function createWorkerHandler<Env = unknown>(options: WorkerHandlerOptions<Env>): WorkerHandler<Env> {
  let app: ReturnType<typeof createApp> | undefined;
  return {
    fetch(request, env) {
      if (!app) {
        setWasmModule(options.wasmModule);
        const registry = new ModelRegistry(
          [
            {
              id: options.id ?? 'model',
              load: async () => options.loadModel(await readModelBytes(options, env), { ...options.loadOptions, backend: 'wasm' }),
              preload: true,
            },
          ],
          options,
        );
        app = createApp({ ...options, models: registry });
      }
      return Promise.resolve(app.fetch(request));
    },
  };
}
