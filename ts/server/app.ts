// createApp(): the OpenAI-compatible Hono app. Runtime-agnostic (no `node:` imports): Node, Bun,
// Deno and workerd entries wrap `app.fetch` (see node.ts, bun.ts, deno.ts, worker.ts).
import { Hono, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { matchedRoutes } from 'hono/route';
import { chatRoutes } from './chat.js';
import { completionRoutes } from './completions.js';
import { embeddingRoutes } from './embeddings.js';
import type { ServerContext } from './context.js';
import { ApiError, consoleLog, errorHandler, handleNotFound, payloadTooLarge, type ErrorLog } from './errors.js';
import { metricsRoutes } from './metrics.js';
import { modelRoutes } from './models.js';
import { toRegistry, type ModelsOption, type RegistryOptions } from './registry.js';
import { tokenizeRoutes } from './tokenize.js';
import { responsesRoutes } from './responses.js';
import { Telemetry } from './telemetry.js';
import { MESSAGES_PATH, messagesErrorHandler, messagesRoutes } from './messages.js';
import { UI_PATH, uiRoutes } from './ui.js';

/** Default request body limit: 4 MiB (a 128k-token prompt is ~0.5 MB of text). */
export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;

export interface AppOptions extends RegistryOptions {
  /**
   * What to serve: a Model (id from its name), a Promise of one (id `model`), `{ id, model }` or
   * `{ id, load }` entries, or a ModelRegistry (to keep a handle for `close()`).
   */
  models: ModelsOption;
  /** When set, every route but /health and the chat page at / requires `Authorization: Bearer <apiKey>` (or `x-api-key: <apiKey>`). */
  apiKey?: string;
  /** Request bodies above this many bytes get 413. Default DEFAULT_MAX_BODY_BYTES (4 MiB). */
  maxBodyBytes?: number;
  /** Allow browser pages from these origins (`true`: any). Default: no CORS headers. */
  cors?: boolean | string[];
  /** Interval of SSE `: keep-alive` comments while a stream waits for its slot or first token. Default 15000; 0 disables. */
  sseKeepAliveMs?: number;
  /**
   * A request still generating (or waiting to) after this many ms is stopped: 504 `timeout`, or
   * an error event on a stream. Default 600000 (llama-server's `--timeout`); 0 disables.
   */
  requestTimeoutMs?: number;
  /** Where unexpected errors (500s) are reported. Default: console.error. */
  log?: ErrorLog;
  /** Serve the chat page at `/` (reachable without the API key; the API it calls still needs it). Default true. */
  ui?: boolean;
}

/** Constant-time string comparison (the key's length is not secret). */
function sameKey(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

const PUBLIC_PATHS = new Set(['/health', '/v1/health']);

function requireApiKey(apiKey: string, publicPaths: ReadonlySet<string>): MiddlewareHandler {
  return async (c, next) => {
    if (c.req.method === 'OPTIONS' || publicPaths.has(c.req.path)) return next();
    const header = c.req.header('authorization') ?? '';
    // Bearer (OpenAI's clients) or `x-api-key` (Anthropic's).
    const key = /^Bearer\s+(.+)$/i.exec(header.trim())?.[1] ?? c.req.header('x-api-key');
    if (key === undefined || !sameKey(key, apiKey)) {
      const message = key !== undefined ? 'Incorrect API key provided.' : 'You did not provide an API key (Authorization: Bearer <key>, or x-api-key: <key>).';
      throw new ApiError(401, message, 'authentication_error', null, 'invalid_api_key');
    }
    return next();
  };
}

/**
 * Counts every request by its route pattern (`/v1/models/:id`, not the id), method and final
 * status. First in the chain: answers from later middleware (401, 413, CORS preflights) count, and
 * Hono's compose has already replaced `c.res` with onError's response when `next()` returns.
 * Unmatched paths are `other`, so clients cannot create label values.
 */
function countRequests(telemetry: Telemetry): MiddlewareHandler {
  return async (c, next) => {
    await next();
    // `app.use` entries match as method ALL; the handler's route is the one with a method.
    const path = matchedRoutes(c).find((r) => r.method !== 'ALL')?.path;
    telemetry.request(path === undefined ? 'other' : path.replace(/\{[^}]*\}/g, ''), c.req.method, c.res.status);
  };
}

export function createApp(options: AppOptions): Hono {
  const registry = toRegistry(options.models, options);
  const ctx: ServerContext = { registry, log: options.log ?? consoleLog, keepAliveMs: options.sseKeepAliveMs ?? 15_000, timeoutMs: options.requestTimeoutMs ?? 600_000, telemetry: new Telemetry() };
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const app = new Hono();
  const openaiErrors = errorHandler(ctx.log);
  const anthropicErrors = messagesErrorHandler(ctx.log);
  // Anthropic's route answers errors in Anthropic's shape, auth and body-limit errors included.
  app.onError((err, c) => (c.req.path === MESSAGES_PATH ? anthropicErrors(err, c) : openaiErrors(err, c)));
  app.notFound(handleNotFound);
  app.use('*', countRequests(ctx.telemetry));
  if (options.cors) app.use('*', cors({ origin: options.cors === true ? '*' : options.cors, maxAge: 600 }));
  const ui = options.ui ?? true;
  if (options.apiKey) app.use('*', requireApiKey(options.apiKey, ui ? new Set([...PUBLIC_PATHS, UI_PATH]) : PUBLIC_PATHS));
  app.use(
    '*',
    bodyLimit({
      maxSize: maxBodyBytes,
      onError: () => {
        throw payloadTooLarge(maxBodyBytes);
      },
    }),
  );
  app.route('/', chatRoutes(ctx));
  app.route('/', completionRoutes(ctx));
  app.route('/', responsesRoutes(ctx));
  app.route('/', messagesRoutes(ctx));
  app.route('/', embeddingRoutes(ctx));
  app.route('/', modelRoutes(ctx));
  app.route('/', tokenizeRoutes(ctx));
  app.route('/', metricsRoutes(ctx));
  if (ui) app.route('/', uiRoutes());
  return app;
}
