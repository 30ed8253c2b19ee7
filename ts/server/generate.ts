// Runs the generations of one request for every endpoint (chat, completions, responses,
// messages): context checks, a slot per choice from the model's pool, the session's token
// stream, then either one JSON object or a server-sent-event stream (`respond.ts`).
//
// The seam between the engine and the wire formats: a choice's generated text goes through an
// `AssistantView` (plain text, or a parser splitting reasoning, content and tool calls), and a
// `ResponseFormat` turns the views' deltas and the choices' outcomes into one API's objects.
import { isGenerateResult, type GenerateOptions, type GenerateResult, type TokenLogprobs } from '../types.js';
import { contextLengthExceeded, invalidRequest } from './errors.js';
import type { CompletionUsage } from './openai-types.js';
import type { Lease } from './queue.js';
import type { ModelHandle } from './registry.js';
import type { CommonRequest } from './validate.js';

/** A tool call parsed from the generated text: arguments are JSON text. */
export interface ParsedToolCall {
  id: string;
  name: string;
  arguments: string;
}

/** What a piece of generated text added to the answer. */
export interface AssistantDelta {
  content?: string;
  reasoning?: string;
  toolCalls?: ParsedToolCall[];
}

/**
 * Reads a choice's generated text as it grows: `push` returns what can be sent now (text that may
 * be the start of a marker is held back), `flush` the rest once generation ended.
 */
export interface AssistantView {
  push(text: string): AssistantDelta;
  flush(): AssistantDelta;
}

/** The generated text is the content, as it is. */
export function plainView(): AssistantView {
  return { push: (text) => (text ? { content: text } : {}), flush: () => ({}) };
}

/** Why a choice ended, as the wire formats name it ('tool_calls' when the view found calls). */
export type ChoiceFinish = 'stop' | 'length' | 'tool_calls';

export interface ChoiceOutcome {
  index: number;
  /** The generated text (stop strings removed), before the view. */
  text: string;
  content: string;
  reasoning: string;
  toolCalls: ParsedToolCall[];
  finishReason: ChoiceFinish;
  /** Present when the request asked for logprobs. */
  logprobs?: TokenLogprobs[];
  completionTokens: number;
  cachedTokens: number;
  /** The `stop` string that ended the choice, when one did. */
  stopSequence?: string;
}

/** Adds `b` to `a` in place (a view's deltas summed into an outcome). */
export function addDelta(a: { content: string; reasoning: string; toolCalls: ParsedToolCall[] }, b: AssistantDelta): void {
  if (b.content) a.content += b.content;
  if (b.reasoning) a.reasoning += b.reasoning;
  if (b.toolCalls) a.toolCalls.push(...b.toolCalls);
}

export function isEmptyDelta(d: AssistantDelta): boolean {
  return !d.content && !d.reasoning && !d.toolCalls?.length;
}

/** One usage for all choices: the prompt counted once (as OpenAI does for `n`). */
export function totalUsage(promptTokens: number, choices: ChoiceOutcome[]): CompletionUsage {
  const completion = choices.reduce((sum, c) => sum + c.completionTokens, 0);
  const cached = choices.reduce((max, c) => Math.max(max, c.cachedTokens), 0);
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completion,
    total_tokens: promptTokens + completion,
    // The engine's count of reused cache positions (none when aborted before the prompt ran).
    prompt_tokens_details: { cached_tokens: cached },
  };
}

