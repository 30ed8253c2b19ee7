// GET /metrics beyond the pool gauges: HTTP requests by route/method/status (onError's and auth's
// statuses included, unknown paths folded into `other`), token and generation counters, and the
// time-to-first-token and tokens-per-second histograms, read back through a small parser of the
// exposition format.
import { describe, expect, it } from 'vitest';
import { createApp } from '../ts/server/index.js';
import { FakeModel } from './helpers/fake-model.js';
import { post, sseData } from './helpers/server.js';

type Json = Record<string, any>;

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses exposition text: samples (label values unescaped) and each family's TYPE. */
function parseMetrics(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE (\w+) (\w+)$/.exec(line);
    if (type) types.set(type[1]!, type[2]!);
    if (line.startsWith('#')) continue;
    const m = /^(\w+)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    const body = m[2] ?? '';
    const re = /(\w+)="((?:[^"\\]|\\.)*)"(,|$)/gy;
    let at = 0;
    for (let l = re.exec(body); l; l = re.exec(body)) {
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      at = re.lastIndex;
    }
    if (at !== body.length) throw new Error(`bad labels: ${JSON.stringify(body)}`);
    samples.push({ name: m[1]!, labels, value: m[3] === '+Inf' ? Infinity : Number(m[3]) });
  }
  return { samples, types };
}

function pick(samples: Sample[], name: string, labels: Record<string, string> = {}): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

/** The one sample's value; 0 when the series does not exist (counters start when first incremented). */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = pick(samples, name, labels);
  if (found.length > 1) throw new Error(`${name} ${JSON.stringify(labels)}: ${found.length} samples`);
  return found[0]?.value ?? 0;
}

async function scrape(app: { request: (p: string) => Response | Promise<Response> }): Promise<Sample[]> {
  const res = await app.request('/metrics');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const { samples, types } = parseMetrics(await res.text());
  expect(types.get('llmplayer_http_requests_total')).toBe('counter');
  expect(types.get('llmplayer_time_to_first_token_seconds')).toBe('histogram');
  return samples;
}

/** A histogram's buckets are cumulative, end with +Inf = _count; returns its count and sum. */
function histogram(samples: Sample[], name: string, labels: Record<string, string>): { count: number; sum: number; buckets: Map<number, number> } {
  const buckets = pick(samples, `${name}_bucket`, labels).map((s) => [Number(s.labels.le === '+Inf' ? Infinity : s.labels.le), s.value] as const);
  expect(buckets.length).toBeGreaterThan(2);
  for (let i = 1; i < buckets.length; i++) {
    expect(buckets[i]![0]).toBeGreaterThan(buckets[i - 1]![0]);
    expect(buckets[i]![1]).toBeGreaterThanOrEqual(buckets[i - 1]![1]);
  }
  expect(buckets.at(-1)![0]).toBe(Infinity);
  const count = value(samples, `${name}_count`, labels);
  expect(buckets.at(-1)![1]).toBe(count);
  return { count, sum: value(samples, `${name}_sum`, labels), buckets: new Map(buckets) };
}

const MODEL = 'fa"ke\\m'; // a quote and a backslash: escaped in label values

