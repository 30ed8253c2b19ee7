// The server on continuous batching (BatchPool over the engine's scheduler), native backend,
// a quantized fixture (so a batched row rounds as it would alone): concurrent requests each
// answer what they answer alone, /metrics reports the KV budget, a full queue is a 503 with
// Retry-After, a slow request is stopped with 504 `timeout`, and drain() lets running
// requests finish while new ones get 503.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { loadModel, type Model } from '../ts/index.js';
import { createApp } from '../ts/server/app.js';
import { serve, type RunningServer } from '../ts/server/node.js';
import { fixturesRoot } from './helpers/fixtures.js';
import { post, type ErrorBody } from './helpers/server.js';

const root = fixturesRoot();

describe.skipIf(root === null)('server with continuous batching', () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(join(root!, 'models', 'llama.Q8_0.gguf'), { threads: 2, contextSize: 256 });
  });
  afterAll(() => model?.dispose());

  const noEog = () => Object.fromEntries([...Array(model.nVocab).keys()].filter((t) => model.isEndOfGeneration(t)).map((t) => [t, -100]));
  const body = (i: number, extra: object = {}) => ({ prompt: [1, 10 + i, 20 + i, 30 + 2 * i, 7], max_tokens: 16, temperature: 0, ...extra });

  it('answers 12 concurrent requests (4 batched, the rest queued) each as alone, then frees every sequence', async () => {
    const app = createApp({ models: { id: 'm', model }, parallel: 4, log: () => {} });
    const alone: string[] = [];
    for (let i = 0; i < 12; i++) alone.push(((await (await post(app, '/v1/completions', body(i))).json()) as any).choices[0].text);
    const got = await Promise.all(Array.from({ length: 12 }, async (_, i) => (await (await post(app, '/v1/completions', body(i))).json()) as any));
    got.forEach((g, i) => expect(g.choices[0].text, `request ${i}`).toBe(alone[i]));
    // The same prompts again: each finds its prefix cached (on its own sequence or by copy).
    const again = (await (await post(app, '/v1/completions', body(11))).json()) as any;
    expect(again.usage.prompt_tokens_details.cached_tokens).toBe(4);
    const metrics = await (await app.request('/metrics')).text();
    expect(metrics).toContain('llmplayer_requests_running{model="m"} 0');
    expect(metrics).toContain('llmplayer_kv_positions_active{model="m"} 0');
    expect(metrics).toContain(`llmplayer_kv_positions_budget{model="m"} ${4 * 256}`);
    expect(metrics).toMatch(/llmplayer_kv_positions_allocated\{model="m"\} [1-9]/);
  });

  it('a full queue is a 503 with Retry-After; a slow request is stopped with 504', async () => {
    const app = createApp({ models: { id: 'm', model }, parallel: 1, maxQueue: 1, requestTimeoutMs: 300, log: () => {} });
    const long = body(0, { max_tokens: 200, logit_bias: noEog() });
    const running = [post(app, '/v1/completions', long), post(app, '/v1/completions', long)];
    await new Promise((r) => setTimeout(r, 20));
    const refused = await post(app, '/v1/completions', body(1));
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(((await refused.json()) as ErrorBody).error.code).toBe('server_overloaded');
    const [a, b] = await Promise.all(running);
    // 200 tokens take longer than 300 ms here only if the machine is slow; either way the
    // answer is a complete one or a 504 in the one error shape.
    for (const r of [a!, b!]) {
      if (r.status === 504) expect(((await r.json()) as ErrorBody).error.code).toBe('timeout');
      else expect(r.status).toBe(200);
    }
    const slow = createApp({ models: { id: 'm', model }, parallel: 1, requestTimeoutMs: 1, log: () => {} });
    const timedOut = await post(slow, '/v1/completions', long);
    expect(timedOut.status).toBe(504);
    expect(((await timedOut.json()) as ErrorBody).error).toMatchObject({ type: 'server_error', code: 'timeout' });
  });

  it('drain lets running requests finish and refuses new ones', async () => {
    const server: RunningServer = await serve({ models: { id: 'm', model }, port: 0, parallel: 2, log: () => {} });
    const url = `${server.url}/v1/completions`;
    const send = (b: object) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(b) });
    const running = send(body(2, { max_tokens: 240, logit_bias: noEog() }));
    while (server.registry.inFlight === 0) await new Promise((r) => setTimeout(r, 1));
    const drained = server.drain(10_000);
    const res = await running;
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).usage.completion_tokens).toBe(240);
    expect(await drained).toBe(0);
    await expect(send(body(3))).rejects.toThrow(); // no longer listening
  });
});
