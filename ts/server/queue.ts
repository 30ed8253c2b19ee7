// Per-model concurrency for a custom `Model` that cannot batch (no `createBatchScheduler`;
// every model `loadModel` returns batches, see batch-pool.ts): a FIFO queue in front of
// `parallel` sessions ("slots"), each running one generation at a time.
//
// KV reuse: each slot remembers the tokens its session has evaluated. A request takes the free
// slot whose history shares the longest prefix with its prompt (ties: an untouched slot, then the
// least recently used), so a conversation's next turn usually lands on the session that already
// holds its earlier turns and only the new tokens are evaluated. A queued request takes whichever
// slot frees first (FIFO fairness beats affinity). The shared prefix counts only as far as the
// session's memory can return there (`reusablePrefix`: a recurrent model's state goes back only
// to a checkpoint). The history only steers that choice: how many tokens the cache really reused
// (`cached_tokens`) is the engine's count, in the session's usage.
import type { GenerateChunk, GenerateOptions, GenerateResult, KvType, Model, Session } from '../types.js';
import { ApiError, overloaded } from './errors.js';

export interface SessionPoolOptions {
  /** Concurrent sessions (slots). Default 1. */
  parallel?: number;
  /** Context size of each session. Default: the model's. */
  contextSize?: number;
  /** KV cache type of each session (`f32`, `f16`, `q8_0`). Default: the model's. */
  kvType?: KvType;
  /** Requests allowed to wait for a slot; more get 503. Default 64. */
  maxQueue?: number;
}

/** One generation's right to run: from a session slot, or a place in the batch scheduler. */
export interface Lease {
  generate(prompt: ArrayLike<number>, options: GenerateOptions): AsyncIterable<GenerateChunk | GenerateResult>;
  /** Records what the generation evaluated and frees the slot. Idempotent. */
  release(evaluated?: ArrayLike<number>, failed?: boolean): void;
}

/** What the server needs of a model's concurrency: `SessionPool` or `BatchPool`. */
export interface GenerationPool {
  readonly parallel: number;
  readonly contextSize: number;
  readonly stats: PoolStats;
  /** No request holds or waits for a slot. */
  readonly idle: boolean;
  /**
   * Waits for room; throws at once (not through the promise) when the queue is full (503 with
   * `Retry-After`) or the pool is disposed, so a caller can answer before it commits to a response.
   */
  acquire(prompt: ArrayLike<number>, signal?: AbortSignal): Promise<Lease>;
  dispose(): void;
}

export interface PoolStats {
  /** Generations that can run at once. */
  slots: number;
  busy: number;
  queued: number;
  /** KV positions: the budget, those held by running generations, those allocated in all (batching only). */
  kv?: { size: number; active: number; allocated: number; bytes: number };
}

interface Slot {
  index: number;
  session: Session | null;
  history: ArrayLike<number>;
  busy: boolean;
  lastUsed: number;
}

interface Waiter {
  prompt: ArrayLike<number>;
  resolve: (lease: Lease) => void;
  reject: (err: unknown) => void;
  cleanup: () => void;
}

/** Tokens the session's KV cache holds (at most `max`); `max` when it cannot say. */
function held(session: Session, max: number): number {
  try {
    const n = session.nPast;
    return Number.isInteger(n) && n >= 0 ? Math.min(n, max) : max;
  } catch {
    return max;
  }
}

/** `session.reusablePrefix(prompt)`, 0 when the session cannot say. */
function reusable(session: Session, prompt: ArrayLike<number>): number {
  try {
    return session.reusablePrefix(prompt);
  } catch {
    return 0;
  }
}

