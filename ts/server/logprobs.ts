// The engine's logprobs (token ids, natural-log probabilities of the raw model distribution) in
// OpenAI's two wire shapes: chat's `{ content: [{ token, logprob, bytes, top_logprobs }] }` and
// the legacy completions' parallel arrays.
import type { Model, TokenLogprobs } from '../types.js';
import type { ChoiceLogprobs, CompletionLogprobs } from './openai-types.js';

const utf8 = new TextDecoder();
const encoder = new TextEncoder();

/** A token's text as OpenAI reports it: its UTF-8 decoding (bytes of a split character as U+FFFD). */
function piece(model: Model, id: number): { token: string; bytes: number[] } {
  const bytes = model.tokenBytes?.(id) ?? encoder.encode(model.tokenPiece(id));
  return { token: utf8.decode(bytes), bytes: Array.from(bytes) };
}

/** -Infinity (a banned token) is not JSON: OpenAI's floor is -9999. */
function finite(lp: number): number {
  return Number.isFinite(lp) ? lp : -9999;
}

export function chatLogprobs(model: Model, list: TokenLogprobs[]): ChoiceLogprobs {
  return {
    content: list.map((t) => ({
      ...piece(model, t.token),
      logprob: finite(t.logprob),
      top_logprobs: t.topLogprobs.map((alt) => ({ ...piece(model, alt.id), logprob: finite(alt.logprob) })),
    })),
    refusal: null,
  };
}

/** `offset`: where the first token's text starts in the choice's text (its stream position). */
export function completionLogprobs(model: Model, list: TokenLogprobs[], offset = 0): CompletionLogprobs {
  const tokens = list.map((t) => piece(model, t.token).token);
  const textOffset: number[] = [];
  let at = offset;
  for (const token of tokens) {
    textOffset.push(at);
    at += token.length;
  }
  const wantTop = list.some((t) => t.topLogprobs.length > 0);
  return {
    tokens,
    token_logprobs: list.map((t) => finite(t.logprob)),
    top_logprobs: wantTop ? list.map((t) => Object.fromEntries(t.topLogprobs.map((alt) => [piece(model, alt.id).token, finite(alt.logprob)]))) : null,
    text_offset: textOffset,
  };
}
