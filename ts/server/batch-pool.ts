// Per-model concurrency with continuous batching: every request runs in the model's one
// BatchScheduler (see ts/batch.ts and crates/llmplayer-core/src/batcher.rs), which decodes
// up to `parallel` sequences per forward pass and keeps the rest waiting, in arrival order,
// for a sequence and KV room. This pool only bounds how many may wait: beyond `parallel`
// running and `maxQueue` waiting, a request gets 503 with `Retry-After`.
//
// KV reuse is the engine's: a request lands on the sequence holding the longest prefix of its
// prompt, or copies another sequence's cells for it, and `cached_tokens` is what it reused.
import type { BatchScheduler, KvType, Model } from '../types.js';
import { ApiError, overloaded } from './errors.js';
import type { GenerationPool, Lease, PoolStats } from './queue.js';

export interface BatchPoolOptions {
  /** Sequences batched together. Default 4. */
  parallel?: number;
  /** Positions per sequence. Default: the model's. */
  contextSize?: number;
  /** KV positions shared by all sequences. Default `contextSize * parallel`. */
  kvSize?: number;
  kvType?: KvType;
  /** Requests allowed to wait beyond the running ones; more get 503. Default 64. */
  maxQueue?: number;
}

export class BatchPool implements GenerationPool {
  readonly parallel: number;
  readonly contextSize: number;
  readonly maxQueue: number;
  #scheduler: BatchScheduler | null = null;
  #inFlight = 0;
  #disposed = false;

  constructor(
    private readonly model: Model & Required<Pick<Model, 'createBatchScheduler'>>,
    private readonly options: BatchPoolOptions = {},
  ) {
    this.parallel = Math.max(1, Math.floor(options.parallel ?? 4));
    // What one request may hold: its context, and never more than the whole budget (so the
    // server's context checks and max_tokens clamp keep every request admissible).
    this.contextSize = Math.min(options.contextSize ?? model.contextSize, options.kvSize ?? Infinity);
    this.maxQueue = Math.max(0, Math.floor(options.maxQueue ?? 64));
  }

  /** Made on first use: a vocab-only model never needs one (and is refused before this). */
  private get scheduler(): BatchScheduler {
    this.#scheduler ??= this.model.createBatchScheduler({
      parallel: this.parallel,
      contextSize: this.options.contextSize ?? this.model.contextSize,
      kvSize: this.options.kvSize,
      kvType: this.options.kvType,
    });
    return this.#scheduler;
  }

  get stats(): PoolStats {
    const s = this.#scheduler?.stats;
    const busy = s?.active ?? 0;
    return {
      slots: this.parallel,
      busy,
      queued: Math.max(0, this.#inFlight - busy),
      ...(s ? { kv: { size: s.kvSize, active: s.kvActive, allocated: s.kvAllocated, bytes: s.kvBytes } } : {}),
    };
  }

  get idle(): boolean {
    return this.#inFlight === 0;
  }

  acquire(_prompt: ArrayLike<number>, signal?: AbortSignal): Promise<Lease> {
    if (this.#disposed) throw new ApiError(503, 'The model is being unloaded.', 'server_error', null, 'model_unloaded');
    if (this.#inFlight >= this.parallel + this.maxQueue) {
      throw overloaded(Math.min(this.#inFlight, this.parallel), this.#inFlight - Math.min(this.#inFlight, this.parallel));
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    const scheduler = this.scheduler; // may throw (out of memory …): nothing is held yet
    this.#inFlight++;
    let released = false;
    return Promise.resolve({
      generate: (prompt, options) => scheduler.generate(prompt, options),
      release: () => {
        if (released) return;
        released = true;
        this.#inFlight--;
        if (this.#disposed && this.#inFlight === 0) this.#free();
      },
    });
  }

  #free(): void {
    this.#scheduler?.dispose();
    this.#scheduler = null;
  }

  /** Refuses new requests; the scheduler is freed once the running ones end. */
  dispose(): void {
    this.#disposed = true;
    if (this.#inFlight === 0) this.#free();
  }
}
