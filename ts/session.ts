// A session: one KV cache, generation with streaming text, stop strings and abort.
import type { BackendName, RawSession, RawStep } from './backend.js';
import { GeneratedText, wantsLogprobs } from './generated.js';
import { fromBackendError, LlmError } from './errors.js';
import type { LlmModel } from './model.js';
import type { EvaluateOptions, FinishReason, GenerateChunk, GenerateOptions, GenerateResult, KvType, Session } from './types.js';

/** Lets timers and I/O run between WASM tokens (WASM computes on the JS thread). */
export const yieldToEventLoop: () => Promise<void> =
  typeof setImmediate === 'function'
    ? () => new Promise((r) => setImmediate(r))
    : () => new Promise((r) => setTimeout(r, 0));

/** The sampling options as the bindings take them (the core validates the values). */
export function samplingJson(o: GenerateOptions): string {
  const bias: [number, number | null][] = [];
  for (const [id, b] of Object.entries(o.logitBias ?? {})) {
    if (typeof b !== 'number' || Number.isNaN(b) || b === Infinity) {
      throw new LlmError(`logitBias[${id}] must be a finite number or -Infinity`, 'SAMPLING_LOGITBIAS');
    }
    bias.push([Number(id), b === -Infinity ? null : b]);
  }
  return JSON.stringify({
    temperature: o.temperature,
    topK: o.topK,
    topP: o.topP,
    minP: o.minP,
    repeatPenalty: o.repeatPenalty,
    presencePenalty: o.presencePenalty,
    frequencyPenalty: o.frequencyPenalty,
    penaltyLastN: o.penaltyLastN,
    logitBias: bias,
    seed: o.seed ?? Math.floor(Math.random() * 2 ** 32),
    logprobs: o.logprobs,
    topLogprobs: o.topLogprobs,
    // Checked and compiled by the core (GRAMMAR_INVALID), against the model's vocabulary.
    grammar: o.grammar,
  });
}

/** A prompt's ids as generation takes them (text tokenized as `tokenizePrompt` does). */
export function promptIds(model: LlmModel, prompt: string | ArrayLike<number>, options: GenerateOptions): Uint32Array {
  if (typeof prompt !== 'string') return model.toIds(prompt);
  const special = options.special ?? true;
  return Uint32Array.from(
    (options.addSpecial ?? true) ? model.tokenizePrompt(prompt, special) : model.tokenize(prompt, { special, addSpecial: false }),
  );
}

export class LlmSession implements Session {
  #raw: RawSession | null;
  #busy = false;

  constructor(
    private readonly model: LlmModel,
    raw: RawSession,
    private readonly backend: BackendName,
  ) {
    this.#raw = raw;
  }

  get contextSize(): number {
    return this.raw.nCtx();
  }
  get kvType(): KvType {
    return this.raw.kvType() as KvType;
  }
  get kvBytesPerToken(): number {
    return this.raw.kvBytesPerToken();
  }
  get nPast(): number {
    return this.raw.nPast();
  }
  reusablePrefix(tokens: ArrayLike<number>): number {
    return this.raw.reusable(Uint32Array.from(tokens));
  }

  private get raw(): RawSession {
    if (!this.#raw) throw new Error('session is disposed');
    return this.#raw;
  }

  async #call<T>(fn: () => T | Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw fromBackendError(err);
    }
  }

  #enter(): void {
    if (this.#busy) throw new LlmError('session is busy: one generate() or evaluate() at a time', 'SESSION_BUSY');
    this.#busy = true;
  }

  async evaluate(tokens: ArrayLike<number>, options: EvaluateOptions = {}): Promise<Float32Array> {
    const ids = this.model.toIds(tokens);
    this.#enter();
    try {
      return await this.#call(() => this.raw.evaluate(ids, options.allLogits ?? false));
    } finally {
      this.#busy = false;
    }
  }

  async *generate(prompt: string | ArrayLike<number>, options: GenerateOptions = {}): AsyncGenerator<GenerateChunk | GenerateResult> {
    const ids = promptIds(this.model, prompt, options);
    // An empty prompt (EMPTY_PROMPT), one that leaves no room in the context
    // (CONTEXT_LENGTH_EXCEEDED) and out-of-vocabulary ids (MODEL_BAD_TOKEN) are refused by the
    // engine's `begin`.
    const maxTokens = options.maxTokens ?? Infinity;
    if (!(maxTokens >= 0)) throw new LlmError('maxTokens must be a non-negative number', 'SAMPLING_MAXTOKENS');
    const params = samplingJson(options);
    this.#enter();
    try {
      const t0 = performance.now();
      let finishReason: FinishReason | null = options.signal?.aborted ? 'abort' : null;
      // The engine's count of prompt tokens its cache already held.
      const cachedTokens = finishReason ? 0 : (await this.#call(() => this.raw.begin(ids, params))).nReused;
      const t1 = performance.now();
      const out = new GeneratedText(this.model, options);
      const wantLogprobs = wantsLogprobs(options);
      while (!finishReason) {
        if (options.signal?.aborted) {
          finishReason = 'abort';
          break;
        }
        if (out.tokens.length >= maxTokens) {
          finishReason = 'length';
          break;
        }
        let step: RawStep;
        try {
          step = wantLogprobs ? await this.#call(() => this.raw.nextStep()) : { token: await this.#call(() => this.raw.next()), topLogprobs: [] };
        } catch (err) {
          if ((err as LlmError).code === 'MODEL_CONTEXT_FULL') {
            finishReason = 'length';
            break;
          }
          throw err;
        }
        if (this.model.isEndOfGeneration(step.token)) {
          finishReason = 'stop';
          break;
        }
        const { chunk, stopped } = out.push(step.token, wantLogprobs ? step : undefined);
        yield chunk;
        if (stopped) finishReason = 'stop';
        else if (this.backend === 'wasm') await yieldToEventLoop();
      }
      const t2 = performance.now();
      yield out.result(finishReason, ids.length, cachedTokens, t1 - t0, t2 - t1);
    } finally {
      this.#busy = false;
    }
  }

  async complete(prompt: string | ArrayLike<number>, options: GenerateOptions = {}): Promise<GenerateResult> {
    let last: GenerateChunk | GenerateResult | undefined;
    for await (const item of this.generate(prompt, options)) last = item;
    return last as GenerateResult;
  }

  clear(): void {
    this.raw.clear();
  }

  dispose(): void {
    this.#raw?.free?.();
    this.#raw = null;
  }
}