describe('server: /metrics counters and histograms', () => {
  it('counts requests, tokens and generations; histograms match the generations', async () => {
    const delay = 5;
    const app = createApp({ models: { id: MODEL, model: new FakeModel({ tokenDelayMs: delay }) }, log: () => {} });
    const chat = (content: string, extra: Json = {}) => post(app, '/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content }], temperature: 0, ...extra });
    const usages: Json[] = [];
    const started = performance.now();

    const a = await chat('hi');
    expect(a.status).toBe(200);
    const aBody = (await a.json()) as Json;
    expect(aBody.choices[0].finish_reason).toBe('stop');
    usages.push(aBody.usage);

    const b = await post(app, '/v1/completions', { model: MODEL, prompt: 'count', max_tokens: 5, temperature: 0 });
    expect(b.status).toBe(200);
    const bBody = (await b.json()) as Json;
    expect(bBody.choices[0].finish_reason).toBe('length');
    usages.push(bBody.usage);

    const s = await chat('stream me', { stream: true, stream_options: { include_usage: true } });
    expect(s.status).toBe(200);
    const chunks = sseData(await s.text()).filter((d) => d !== '[DONE]').map((d) => JSON.parse(d) as Json);
    usages.push(chunks.at(-1)!.usage);
    const elapsed = (performance.now() - started) / 1000;

    expect((await chat('hi', { temperature: 'hot' })).status).toBe(400);
    expect((await app.request('/no/such/path')).status).toBe(404);
    expect((await app.request('/v1/models/x%22%0A{evil}', { method: 'DELETE' })).status).toBe(404);
    expect((await chat('explode')).status).toBe(500); // thrown to onError
    expect((await app.request(`/v1/models/${encodeURIComponent(MODEL)}`)).status).toBe(200);
    expect((await app.request('/v1/models/nope')).status).toBe(404); // thrown (model_not_found) on a known route

    const m = await scrape(app);
    const http = (route: string, method: string, status: string) => value(m, 'llmplayer_http_requests_total', { route, method, status });
    expect(http('/v1/chat/completions', 'POST', '200')).toBe(2);
    expect(http('/v1/chat/completions', 'POST', '400')).toBe(1);
    expect(http('/v1/chat/completions', 'POST', '500')).toBe(1);
    expect(http('/v1/completions', 'POST', '200')).toBe(1);
    expect(http('other', 'GET', '404')).toBe(1);
    expect(http('other', 'DELETE', '404')).toBe(1);
    expect(http('/v1/models/:id', 'GET', '200')).toBe(1);
    expect(http('/v1/models/:id', 'GET', '404')).toBe(1);
    // Nothing else: every request above is in exactly one series, no path leaked into a label.
    expect(pick(m, 'llmplayer_http_requests_total').reduce((sum, x) => sum + x.value, 0)).toBe(9);
    expect(new Set(pick(m, 'llmplayer_http_requests_total').map((x) => x.labels.route))).toEqual(new Set(['/v1/chat/completions', '/v1/completions', 'other', '/v1/models/:id']));

    const model = { model: MODEL };
    expect(value(m, 'llmplayer_prompt_tokens_total', model)).toBe(usages.reduce((sum, u) => sum + u.prompt_tokens, 0));
    expect(value(m, 'llmplayer_completion_tokens_total', model)).toBe(usages.reduce((sum, u) => sum + u.completion_tokens, 0));
    expect(value(m, 'llmplayer_generations_total', { ...model, finish_reason: 'stop' })).toBe(2);
    expect(value(m, 'llmplayer_generations_total', { ...model, finish_reason: 'length' })).toBe(1);
    expect(pick(m, 'llmplayer_generations_total')).toHaveLength(2); // the exploded one did not finish

    const ttft = histogram(m, 'llmplayer_time_to_first_token_seconds', model);
    expect(ttft.count).toBe(3);
    // Each first token waited at least one token delay; together no longer than the requests took.
    expect(ttft.sum).toBeGreaterThanOrEqual((3 * delay) / 1000);
    expect(ttft.sum).toBeLessThanOrEqual(elapsed);
    const speed = histogram(m, 'llmplayer_generation_tokens_per_second', model);
    expect(speed.count).toBe(3); // every generation had 2 tokens or more
    // Tokens come at least `delay` ms apart: no generation decoded faster than 1000/delay per second.
    expect(speed.sum / speed.count).toBeGreaterThan(0);
    expect(speed.sum / speed.count).toBeLessThanOrEqual(1000 / delay);
    expect(speed.buckets.get(1000 / delay)).toBe(3);

    // The scrape itself is counted once it has been answered.
    expect(value(await scrape(app), 'llmplayer_http_requests_total', { route: '/metrics', method: 'GET', status: '200' })).toBe(1);
  });

  it('times the first token from the request, waiting for a sequence included', async () => {
    const delay = 5;
    const app = createApp({ models: { id: 'm', model: new FakeModel({ tokenDelayMs: delay }) }, parallel: 1 });
    const count = () => post(app, '/v1/completions', { model: 'm', prompt: 'count', max_tokens: 20, temperature: 0 });
    // One sequence: the second waits for the first's 20 tokens (≥ 100 ms) before its own first.
    const [first, second] = await Promise.all([count(), count()]);
    expect([first.status, second.status]).toEqual([200, 200]);
    const ttft = histogram(await scrape(app), 'llmplayer_time_to_first_token_seconds', { model: 'm' });
    expect(ttft.count).toBe(2);
    expect(ttft.sum).toBeGreaterThanOrEqual((20 * delay + 2 * delay) / 1000);
  });

  it('counts a generation the client left as one abort, streamed or not', async () => {
    const model = new FakeModel({ tokenDelayMs: 5 });
    const app = createApp({ models: { id: 'm', model } });
    for (const stream of [false, true]) {
      const ac = new AbortController();
      const res = Promise.resolve(app.request('/v1/completions', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', prompt: 'count', max_tokens: 1000, stream }), signal: ac.signal }));
      res.catch(() => {});
      await new Promise((r) => setTimeout(r, 50));
      ac.abort();
      await res.then((r) => r.text()).catch(() => {});
      await new Promise((r) => setTimeout(r, 50)); // the generation sees the abort at its next token
    }
    const m = await scrape(app);
    expect(value(m, 'llmplayer_generations_total', { model: 'm', finish_reason: 'abort' })).toBe(2);
    expect(pick(m, 'llmplayer_generations_total')).toHaveLength(1);
    expect(histogram(m, 'llmplayer_time_to_first_token_seconds', { model: 'm' }).count).toBe(2);
  });

  it('counts answers from middleware (401) and the CORS preflight', async () => {
    const app = createApp({ models: new FakeModel(), apiKey: 'k', cors: true });
    expect((await post(app, '/v1/chat/completions', {})).status).toBe(401);
    expect((await app.request('/v1/chat/completions', { method: 'OPTIONS', headers: { origin: 'https://a.example', 'access-control-request-method': 'POST' } })).status).toBe(204);
    expect((await app.request('/health')).status).toBe(200);
    const res = await app.request('/metrics', { headers: { authorization: 'Bearer k' } });
    const { samples } = parseMetrics(await res.text());
    expect(value(samples, 'llmplayer_http_requests_total', { route: '/v1/chat/completions', method: 'POST', status: '401' })).toBe(1);
    expect(value(samples, 'llmplayer_http_requests_total', { method: 'OPTIONS', status: '204' })).toBe(1);
    expect(value(samples, 'llmplayer_http_requests_total', { route: '/health', method: 'GET', status: '200' })).toBe(1);
  });
});
