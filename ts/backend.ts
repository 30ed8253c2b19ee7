// Chooses and loads a backend: the native addon when its binary loads, else WASM.
// `LLMPLAYER_BACKEND=native|wasm` (or the `backend` option) forces one.
import { fromBackendError } from './errors.js';
import type { BatchStats, DeviceInfo, DeviceList, OffloadInfo } from './types.js';

export type BackendName = 'native' | 'wasm';

export interface InspectFlags {
  fullArrays?: boolean;
  tensors?: boolean;
}

/**
 * A loaded model as either binding exposes it (`NativeModel` / `WasmModel`): the same method
 * names, so the SDK's Model wraps both. Ids cross as Uint32Array, text as UTF-8 bytes.
 */
export interface RawModel {
  infoJson(): string;
  /** What `gpuLayers` got (native only; null/absent when none were asked for). */
  readonly offload?: OffloadInfo | null;
  chatTemplate(): string | null | undefined;
  hasWeights(): boolean;
  nVocab(): number;
  bos(): number | null | undefined;
  eos(): number | null | undefined;
  eogIds(): Uint32Array;
  tokenize(text: string, addSpecial: boolean, parseSpecial: boolean): Uint32Array;
  /** Control tokens parsed except where they overlap `plain` (flat UTF-8 byte ranges). */
  tokenizeWithPlain(text: string, addSpecial: boolean, plain: Uint32Array): Uint32Array;
  detokenize(ids: Uint32Array, special: boolean): Uint8Array;
  tokenPiece(id: number, special: boolean): Uint8Array;
  nCtxTrain(): number | null | undefined;
  /** `kvType`: the SDK's string, passed through (the core validates it); absent: the model's default. */
  createSession(nCtx: number, kvType?: string | null): RawSession;
  perplexity(tokens: Uint32Array, nCtx: number | undefined | null, kvType?: string | null): PerplexityResult | Promise<PerplexityResult>;
  /** Pooled, not normalized; `pooling` passed through (the core validates it), null: the model's. */
  embed(tokens: Uint32Array, pooling: string | null | undefined, nCtx: number): Float32Array | Promise<Float32Array>;
  /** Compiles a grammar (the `grammar` option as JSON) and drops it; throws GRAMMAR_*. */
  checkGrammar(grammarJson: string): void;
  createBatcher(nSeq: number, nCtx: number, kvSize?: number | null, kvType?: string | null, nBatch?: number | null): RawBatcher;
  free?(): void;
}

/** The continuous-batching scheduler of either binding (`NativeBatcher` / `WasmBatcher`). */
export interface RawBatcher {
  /** Checks and queues a request; returns its id. */
  add(tokens: Uint32Array, paramsJson: string, maxTokens: number): number;
  /** Ends a request (queued or running) at the next step. */
  finish(id: number): void;
  /** One forward pass over every running request (native: on the libuv pool). */
  step(): RawBatchEvent[] | Promise<RawBatchEvent[]>;
  stats(): BatchStats;
  free?(): void;
}

export interface RawBatchEvent {
  id: number;
  /** `error`: the request's grammar failed (`code`, `message`); the request is gone. */
  kind: 'started' | 'token' | 'full' | 'error';
  token?: number | null;
  logprob?: number | null;
  topLogprobs?: { id: number; logprob: number }[] | null;
  nPrompt?: number | null;
  nReused?: number | null;
  code?: string | null;
  message?: string | null;
}

/**
 * One sequence of either binding. Native methods resolve on the libuv pool (promises); WASM
 * ones return synchronously. Sampling parameters cross as the SDK's JSON.
 */
export interface RawSession {
  evaluate(tokens: Uint32Array, allLogits: boolean): Float32Array | Promise<Float32Array>;
  /** Evaluates the prompt, prepares sampling; says how many prompt tokens the cache held. */
  begin(tokens: Uint32Array, paramsJson: string): PromptStats | Promise<PromptStats>;
  /** Samples the next token (evaluating the previous one first). */
  next(): number | Promise<number>;
  /** `next()` with the logprobs `begin`'s params asked for (`logprob` absent otherwise). */
  nextStep(): RawStep | Promise<RawStep>;
  nCtx(): number;
  kvType(): string;
  kvBytesPerToken(): number;
  nPast(): number;
  /** Prompt tokens `begin` would take from the cache (as far as the memory can return). */
  reusable(tokens: Uint32Array): number;
  clear(): void;
  free?(): void;
}

/** What `begin` did with the prompt (`NativePromptStats` / `WasmSession.begin`). */
export interface PromptStats {
  nPrompt: number;
  /** Prompt tokens the engine kept from the cache (at most `nPrompt - 1`). */
  nReused: number;
}

/** A sampling step as both bindings return it (`NativeStep` / `WasmSession.nextStep`). */
export interface RawStep {
  token: number;
  logprob?: number | null;
  topLogprobs: { id: number; logprob: number }[];
}

export interface PerplexityResult {
  ppl: number;
  /** Mean negative log-likelihood (nats). */
  nll: number;
  nPredictions: number;
}

export interface RawLoadOptions {
  threads?: number;
  vocabOnly?: boolean;
  /** Default KV cache type of sessions (validated by the core at load). */
  kvType?: string;
  flashAttn?: boolean;
  /** Validated by the core at load. */
  rounding?: string;
  /** Layers whose products run on the OpenCL device (native only; 2^32-1: all). */
  gpuLayers?: number;
  /** The OpenCL device (index or part of its name). */
  device?: string;
}

