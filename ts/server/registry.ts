// The models a server offers: one model, or many (the Node entry lists a directory of .gguf
// files). Entries load lazily on first use (or at startup with `preload`), report a status for
// /health and /v1/models, and each loaded model gets its SessionPool (see queue.ts).
import type { KvType, Model } from '../types.js';
import { ApiError, invalidRequest, modelNotFound } from './errors.js';
import { BatchPool } from './batch-pool.js';
import { SessionPool, type GenerationPool, type SessionPoolOptions } from './queue.js';

export type ModelStatus = 'unloaded' | 'loading' | 'ready' | 'error';

export interface ModelEntryOptions {
  /** The id clients send as `model` (the Node entry uses the file name without `.gguf`). */
  id: string;
  /** A loaded model, or one loading. The caller owns it: the server never disposes it. */
  model?: Model | Promise<Model>;
  /** Loads the model on first use. The server owns the result (disposed on close or eviction). */
  load?: () => Promise<Model>;
  /** Start `load` at startup instead of on the first request. Default false. */
  preload?: boolean;
  /** Unix seconds for the `created` field of /v1/models (default: when the registry was made). */
  created?: number;
  /** Per-model overrides of the registry's pool options. */
  parallel?: number;
  contextSize?: number;
  kvType?: KvType;
  kvSize?: number;
}

export interface RegistryOptions extends SessionPoolOptions {
  /**
   * KV cache positions each model's sequences share (continuous batching). Default
   * `contextSize * parallel`.
   */
  kvSize?: number;
  /**
   * Most models loaded at once (entries with `load` only). Loading one more first unloads the
   * least recently used idle one; when none is idle the limit is exceeded rather than waited on.
   * Default: unlimited.
   */
  maxLoaded?: number;
}

/** A model in use by one request; `release()` when the response is done. */
export interface ModelHandle {
  readonly id: string;
  readonly model: Model;
  readonly pool: GenerationPool;
  release(): void;
}

export interface ModelInfo {
  id: string;
  created: number;
  status: ModelStatus;
  error?: string;
}

export interface Health {
  status: 'loading' | 'ready' | 'error';
  models: ModelInfo[];
}

interface Entry {
  readonly options: ModelEntryOptions;
  readonly created: number;
  /** Loaded at startup: its state is the server's /health. */
  readonly startup: boolean;
  status: ModelStatus;
  error: unknown;
  model: Model | null;
  pool: GenerationPool | null;
  loading: Promise<void> | null;
  inUse: number;
  lastUsed: number;
}

function isModel(x: unknown): x is Model {
  return typeof x === 'object' && x !== null && typeof (x as Model).createSession === 'function';
}

function isThenable(x: unknown): x is Promise<unknown> {
  return typeof x === 'object' && x !== null && typeof (x as Promise<unknown>).then === 'function';
}

/** `Qwen3 0.6B Instruct` → `qwen3-0.6b-instruct`; 'model' when there is no name. */
export function defaultModelId(model: Model | null): string {
  const name = model?.info?.name ?? '';
  const slug = name.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '');
  return slug || 'model';
}

export class ModelRegistry {
  private readonly entries = new Map<string, Entry>();
  private clock = 0;
  private closed = false;

  constructor(
    entries: ModelEntryOptions[],
    private readonly options: RegistryOptions = {},
  ) {
    if (entries.length === 0) throw new Error('llmplayer server: no models to serve');
    const now = Math.floor(Date.now() / 1000);
    for (const o of entries) {
      if (this.entries.has(o.id)) throw new Error(`llmplayer server: duplicate model id '${o.id}'`);
      if (!o.model && !o.load) throw new Error(`llmplayer server: model '${o.id}' has neither \`model\` nor \`load\``);
      const e: Entry = {
        options: o,
        created: o.created ?? now,
        startup: !!o.model || !!o.preload,
        status: 'unloaded',
        error: null,
        model: null,
        pool: null,
        loading: null,
        inUse: 0,
        lastUsed: 0,
      };
      this.entries.set(o.id, e);
      if (isModel(o.model)) this.ready(e, o.model);
      else if (e.startup) this.startLoad(e);
    }
  }

  get size(): number {
    return this.entries.size;
  }

  list(): ModelInfo[] {
    return [...this.entries.entries()].map(([id, e]) => {
      const info: ModelInfo = { id, created: e.created, status: e.status };
      if (e.status === 'error') info.error = errorMessage(e.error);
      return info;
    });
  }

  get(id: string): ModelInfo | undefined {
    return this.list().find((m) => m.id === id);
  }

  health(): Health {
    const startup = [...this.entries.values()].filter((e) => e.startup);
    const status = startup.some((e) => e.status === 'loading' || e.status === 'unloaded')
      ? 'loading'
      : startup.some((e) => e.status === 'error')
        ? 'error'
        : 'ready';
    return { status, models: this.list() };
  }

  /**
   * The entry a request's `model` names. With one model served, any name (or none) selects it,
   * as llama-server does; otherwise the id must match (a trailing `.gguf` is tolerated).
   */
  resolve(requested: string | undefined): string {
    if (this.entries.size === 1) return this.entries.keys().next().value as string;
    if (requested === undefined) {
      throw invalidRequest(
        `Missing required parameter: 'model' (this server has ${this.entries.size} models; GET /v1/models lists them).`,
        'model',
        'missing_required_parameter',
      );
    }
    if (this.entries.has(requested)) return requested;
    const bare = requested.replace(/\.gguf$/i, '');
    if (this.entries.has(bare)) return bare;
    throw modelNotFound(requested.slice(0, 200));
  }