/** Checks prompt ids, logit_bias ids and the context; returns the session's options. */
export function planGeneration(handle: ModelHandle, req: CommonRequest, prompt: number[], param: string): GenerateOptions {
  const { nVocab } = handle.model;
  if (handle.model.vocabOnly) {
    throw invalidRequest(`The model '${handle.id}' has no weights (vocab-only): it can tokenize but not generate.`, 'model', 'model_not_generative');
  }
  const bad = prompt.findIndex((t) => t >= nVocab);
  if (bad >= 0) {
    throw invalidRequest(`Invalid 'prompt[${bad}]': token id ${prompt[bad]} is out of range (the vocabulary has ${nVocab} tokens).`, `prompt[${bad}]`, 'invalid_value');
  }
  if (prompt.length === 0) throw invalidRequest(`Invalid '${param}': it tokenizes to nothing.`, param, 'invalid_value');
  const contextSize = handle.pool.contextSize;
  if (prompt.length >= contextSize) throw contextLengthExceeded(contextSize, prompt.length, param);
  const options: GenerateOptions = { ...req.options, maxTokens: Math.min(req.maxTokens ?? Infinity, contextSize - prompt.length) };
  if (req.logitBias) {
    const bias: Record<number, number> = {};
    for (const [id, value] of req.logitBias) {
      if (id >= nVocab) {
        throw invalidRequest(`Invalid 'logit_bias': token id ${id} is out of range (the vocabulary has ${nVocab} tokens).`, 'logit_bias', 'invalid_value');
      }
      bias[id] = value <= -100 ? -Infinity : value; // -100 bans, as OpenAI documents
    }
    options.logitBias = bias;
  }
  return options;
}

/** Choice `index`'s options: its own seed (consecutive from the request's), so choices differ. */
export function choiceOptions(options: GenerateOptions, index: number): GenerateOptions {
  return index === 0 || options.seed === undefined ? options : { ...options, seed: (options.seed + index) >>> 0 };
}

/** What a choice's generation reports as it runs. */
export interface ChoiceProgress {
  /** A generated token's text (may be ''), with its logprobs when asked for. */
  onToken?(text: string, logprobs: TokenLogprobs | undefined): Promise<void>;
}

export interface RawOutcome {
  text: string;
  /** 'abort' only when the client went away (or the server's timeout): never sent. */
  finishReason: 'stop' | 'length' | 'abort';
  completionTokens: number;
  cachedTokens: number;
  logprobs?: TokenLogprobs[];
  stopSequence?: string;
  /** performance.now() when the first / last token came (metrics); undefined without tokens. */
  firstTokenAt?: number;
  lastTokenAt?: number;
}

/** Runs the session to the end (or the abort), always freeing the slot. */
export async function runGeneration(lease: Lease, prompt: number[], options: GenerateOptions, signal: AbortSignal, progress: ChoiceProgress = {}): Promise<RawOutcome> {
  const generated: number[] = [];
  const texts: string[] = [];
  let result: GenerateResult | undefined;
  let failed = false;
  let firstTokenAt: number | undefined;
  let lastTokenAt: number | undefined;
  try {
    for await (const item of lease.generate(prompt, { ...options, signal })) {
      if (isGenerateResult(item)) {
        result = item;
        break;
      }
      lastTokenAt = performance.now();
      firstTokenAt ??= lastTokenAt;
      generated.push(item.token);
      texts.push(item.text);
      const lp = item.logprob === undefined ? undefined : { token: item.token, logprob: item.logprob, topLogprobs: item.topLogprobs ?? [] };
      if (progress.onToken && !signal.aborted) await progress.onToken(item.text, lp);
    }
  } catch (err) {
    if (!signal.aborted) {
      failed = true;
      throw err;
    }
  } finally {
    lease.release([...Array.from(prompt), ...generated], failed);
  }
  // The session's chunks can end short of its result: text held back for a stop string that
  // never completed, or an unfinished UTF-8 tail, is only in `result.text`. Report it too.
  const streamed = texts.join('');
  if (result && progress.onToken && !signal.aborted && result.text.length > streamed.length && result.text.startsWith(streamed)) {
    await progress.onToken(result.text.slice(streamed.length), undefined);
  }
  return {
    text: result?.text ?? streamed,
    finishReason: signal.aborted || result?.finishReason === 'abort' ? 'abort' : (result?.finishReason ?? 'stop'),
    completionTokens: result?.usage.completionTokens ?? generated.length,
    cachedTokens: result?.usage.cachedTokens ?? 0,
    ...(result?.logprobs ? { logprobs: result.logprobs } : {}),
    ...(result?.stopSequence !== undefined ? { stopSequence: result.stopSequence } : {}),
    firstTokenAt,
    lastTokenAt,
  };
}
