// What every route module gets from createApp, and the shared JSON body reader.
import type { Context } from 'hono';
import { invalidRequest, type ErrorLog } from './errors.js';
import type { ModelRegistry } from './registry.js';
import type { Telemetry } from './telemetry.js';

export interface ServerContext {
  readonly registry: ModelRegistry;
  readonly log: ErrorLog;
  readonly keepAliveMs: number;
  /** A generation running longer than this is stopped (504); 0: no limit. */
  readonly timeoutMs: number;
  /** Counters and histograms for GET /metrics (requests, tokens, generation timings). */
  readonly telemetry: Telemetry;
}

/** The request body as JSON (any value; validators check the shape). Malformed → 400. */
export async function readJson(c: Context): Promise<unknown> {
  const text = await c.req.text();
  if (text.trim() === '') {
    throw invalidRequest('The request body is empty: expected a JSON object.', null, 'invalid_json');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    const detail = err instanceof Error ? err.message.slice(0, 200) : '';
    throw invalidRequest(`We could not parse the JSON body of your request (${detail}).`, null, 'invalid_json');
  }
}
