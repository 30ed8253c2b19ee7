// Continuous batching for the SDK: concurrent `generate` calls served by the engine's
// scheduler (`crates/llmplayer-core/src/batcher.rs`). Each step is one forward pass over every
// running sequence; its events (admitted, token, room full) go to their generations, which
// detokenize, match stop strings and stream exactly as `Session.generate` does.
//
// The generations drive the steps themselves: one that waits for its next token joins the
// step in flight, or starts one (one at a time). No loop outlives the generations: an edge
// runtime (workerd) cancels a request's timers and promises once its response is done, so a
// detached loop started by one request would stall every later one.
import type { BackendName, RawBatchEvent, RawBatcher } from './backend.js';
import { fromBackendError, LlmError } from './errors.js';
import type { LlmModel } from './model.js';
import { promptIds, samplingJson, yieldToEventLoop } from './session.js';
import { GeneratedText } from './generated.js';
import type { BatchScheduler, BatchStats, FinishReason, GenerateChunk, GenerateOptions, GenerateResult } from './types.js';

interface Open {
  onEvent(e: RawBatchEvent): void;
  fail(err: unknown): void;
}

export class LlmBatchScheduler implements BatchScheduler {
  #raw: RawBatcher | null;
  readonly #open = new Map<number, Open>();
  /** The step in flight, which every waiting generation awaits. */
  #stepping: Promise<void> | null = null;
  /** A finish is queued in the engine's inbox that no step has applied yet. */
  #finishQueued = false;

  constructor(
    private readonly model: LlmModel,
    raw: RawBatcher,
    private readonly backend: BackendName,
    readonly parallel: number,
    readonly contextSize: number,
  ) {
    this.#raw = raw;
  }

  get stats(): BatchStats {
    return this.raw.stats();
  }

  private get raw(): RawBatcher {
    if (!this.#raw) throw new Error('batch scheduler is disposed');
    return this.#raw;
  }

  #finish(id: number): void {
    this.#open.delete(id);
    this.#raw?.finish(id);
    this.#finishQueued = true;
  }

  /** Runs one step, or joins the one in flight; its events reach their generations. */
  #step(): Promise<void> {
    this.#stepping ??= (async () => {
      try {
        if (!this.#raw) return;
        this.#finishQueued = false;
        let events: RawBatchEvent[];
        try {
          events = await this.#raw.step();
        } catch (err) {
          const e = fromBackendError(err);
          for (const o of [...this.#open.values()]) o.fail(e);
          this.#open.clear();
          return;
        }
        for (const e of events) this.#open.get(e.id)?.onEvent(e);
      } finally {
        this.#stepping = null;
      }
    })();
    return this.#stepping;
  }

  async *generate(prompt: string | ArrayLike<number>, options: GenerateOptions = {}): AsyncGenerator<GenerateChunk | GenerateResult> {
    const ids = promptIds(this.model, prompt, options);
    const maxTokens = options.maxTokens ?? Infinity;
    if (!(maxTokens >= 0)) throw new LlmError('maxTokens must be a non-negative number', 'SAMPLING_MAXTOKENS');
    const params = samplingJson(options);
    const signal = options.signal;
    const t0 = performance.now();
    let t1: number | undefined;
    const out = new GeneratedText(this.model, options);
    const items: GenerateChunk[] = [];
    let cachedTokens = 0;
    let failure: unknown;
    let finishReason: FinishReason | null = signal?.aborted ? 'abort' : maxTokens === 0 ? 'length' : null;
    let id = -1;
    const end = (reason: FinishReason) => {
      if (finishReason) return;
      finishReason = reason;
      if (id >= 0) this.#finish(id);
    };
    const onEvent = (e: RawBatchEvent) => {
      if (finishReason) return;
      if (e.kind === 'started') cachedTokens = e.nReused ?? 0;
      else if (e.kind === 'full') end('length');
      else if (e.kind === 'error') {
        // The engine already dropped the request (its finish is a no-op); the caller gets the error.
        failure = new LlmError(e.message ?? 'the request failed', e.code ?? 'GRAMMAR_FAILED');
        end('abort');
      }
      else if (e.kind === 'token') {
        t1 ??= performance.now();
        const token = e.token!;
        if (this.model.isEndOfGeneration(token)) return end('stop');
        const { chunk, stopped } = out.push(token, e);
        items.push(chunk);
        if (stopped) end('stop');
        else if (out.tokens.length >= maxTokens) end('length');
      }
    };
    if (!finishReason) {
      try {
        // Refused here: an empty prompt, one too long for the context or the KV budget,
        // unknown ids, bad sampling values.
        id = this.raw.add(ids, params, Math.min(Math.ceil(maxTokens), this.contextSize));
      } catch (err) {
        throw fromBackendError(err);
      }
      this.#open.set(id, {
        onEvent,
        fail: (err) => {
          failure = err;
          finishReason = 'abort';
        },
      });
    }
    const onAbort = () => end('abort');
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for (;;) {
        if (items.length > 0) {
          yield items.shift()!;
          continue;
        }
        if (failure) throw failure;
        if (finishReason) break;
        await this.#step();
        // WASM computes on this thread: let I/O (and the other generations) run between steps.
        if (this.backend === 'wasm') await yieldToEventLoop();
      }
      // Prompt time runs from the call to the first token (waiting for a sequence included).
      const t2 = performance.now();
      const first = t1 ?? t2;
      yield out.result(finishReason as FinishReason, ids.length, cachedTokens, first - t0, t2 - first);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      end('abort'); // the consumer left early: free the sequence (a no-op once finished)
      // The last generation applies its own finish (native finishes wait for a step), so an
      // idle scheduler holds nothing for finished requests.
      if (this.#finishQueued && this.#open.size === 0) await this.#step();
    }
  }

  async complete(prompt: string | ArrayLike<number>, options: GenerateOptions = {}): Promise<GenerateResult> {
    let last: GenerateChunk | GenerateResult | undefined;
    for await (const item of this.generate(prompt, options)) last = item;
    return last as GenerateResult;
  }

  dispose(): void {
    for (const o of [...this.#open.values()]) o.fail(new LlmError('the batch scheduler was disposed', 'SCHEDULER_DISPOSED'));
    this.#open.clear();
    this.#raw?.free?.();
    this.#raw = null;
  }
}
