// Answers a generation request: takes a slot per choice, runs the choices (concurrently, each
// its own sequence and seed) and either returns one object or streams server-sent events. A full
// queue is a 503 either way; a stream starts (its first events, keep-alive comments) while it
// waits for its slots, so proxies see bytes flowing. A client disconnect aborts every choice and
// frees the slots at once.
import type { Context } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { GenerateOptions, TokenLogprobs } from '../types.js';
import { LlmError } from '../errors.js';
import { ApiError, invalidRequest, toApiError, type ErrorLog } from './errors.js';
import {
  addDelta,
  choiceOptions,
  isEmptyDelta,
  plainView,
  runGeneration,
  totalUsage,
  type AssistantDelta,
  type AssistantView,
  type ChoiceOutcome,
  type RawOutcome,
} from './generate.js';
import type { CompletionUsage } from './openai-types.js';
import type { Lease } from './queue.js';
import type { ModelHandle } from './registry.js';
import type { GenerationObservation } from './telemetry.js';

/** One server-sent event: `data` objects are sent as JSON, strings as they are (`[DONE]`). */
export interface Sse {
  event?: string;
  data: unknown;
}

/** How an endpoint shapes its objects and events. */
export interface ResponseFormat {
  /** The non-streaming body. */
  object(choices: ChoiceOutcome[], usage: CompletionUsage): unknown;
  /** Streaming: sent once, before any slot is taken (chat's role chunks, Messages' message_start). */
  start(): Sse[];
  /** What a choice's view added, with the logprobs of the tokens it covers (when asked for). */
  delta(index: number, delta: AssistantDelta, logprobs: TokenLogprobs[] | undefined): Sse[];
  /** A choice ended. */
  finish(outcome: ChoiceOutcome): Sse[];
  /** Every choice ended: usage, terminators. */
  end(choices: ChoiceOutcome[], usage: CompletionUsage): Sse[];
  /** An error once the stream has started; OpenAI's `{ error }` data line by default. */
  error?(err: ApiError): Sse[];
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

export interface Job {
  handle: ModelHandle;
  prompt: number[];
  options: GenerateOptions;
  /** Choices to generate (OpenAI's `n`); 1 by default. */
  n?: number;
  stream: boolean;
  format: ResponseFormat;
  /** One per choice; the plain view (text is content) by default. */
  view?: () => AssistantView;
  abort: AbortController;
  log: ErrorLog;
  /** SSE comment interval while a stream waits (queue, prefill); 0: none. */
  keepAliveMs: number;
  /** Stops the generation after this long (504 / an error event); 0: no limit. */
  timeoutMs: number;
  /** Called once per choice that ran to its end or abort (metrics); times from respond()'s start. */
  observe?: (o: GenerationObservation) => void;
  /** The request field `options.grammar` came from: a grammar the engine refuses is a 400 naming it. */
  grammarParam?: string;
}

/** Ties the request's lifetime to an AbortController (the runtime aborts `raw.signal` on disconnect). */
export function requestAbort(c: Context): AbortController {
  const abort = new AbortController();
  const signal = c.req.raw.signal;
  if (signal.aborted) abort.abort(signal.reason);
  else signal.addEventListener('abort', () => abort.abort(signal.reason), { once: true });
  return abort;
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

/** The view's whole reading of a finished choice. */
function outcomeOf(index: number, raw: RawOutcome, view: AssistantView, seen?: ChoiceOutcome): ChoiceOutcome {
  const out = seen ?? { index, text: '', content: '', reasoning: '', toolCalls: [], finishReason: 'stop', completionTokens: 0, cachedTokens: 0 };
  if (!seen) addDelta(out, view.push(raw.text));
  addDelta(out, view.flush());
  out.text = raw.text;
  out.finishReason = raw.finishReason === 'length' ? 'length' : out.toolCalls.length > 0 ? 'tool_calls' : 'stop';
  out.completionTokens = raw.completionTokens;
  out.cachedTokens = raw.cachedTokens;
  if (raw.logprobs) out.logprobs = raw.logprobs;
  if (raw.stopSequence !== undefined && out.finishReason === 'stop') out.stopSequence = raw.stopSequence;
  return out;
}

/** Reports a choice to `job.observe`; `startedAt` is when respond() began (queueing counts). */
function observe(job: Job, startedAt: number, raw: RawOutcome, finishReason: string): void {
  const since = (t: number | undefined) => (t === undefined ? undefined : t - startedAt);
  job.observe?.({ model: job.handle.id, promptTokens: job.prompt.length, completionTokens: raw.completionTokens, finishReason, firstTokenMs: since(raw.firstTokenAt), lastTokenMs: since(raw.lastTokenAt) });
}

/** Takes a slot for every choice; throws at once (nothing held) when the queue is full. */
function acquireAll(job: Job): Promise<Lease>[] {
  const pendings: Promise<Lease>[] = [];
  try {
    for (let i = 0; i < (job.n ?? 1); i++) {
      const pending = job.handle.pool.acquire(job.prompt, job.abort.signal);
      pending.catch(() => {}); // awaited later: no unhandled rejection meanwhile
      pendings.push(pending);
    }
  } catch (err) {
    job.abort.abort(err);
    for (const p of pendings) p.then((lease) => lease.release(), () => {});
    throw err;
  }
  return pendings;
}

/** Generates and answers; `job.handle` is released when the response is complete (or fails). */
export async function respond(c: Context, job: Job): Promise<Response> {
  const { handle, abort } = job;
  const startedAt = performance.now();
  let streaming = false;
  const timer = job.timeoutMs > 0 ? setTimeout(() => abort.abort(new RequestTimeout(job.timeoutMs)), job.timeoutMs) : undefined;
  try {
    const pendings = acquireAll(job);
    c.header('x-llmplayer-backend', handle.model.backend);
    if (!job.stream) {
      const choices = await Promise.all(
        pendings.map(async (pending, index) => {
          const lease = await pending.catch((err: unknown) => {
            throw timeoutError(abort) ?? err;
          });
          const raw = await runGeneration(lease, job.prompt, choiceOptions(job.options, index), abort.signal);
          if (raw.finishReason === 'abort') observe(job, startedAt, raw, 'abort');
          return { raw, index };
        }),
      ).catch((err: unknown) => {
        abort.abort(err); // one choice failed: stop the others
        throw requestError(job, err);
      });
      const timedOut = timeoutError(abort);
      if (timedOut) throw timedOut;
      const outcomes = choices.map(({ raw, index }) => outcomeOf(index, raw, (job.view ?? plainView)()));
      choices.forEach(({ raw }, i) => raw.finishReason !== 'abort' && observe(job, startedAt, raw, outcomes[i]!.finishReason)); // aborts: above
      return c.json(job.format.object(outcomes, totalUsage(job.prompt.length, outcomes)) as object);
    }
    streaming = true;
    return streamSSE(c, async (stream) => {
      stream.onAbort(() => abort.abort(new Error('client disconnected')));
      // Choices write concurrently: one chain keeps each event whole and in order.
      let chain = Promise.resolve();
      const send = (events: Sse[]) => {
        for (const e of events) {
          const data = typeof e.data === 'string' ? e.data : JSON.stringify(e.data);
          chain = chain.then(() => stream.writeSSE(e.event ? { event: e.event, data } : { data }));
        }
        return chain;
      };
      const keepAlive = job.keepAliveMs > 0 ? setInterval(() => void stream.write(': keep-alive\n\n'), job.keepAliveMs) : undefined;
      let failed = false;
      try {
        await send(job.format.start());
        const outcomes = await Promise.all(pendings.map((pending, index) => streamChoice(job, index, pending, send, startedAt))).catch((err: unknown) => {
          failed = !abort.signal.aborted; // a choice failed (not the client leaving): stop the others
          abort.abort(err);
          throw err;
        });
        const timedOut = timeoutError(abort);
        if (timedOut) return void (await send(errorEvents(job, timedOut)));
        if (abort.signal.aborted) return;
        await send(job.format.end(outcomes, totalUsage(job.prompt.length, outcomes)));
      } catch (err) {
        // Headers are gone: the error goes as an event (OpenAI's clients raise it as an APIError).
        const timedOut = timeoutError(abort);
        if (timedOut) return void (await send(errorEvents(job, timedOut)).catch(() => {}));
        if (abort.signal.aborted && !failed) return;
        const apiError = toApiError(requestError(job, err));
        if (apiError.code === 'internal_error') job.log(`${c.req.method} ${c.req.path} (stream)`, err);
        await send(errorEvents(job, apiError)).catch(() => {});
      } finally {
        clearTimeout(timer);
        clearInterval(keepAlive);
        for (const p of pendings) p.then((lease) => lease.release(), () => {}); // no-op unless never run
        handle.release();
      }
    });
  } finally {
    if (!streaming) {
      clearTimeout(timer);
      handle.release();
    }
  }
}

/** A grammar the engine refused is the request's fault: a 400 naming the field it came from. */
function requestError(job: Job, err: unknown): unknown {
  if (err instanceof LlmError && (err.code === 'GRAMMAR_INVALID' || err.code === 'GRAMMAR_UNSUPPORTED')) {
    const param = job.grammarParam ?? null;
    return invalidRequest(param ? `Invalid '${param}': ${err.message}` : err.message, param, err.code.toLowerCase());
  }
  return err;
}

function errorEvents(job: Job, err: ApiError): Sse[] {
  return job.format.error ? job.format.error(err) : [{ data: err.toJSON() }];
}

/** One choice of a stream: its deltas as they come (logprobs riding on the next delta sent). */
async function streamChoice(job: Job, index: number, pending: Promise<Lease>, send: (e: Sse[]) => Promise<void>, startedAt: number): Promise<ChoiceOutcome> {
  const lease = await pending;
  const view = (job.view ?? plainView)();
  const seen: ChoiceOutcome = { index, text: '', content: '', reasoning: '', toolCalls: [], finishReason: 'stop', completionTokens: 0, cachedTokens: 0 };
  let logprobs: TokenLogprobs[] = [];
  const wantLogprobs = !!job.options.logprobs || (job.options.topLogprobs ?? 0) > 0;
  const emit = async (delta: AssistantDelta) => {
    if (isEmptyDelta(delta) && logprobs.length === 0) return;
    addDelta(seen, delta);
    const lps = wantLogprobs ? logprobs : undefined;
    logprobs = [];
    await send(job.format.delta(index, delta, lps));
  };
  const raw = await runGeneration(lease, job.prompt, choiceOptions(job.options, index), job.abort.signal, {
    onToken: async (text, lp) => {
      if (lp) logprobs.push(lp);
      const delta = view.push(text);
      // Logprobs wait for text to carry them, unless the view holds text back for long.
      if (!isEmptyDelta(delta) || logprobs.length >= 16) await emit(delta);
    },
  });
  if (raw.finishReason === 'abort') {
    observe(job, startedAt, raw, 'abort');
    return outcomeOf(index, raw, view, seen);
  }
  const flushed = view.flush();
  await emit(flushed);
  const outcome = outcomeOf(index, raw, { push: () => ({}), flush: () => ({}) }, seen);
  observe(job, startedAt, raw, outcome.finishReason);
  await send(job.format.finish(outcome));
  return outcome;
}
