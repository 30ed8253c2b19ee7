// Continuous batching for the SDK: concurrent `generate` calls served by the engine's
// scheduler (`crates/llmplayer-core/src/batcher.rs`). One loop ("pump") runs a step at a time
// while any generation is open: each step is one forward pass over every running sequence,
// and its events (admitted, token, context full) go to their generations, which detokenize,
// match stop strings and stream exactly as `Session.generate` does.
import type { BackendName, RawBatchEvent, RawBatcher } from './backend.js';
import { fromBackendError, LlmError } from './errors.js';
import type { LlmModel } from './model.js';
import { promptIds, samplingJson, yieldToEventLoop } from './session.js';
import { StopMatcher } from './stop-matcher.js';
import type { BatchScheduler, BatchStats, FinishReason, GenerateChunk, GenerateOptions, GenerateResult, TokenLogprobs } from './types.js';

interface Open {
  onEvent(e: RawBatchEvent): void;
  fail(err: unknown): void;
}

export class LlmBatchScheduler implements BatchScheduler {
  #raw: RawBatcher | null;
  readonly #open = new Map<number, Open>();
  #pumping = false;
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
    this.#pump(); // a step applies it (frees the sequence) even when nothing else runs
  }

  /** Steps while generations are open (or a finish waits to be applied). */
  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    void (async () => {
      try {
        while (this.#raw && (this.#open.size > 0 || this.#finishQueued)) {
          this.#finishQueued = false;
          let events: RawBatchEvent[];
          try {
            events = await this.#raw.step();
          } catch (err) {
            const e = fromBackendError(err);
            for (const o of [...this.#open.values()]) o.fail(e);
            this.#open.clear();
            break;
          }
          for (const e of events) this.#open.get(e.id)?.onEvent(e);
          // WASM computes on this thread: let I/O run between steps.
          if (this.backend === 'wasm' || events.length === 0) await yieldToEventLoop();
        }
      } finally {
        this.#pumping = false;
      }
    })();
  }

  async *generate(prompt: string | ArrayLike<number>, options: GenerateOptions = {}): AsyncGenerator<GenerateChunk | GenerateResult> {
    const ids = promptIds(this.model, prompt, options);
    const maxTokens = options.maxTokens ?? Infinity;
    if (!(maxTokens >= 0)) throw new LlmError('maxTokens must be a non-negative number', 'SAMPLING_MAXTOKENS');
    const params = samplingJson(options);
    const signal = options.signal;
    const t0 = performance.now();
    let t1: number | undefined;
    const decoder = new TextDecoder('utf-8');
    const stops = new StopMatcher(options.stop ?? []);
    const tokens: number[] = [];
    const logprobs: TokenLogprobs[] | undefined = options.logprobs || (options.topLogprobs ?? 0) > 0 ? [] : undefined;
    const items: GenerateChunk[] = [];
    let text = '';
    let stoppedByString = false;
    let cachedTokens = 0;
    let failure: unknown;
    let finishReason: FinishReason | null = signal?.aborted ? 'abort' : maxTokens === 0 ? 'length' : null;
    let wake: (() => void) | null = null;
    let id = -1;
    const end = (reason: FinishReason) => {
      if (finishReason) return;
      finishReason = reason;
      if (id >= 0) this.#finish(id);
      wake?.();
    };
    const onEvent = (e: RawBatchEvent) => {
      if (finishReason) return;
      if (e.kind === 'started') cachedTokens = e.nReused ?? 0;
      else if (e.kind === 'contextFull') end('length');
      else if (e.kind === 'token') {
        t1 ??= performance.now();
        const token = e.token!;
        if (this.model.isEndOfGeneration(token)) return end('stop');
        tokens.push(token);
        const { emit, stopped } = stops.push(decoder.decode(this.model.raw.tokenPiece(token, false), { stream: true }));
        text += emit;
        if (logprobs) {
          const step = { token, logprob: e.logprob ?? -Infinity, topLogprobs: e.topLogprobs ?? [] };
          logprobs.push(step);
          items.push({ token, text: emit, logprob: step.logprob, topLogprobs: step.topLogprobs });
        } else {
          items.push({ token, text: emit });
        }
        if (stopped) {
          stoppedByString = true;
          end('stop');
        } else if (tokens.length >= maxTokens) end('length');
        wake?.();
      }
    };
    if (!finishReason) {
      try {
        // Refused here: an empty prompt, one too long for the context or the KV budget,
        // unknown ids, bad sampling values.
        id = this.raw.add(ids, params, Math.min(maxTokens, this.contextSize));
      } catch (err) {
        throw fromBackendError(err);
      }
      this.#open.set(id, {
        onEvent,
        fail: (err) => {
          failure = err;
          finishReason = 'abort';
          wake?.();
        },
      });
      this.#pump();
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
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
      }
      if (!stoppedByString) text += stops.flush() + decoder.decode();
      const t2 = performance.now();
      const first = t1 ?? t2;
      const promptMs = first - t0;
      const generateMs = t2 - first;
      yield {
        text,
        tokens,
        finishReason: finishReason as FinishReason,
        usage: { promptTokens: ids.length, completionTokens: tokens.length, totalTokens: ids.length + tokens.length, cachedTokens },
        timings: {
          promptMs,
          generateMs,
          promptTokensPerSecond: promptMs > 0 ? (ids.length * 1000) / promptMs : 0,
          generateTokensPerSecond: generateMs > 0 ? (tokens.length * 1000) / generateMs : 0,
        },
        ...(logprobs ? { logprobs } : {}),
      };
    } finally {
      signal?.removeEventListener('abort', onAbort);
      end('abort'); // the consumer left early: free the sequence (a no-op once finished)
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
