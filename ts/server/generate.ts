// Runs one generation for chat and completions alike: context checks, a slot from the model's
// pool, the session's token stream, then either one JSON object or OpenAI's SSE sequence
// (`streamSSE`; a client disconnect aborts the generation and frees the slot at once).
import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import { isGenerateResult, type GenerateOptions, type GenerateResult } from '../types.js';
import { ApiError, contextLengthExceeded, invalidRequest, toApiError, type ErrorLog } from './errors.js';
import type { CompletionUsage, FinishReason } from './openai-types.js';
import type { Lease } from './queue.js';
import type { ModelHandle } from './registry.js';
import type { CommonRequest } from './validate.js';

export interface Outcome {
  text: string;
  /** 'abort' only when the client went away; never sent. */
  finishReason: FinishReason | 'abort';
  usage: CompletionUsage;
}

/** How an endpoint shapes its objects; `meta` holds id/created/model/fingerprint. */
export interface ResponseFormat {
  /** The non-streaming body. */
  object(outcome: Outcome & { finishReason: FinishReason }): unknown;
  /** Streaming: sent before any text (chat's `{ role: 'assistant', content: '' }` delta). */
  first?(): unknown;
  delta(text: string): unknown;
  finish(reason: FinishReason): unknown;
  usage(usage: CompletionUsage): unknown;
}

export interface ResponseMeta {
  id: string;
  created: number;
  model: string;
  system_fingerprint: string;
}

export function responseMeta(prefix: string, handle: ModelHandle): ResponseMeta {
  return {
    id: `${prefix}-${crypto.randomUUID().replace(/-/g, '')}`,
    created: Math.floor(Date.now() / 1000),
    model: handle.id,
    system_fingerprint: `llmplayer-${handle.model.backend}`,
  };
}