/** What every backend offers; both return the core's JSON so results agree field by field. */
export interface Backend {
  readonly name: BackendName;
  inspectPath(path: string, flags: InspectFlags): Promise<string>;
  inspectBytes(bytes: Uint8Array, flags: InspectFlags): string;
  loadModel(source: string | Uint8Array, options: RawLoadOptions): Promise<RawModel>;
  /** The OpenCL devices (native only: WASM has none). */
  listDevices?(): DeviceList;
}

interface NativeBinding {
  /** Absent from an addon built before OpenCL support. */
  listDevices?(): { available: boolean; reason?: string | null; devices: DeviceInfo[] };
  inspectFile(path: string, options?: InspectFlags): string;
  inspectBytes(bytes: Uint8Array, options?: InspectFlags): string;
  loadModelFile(path: string, options?: RawLoadOptions): Promise<RawModel>;
  loadModelBytes(bytes: Uint8Array, options?: RawLoadOptions): Promise<RawModel>;
}

interface WasmModule {
  initSync(arg: { module: BufferSource | WebAssembly.Module }): unknown;
  inspectBytes(bytes: Uint8Array, fullArrays: boolean, tensors: boolean): string;
  simdEnabled(): boolean;
  WasmModel: new (
    bytes: Uint8Array,
    vocabOnly: boolean,
    kvType?: string | null,
    flashAttn?: boolean | null,
    rounding?: string | null,
  ) => RawModel;
}

const cache = new Map<BackendName, Promise<Backend>>();

function wrap<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw fromBackendError(err);
  }
}

/**
 * A Node built-in, imported by a computed specifier: bundlers for edge runtimes (esbuild,
 * wrangler) then neither try to resolve nor inline it, and only the Node code paths (the native
 * addon, reading a file path or the bundled .wasm from disk) ever call it.
 */
function nodeBuiltin<T>(name: 'module' | 'fs/promises'): Promise<T> {
  const specifier = `node:${name}`;
  return import(specifier) as Promise<T>;
}

type FsPromises = typeof import('node:fs/promises');

async function loadNative(): Promise<Backend> {
  const { createRequire } = await nodeBuiltin<typeof import('node:module')>('module');
  const require = createRequire(import.meta.url);
  const binding = require('../native/index.cjs') as NativeBinding;
  return {
    name: 'native',
    inspectPath: async (path, flags) => wrap(() => binding.inspectFile(path, flags)),
    inspectBytes: (bytes, flags) => wrap(() => binding.inspectBytes(bytes, flags)),
    listDevices: binding.listDevices
      ? () => {
          const r = binding.listDevices!();
          return r.available
            ? { available: true, devices: r.devices }
            : { available: false, reason: r.reason ?? 'OpenCL unavailable', devices: [] };
        }
      : undefined,
    loadModel: async (source, options) => {
      try {
        return await (typeof source === 'string'
          ? binding.loadModelFile(source, options)
          : binding.loadModelBytes(source, options));
      } catch (err) {
        throw fromBackendError(err);
      }
    },
  };
}

let wasmModuleSource: (() => Promise<BufferSource | WebAssembly.Module>) | undefined;

/** Supplies the compiled .wasm where the file system cannot (edge runtimes import it as a module). */
export function setWasmModule(source: BufferSource | WebAssembly.Module): void {
  wasmModuleSource = async () => source;
  cache.delete('wasm');
}

async function loadWasm(): Promise<Backend> {
  // @ts-ignore -- generated at build time by scripts/build-wasm.sh; typed by WasmModule above
  const mod = (await import('../wasm/llmplayer_wasm.js')) as unknown as WasmModule;
  const source = wasmModuleSource
    ? await wasmModuleSource()
    : await (async () => {
        const { readFile } = await nodeBuiltin<FsPromises>('fs/promises');
        return readFile(new URL('../wasm/llmplayer_wasm_bg.wasm', import.meta.url));
      })();
  mod.initSync({ module: source });
  const readPath = async (path: string) => {
    const { readFile } = await nodeBuiltin<FsPromises>('fs/promises');
    return new Uint8Array(await readFile(path));
  };
  return {
    name: 'wasm',
    inspectPath: async (path, flags) => {
      const bytes = await readPath(path);
      return wrap(() => mod.inspectBytes(bytes, !!flags.fullArrays, !!flags.tensors));
    },
    inspectBytes: (bytes, flags) => wrap(() => mod.inspectBytes(bytes, !!flags.fullArrays, !!flags.tensors)),
    loadModel: async (source, options) => {
      const bytes = typeof source === 'string' ? await readPath(source) : source;
      return wrap(() => new mod.WasmModel(bytes, !!options.vocabOnly, options.kvType, options.flashAttn, options.rounding));
    },
  };
}

function envBackend(): BackendName | undefined {
  const v = typeof process !== 'undefined' ? process.env?.LLMPLAYER_BACKEND : undefined;
  if (v === undefined || v === '' || v === 'auto') return undefined;
  if (v === 'native' || v === 'wasm') return v;
  throw new Error(`LLMPLAYER_BACKEND must be "native" or "wasm", got "${v}"`);
}

/** Loads the requested backend, or native-then-WASM when none is requested. */
export async function getBackend(requested?: BackendName | 'auto'): Promise<Backend> {
  const want = requested && requested !== 'auto' ? requested : envBackend();
  const load = (name: BackendName) => {
    let p = cache.get(name);
    if (!p) {
      p = name === 'native' ? loadNative() : loadWasm();
      p.catch(() => cache.delete(name));
      cache.set(name, p);
    }
    return p;
  };
  if (want) return load(want);
  try {
    return await load('native');
  } catch {
    return load('wasm');
  }
}
