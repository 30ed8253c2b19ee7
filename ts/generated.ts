// What a generation has produced so far, shared by `Session.generate` and the batch scheduler:
// tokens in, whole-UTF-8 text chunks out (stop strings matched across token boundaries and never
// emitted), logprobs when asked for, and the final result with usage and timings.
import type { LlmModel } from './model.js';
import { StopMatcher } from './stop-matcher.js';
import type { FinishReason, GenerateChunk, GenerateOptions, GenerateResult, TokenLogprobs } from './types.js';

/** Logprobs cost a pass over the vocabulary per token: only when asked for. */
export function wantsLogprobs(options: GenerateOptions): boolean {
  return !!options.logprobs || (options.topLogprobs ?? 0) > 0;
}

export class GeneratedText {
  readonly tokens: number[] = [];
  readonly #logprobs: TokenLogprobs[] | undefined;
  readonly #decoder = new TextDecoder('utf-8');
  readonly #stops: StopMatcher;
  /** Control tokens shown in the text (`preserveTokens`). */
  readonly #preserve: Set<number>;
  #text = '';
  #stoppedByString = false;

  constructor(
    private readonly model: LlmModel,
    options: GenerateOptions,
  ) {
    this.#stops = new StopMatcher(options.stop ?? []);
    this.#preserve = new Set(options.preserveTokens ?? []);
    this.#logprobs = wantsLogprobs(options) ? [] : undefined;
  }

  /**
   * Adds a sampled token (not an end-of-generation one) and its logprobs (when asked for);
   * returns its chunk and whether a stop string completed with it.
   */
  push(token: number, step?: { logprob?: number | null; topLogprobs?: { id: number; logprob: number }[] | null }): { chunk: GenerateChunk; stopped: boolean } {
    this.tokens.push(token);
    const { emit, stopped } = this.#stops.push(this.#decoder.decode(this.model.raw.tokenPiece(token, this.#preserve.has(token)), { stream: true }));
    this.#text += emit;
    if (stopped) this.#stoppedByString = true;
    if (!this.#logprobs) return { chunk: { token, text: emit }, stopped };
    const lp: TokenLogprobs = { token, logprob: step?.logprob ?? -Infinity, topLogprobs: step?.topLogprobs ?? [] };
    this.#logprobs.push(lp);
    return { chunk: { token, text: emit, logprob: lp.logprob, topLogprobs: lp.topLogprobs }, stopped };
  }

  /** The result: the text plus what was held back for a stop string that never came. */
  result(finishReason: FinishReason, promptTokens: number, cachedTokens: number, promptMs: number, generateMs: number): GenerateResult {
    if (!this.#stoppedByString) this.#text += this.#stops.flush() + this.#decoder.decode();
    const n = this.tokens.length;
    return {
      text: this.#text,
      tokens: this.tokens,
      finishReason,
      usage: { promptTokens, completionTokens: n, totalTokens: promptTokens + n, cachedTokens },
      timings: {
        promptMs,
        generateMs,
        promptTokensPerSecond: promptMs > 0 ? (promptTokens * 1000) / promptMs : 0,
        generateTokensPerSecond: generateMs > 0 ? (n * 1000) / generateMs : 0,
      },
      ...(this.#logprobs ? { logprobs: this.#logprobs } : {}),
      ...(this.#stops.matched !== null ? { stopSequence: this.#stops.matched } : {}),
    };
  }
}