/** Checks prompt ids, logit_bias ids and the context; returns the session's options. */
export function planGeneration(handle: ModelHandle, req: CommonRequest, prompt: number[], param: 'messages' | 'prompt'): GenerateOptions {
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

/** Runs the session to the end (or the abort), always freeing the slot. */
export async function runGeneration(
  lease: Lease,
  prompt: number[],
  options: GenerateOptions,
  signal: AbortSignal,
  onText?: (text: string) => Promise<void>,
): Promise<Outcome> {
  const generated: number[] = [];
  const texts: string[] = [];
  let result: GenerateResult | undefined;
  let failed = false;
  try {
    for await (const item of lease.generate(prompt, { ...options, signal })) {
      if (isGenerateResult(item)) {
        result = item;
        break;
      }
      generated.push(item.token);
      if (item.text) {
        texts.push(item.text);
        if (onText && !signal.aborted) await onText(item.text);
      }
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
  // never completed, or an unfinished UTF-8 tail, is only in `result.text`. Stream it too.
  const streamed = texts.join('');
  if (result && onText && !signal.aborted && result.text.length > streamed.length && result.text.startsWith(streamed)) {
    await onText(result.text.slice(streamed.length));
  }
  const completion = result?.usage.completionTokens ?? generated.length;
  const finish = signal.aborted || result?.finishReason === 'abort' ? 'abort' : (result?.finishReason ?? 'stop');
  return {
    text: result?.text ?? texts.join(''),
    finishReason: finish,
    usage: {
      prompt_tokens: prompt.length,
      completion_tokens: completion,
      total_tokens: prompt.length + completion,
      // The engine's count of reused cache positions (none when aborted before the prompt ran).
      prompt_tokens_details: { cached_tokens: result?.usage.cachedTokens ?? 0 },
    },
  };
}

/** Ties the request's lifetime to an AbortController (the runtime aborts `raw.signal` on disconnect). */
export function requestAbort(c: Context): AbortController {
  const abort = new AbortController();
  const signal = c.req.raw.signal;
  if (signal.aborted) abort.abort(signal.reason);
  else signal.addEventListener('abort', () => abort.abort(signal.reason), { once: true });
  return abort;
}

/**
 * What the response carries of the generated text, fed in pieces: `push` returns what can be sent
 * now, `flush` the rest once generation ended (chat on a harmony model: the final channel).
 */
export interface TextView {
  push(text: string): string;
  flush(): string;
}

export interface Job {
  handle: ModelHandle;
  req: CommonRequest;
  prompt: number[];
  options: GenerateOptions;
  format: ResponseFormat;
  /** One per response; none: the generated text as it is. */
  view?: () => TextView;
  abort: AbortController;
  log: ErrorLog;
  /** SSE comment interval while a stream waits (queue, prefill); 0: none. */
  keepAliveMs: number;
  /** Stops the generation after this long (504 / an error event); 0: no limit. */
  timeoutMs: number;
}

/** Why a request's generation was stopped by the server, not by its client. */
class RequestTimeout extends Error {
  constructor(readonly ms: number) {
    super(`The request took longer than the server's limit of ${ms / 1000} s and was stopped.`);
  }
}

function timeoutError(abort: AbortController): ApiError | null {
  const reason: unknown = abort.signal.reason;
  return reason instanceof RequestTimeout ? new ApiError(504, reason.message, 'server_error', null, 'timeout') : null;
}

/**
 * Takes a slot, generates and answers: one object, or the SSE stream. `handle` is released when
 * the response is complete (or fails). A full queue is a 503 either way; a stream starts (role
 * chunk, keep-alive comments) while it waits for its slot, so proxies see bytes flowing.
 */
export async function respond(c: Context, job: Job): Promise<Response> {
  const { handle, req, prompt, options, format, abort } = job;
  let streaming = false;
  let lease: Lease | undefined;
  const timer = job.timeoutMs > 0 ? setTimeout(() => abort.abort(new RequestTimeout(job.timeoutMs)), job.timeoutMs) : undefined;
  try {
    const pending = handle.pool.acquire(prompt, abort.signal); // throws now when the queue is full
    pending.catch(() => {}); // a stream awaits it only after its first write: no unhandled rejection meanwhile
    c.header('x-llmplayer-backend', handle.model.backend);
    if (!req.stream) {
      lease = await pending.catch((err: unknown) => {
        throw timeoutError(abort) ?? err;
      });
      const outcome = await runGeneration(lease, prompt, options, abort.signal);
      const timedOut = timeoutError(abort);
      if (timedOut) throw timedOut;
      const finishReason = outcome.finishReason === 'abort' ? 'stop' : outcome.finishReason;
      const view = job.view?.();
      const text = view ? view.push(outcome.text) + view.flush() : outcome.text;
      return c.json(format.object({ ...outcome, text, finishReason }));
    }
    streaming = true;
    const withUsage = (chunk: unknown) => (req.includeUsage ? { ...(chunk as object), usage: null } : chunk);
    return streamSSE(c, async (stream) => {
      stream.onAbort(() => abort.abort(new Error('client disconnected')));
      const send = (chunk: unknown) => stream.writeSSE({ data: JSON.stringify(chunk) });
      const keepAlive = job.keepAliveMs > 0 ? setInterval(() => void stream.write(': keep-alive\n\n'), job.keepAliveMs) : undefined;
      let held: Lease | undefined;
      try {
        if (format.first) await send(withUsage(format.first()));
        held = await pending;
        // Stop strings were matched on the whole generated text (as llama.cpp does) before the
        // view; a view may hold text back or send none of a piece (no empty deltas then).
        const view = job.view?.();
        const sendText = async (text: string) => {
          if (text) await send(withUsage(format.delta(text)));
        };
        const outcome = await runGeneration(held, prompt, options, abort.signal, (text) => sendText(view ? view.push(text) : text));
        const timedOut = timeoutError(abort);
        if (timedOut) return void (await send(timedOut.toJSON()));
        if (outcome.finishReason === 'abort') return;
        if (view) await sendText(view.flush());
        await send(withUsage(format.finish(outcome.finishReason)));
        if (req.includeUsage) await send(format.usage(outcome.usage));
        await stream.writeSSE({ data: '[DONE]' });
      } catch (err) {
        // Headers are gone: OpenAI's clients raise an `{ error }` data line as an APIError.
        const timedOut = timeoutError(abort);
        if (timedOut) return void (await send(timedOut.toJSON()).catch(() => {}));
        if (abort.signal.aborted) return;
        const apiError = toApiError(err);
        if (apiError.code === 'internal_error') job.log(`${c.req.method} ${c.req.path} (stream)`, err);
        await send(apiError.toJSON());
      } finally {
        clearTimeout(timer);
        clearInterval(keepAlive);
        held?.release(); // no-op unless something failed before the generation started
        handle.release();
      }
    });
  } finally {
    if (!streaming) {
      clearTimeout(timer);
      lease?.release();
      handle.release();
    }
  }
}