/** Shared leading tokens: how well a slot's history suits a prompt (slot choice only). */
export function commonPrefix(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

export class SessionPool implements GenerationPool {
  readonly parallel: number;
  readonly contextSize: number;
  readonly kvType: KvType | undefined;
  readonly maxQueue: number;
  private readonly slots: Slot[];
  private readonly waiters: Waiter[] = [];
  private clock = 0;
  private disposed = false;

  constructor(
    private readonly model: Model,
    options: SessionPoolOptions = {},
  ) {
    this.parallel = Math.max(1, Math.floor(options.parallel ?? 1));
    this.contextSize = options.contextSize ?? model.contextSize;
    this.kvType = options.kvType;
    this.maxQueue = Math.max(0, Math.floor(options.maxQueue ?? 64));
    this.slots = Array.from({ length: this.parallel }, (_, index) => ({ index, session: null, history: [], busy: false, lastUsed: 0 }));
  }

  get stats(): PoolStats {
    return { slots: this.parallel, busy: this.slots.filter((s) => s.busy).length, queued: this.waiters.length };
  }

  /** No request holds or waits for a slot. */
  get idle(): boolean {
    return this.waiters.length === 0 && this.slots.every((s) => !s.busy);
  }

  /**
   * Waits (FIFO) for a slot; rejects with the signal's reason when it aborts while queued.
   * Throws at once (not through the promise) when the queue is full or the pool is disposed, so
   * a caller can answer 503 before it commits to a response.
   */
  acquire(prompt: ArrayLike<number>, signal?: AbortSignal): Promise<Lease> {
    if (this.disposed) throw new ApiError(503, 'The model is being unloaded.', 'server_error', null, 'model_unloaded');
    const free = this.waiters.length === 0 ? this.pick(prompt) : null;
    if (free && !signal?.aborted) return Promise.resolve(this.lease(free, prompt));
    if (!free && this.waiters.length >= this.maxQueue) {
      throw overloaded(this.parallel, this.waiters.length);
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<Lease>((resolve, reject) => {
      const onAbort = () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(signal?.reason);
      };
      const waiter: Waiter = { prompt, resolve, reject, cleanup: () => signal?.removeEventListener('abort', onAbort) };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** The best free slot for `prompt`, or null when all are busy. */
  private pick(prompt: ArrayLike<number>): Slot | null {
    // A shared prefix under 10% of the prompt (a BOS, a short system prompt) is not worth
    // evicting another conversation for (llama.cpp's slot-prompt-similarity default).
    const minUseful = Math.max(1, Math.ceil(prompt.length * 0.1));
    const key = (s: Slot): [number, number, number] => {
      const len = s.session ? Math.min(commonPrefix(s.history, prompt), reusable(s.session, prompt)) : 0;
      return [len >= minUseful ? len : 0, s.session === null ? 1 : 0, -s.lastUsed];
    };
    let best: Slot | null = null;
    let bestKey: [number, number, number] = [-1, 0, 0];
    for (const s of this.slots) {
      if (s.busy) continue;
      const k = key(s);
      if (k[0] !== bestKey[0] ? k[0] > bestKey[0] : k[1] !== bestKey[1] ? k[1] > bestKey[1] : k[2] > bestKey[2]) {
        best = s;
        bestKey = k;
      }
    }
    return best;
  }

  private lease(slot: Slot, prompt: ArrayLike<number>): Lease {
    // May throw (out of memory …): the slot stays free.
    slot.session ??= this.model.createSession({ contextSize: this.contextSize, kvType: this.kvType });
    const session = slot.session;
    slot.busy = true;
    slot.lastUsed = ++this.clock;
    let released = false;
    return {
      generate: (prompt, options) => session.generate(prompt, options),
      release: (evaluated, failed) => {
        if (released) return;
        released = true;
        // The session's cache holds only the first `nPast` of them: the last sampled token is
        // evaluated lazily, by the next step, so a generation that ends on `length`, a stop
        // string or an abort has not evaluated it.
        slot.history = failed ? [] : Array.from(evaluated ?? []).slice(0, held(session, evaluated?.length ?? 0));
        if (failed) {
          try {
            session.clear();
          } catch {
            slot.session = null;
          }
        }
        slot.busy = false;
        this.next(slot);
      },
    };
  }

  /** Hands a freed slot to the first waiter. */
  private next(slot: Slot): void {
    if (this.disposed) return this.disposeSlot(slot);
    for (let waiter = this.waiters.shift(); waiter; waiter = this.waiters.shift()) {
      waiter.cleanup();
      try {
        return waiter.resolve(this.lease(slot, waiter.prompt));
      } catch (err) {
        waiter.reject(err); // the slot stayed free: offer it to the next one
      }
    }
  }

  private disposeSlot(slot: Slot): void {
    if (slot.busy || !slot.session) return;
    try {
      slot.session.dispose();
    } catch {
      // a failed dispose leaves nothing to do
    }
    slot.session = null;
  }

  /** Rejects waiters and disposes idle sessions now, busy ones when released. */
  dispose(): void {
    this.disposed = true;
    for (const w of this.waiters.splice(0)) {
      w.cleanup();
      w.reject(new ApiError(503, 'The model is being unloaded.', 'server_error', null, 'model_unloaded'));
    }
    for (const s of this.slots) this.disposeSlot(s);
  }
}