  /** Loads the model if needed (waiting for it) and pins it until `release()`. */
  async use(requested: string | undefined, signal?: AbortSignal): Promise<ModelHandle> {
    const id = this.resolve(requested);
    const e = this.entries.get(id)!;
    e.inUse++; // pinned from here on: eviction skips it
    try {
      if (this.closed) throw new ApiError(503, 'The server is shutting down.', 'server_error', null, 'server_closing');
      if (e.status === 'unloaded' || (e.status === 'error' && e.options.load)) this.startLoad(e);
      if (e.status === 'loading') await abortable(e.loading!, signal);
      if (e.status !== 'ready' || !e.model || !e.pool) {
        throw new ApiError(500, `The model '${id}' failed to load: ${errorMessage(e.error)}`, 'server_error', 'model', 'model_load_failed');
      }
    } catch (err) {
      this.unpin(e);
      throw err;
    }
    const { model, pool } = e;
    let released = false;
    return {
      id,
      model,
      pool,
      release: () => {
        if (released) return;
        released = true;
        this.unpin(e);
      },
    };
  }

  private unpin(e: Entry): void {
    e.inUse--;
    e.lastUsed = ++this.clock;
    if (this.closed && e.inUse === 0) this.unload(e);
  }

  private ready(e: Entry, model: Model): void {
    e.model = model;
    const options = {
      parallel: e.options.parallel ?? this.options.parallel,
      contextSize: e.options.contextSize ?? this.options.contextSize,
      kvType: e.options.kvType ?? this.options.kvType,
      kvSize: e.options.kvSize ?? this.options.kvSize,
      maxQueue: this.options.maxQueue,
    };
    // Models that batch (every model loadModel returns) share one scheduler; others (a
    // custom Model) get sessions.
    e.pool = typeof model.createBatchScheduler === 'function' && !model.vocabOnly
      ? new BatchPool(model as ConstructorParameters<typeof BatchPool>[0], options)
      : new SessionPool(model, options);
    e.status = 'ready';
    e.error = null;
  }

  private startLoad(e: Entry): void {
    this.evictFor(e);
    e.status = 'loading';
    e.error = null;
    const source = e.options.load ? e.options.load() : (e.options.model as Promise<Model>);
    e.loading = Promise.resolve(source).then(
      (model) => {
        if (!isModel(model)) throw new Error('the loader did not return a Model');
        this.ready(e, model);
        if (this.closed && e.inUse === 0) this.unload(e);
      },
      (err: unknown) => {
        e.status = 'error';
        e.error = err;
      },
    ).catch((err: unknown) => {
      e.status = 'error';
      e.error = err;
    });
  }

  /** Makes room under `maxLoaded` by unloading least recently used idle models. */
  private evictFor(incoming: Entry): void {
    const max = this.options.maxLoaded ?? Infinity;
    if (!incoming.options.load || !Number.isFinite(max)) return;
    const live = () => [...this.entries.values()].filter((e) => e !== incoming && (e.status === 'ready' || e.status === 'loading'));
    while (live().length >= max) {
      const victim = live()
        .filter((e) => e.status === 'ready' && e.options.load && e.inUse === 0 && e.pool?.idle)
        .sort((a, b) => a.lastUsed - b.lastUsed)[0];
      if (!victim) return; // soft limit: nothing idle to unload
      this.unload(victim);
    }
  }

  /** Disposes the pool, and the model when the registry loaded it. */
  private unload(e: Entry): void {
    e.pool?.dispose();
    if (e.model && e.options.load) {
      try {
        e.model.dispose();
      } catch {
        // nothing more to free
      }
    }
    e.pool = null;
    e.model = null;
    if (e.status === 'ready') e.status = 'unloaded';
  }

  /** Requests holding a model now (generating, queued or loading it). */
  get inFlight(): number {
    let n = 0;
    for (const e of this.entries.values()) n += e.inUse;
    return n;
  }

  /** Each loaded model's pool (for /metrics). */
  pools(): { id: string; pool: GenerationPool }[] {
    return [...this.entries.entries()].filter(([, e]) => e.pool).map(([id, e]) => ({ id, pool: e.pool! }));
  }

  /** Refuses new requests; models the registry loaded are disposed once their requests end. */
  async close(): Promise<void> {
    this.closed = true;
    for (const e of this.entries.values()) {
      if (e.inUse === 0) this.unload(e);
      else e.pool?.dispose();
    }
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err ?? 'unknown error');
}

/** Waits for `p`, or rejects with the signal's reason when it aborts first. */
export function abortable<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** What `createApp({ models })` accepts. */
export type ModelsOption = Model | Promise<Model> | ModelEntryOptions | ModelEntryOptions[] | ModelRegistry;

export function toRegistry(models: ModelsOption, options: RegistryOptions = {}): ModelRegistry {
  if (models instanceof ModelRegistry) return models;
  if (Array.isArray(models)) return new ModelRegistry(models, options);
  if (isModel(models)) return new ModelRegistry([{ id: defaultModelId(models), model: models }], options);
  if (isThenable(models)) return new ModelRegistry([{ id: 'model', model: models as Promise<Model> }], options);
  return new ModelRegistry([models as ModelEntryOptions], options);
}
