// The Hono app through `app.request`, against the fake model: every endpoint, the SSE sequence,
// parameter mapping, context limits, auth, the registry and the queue.
import { describe, expect, it } from 'vitest';
import { createApp } from '../ts/server/index.js';
import { ModelRegistry } from '../ts/server/registry.js';
import { FakeModel } from './helpers/fake-model.js';
import { errorOf, post, sseData, waitFor } from './helpers/server.js';

type Json = Record<string, any>;

const chat = (content: string, extra: Json = {}) => ({ model: 'x', messages: [{ role: 'user', content }], temperature: 0, ...extra });

async function streamChunks(res: Response): Promise<{ chunks: Json[]; done: boolean }> {
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const data = sseData(await res.text());
  const done = data.at(-1) === '[DONE]';
  return { chunks: data.filter((d) => d !== '[DONE]').map((d) => JSON.parse(d) as Json), done };
}

describe('server: models and health', () => {
  it('lists and retrieves models in OpenAI shape', async () => {
    const app = createApp({ models: new FakeModel() });
    const list = (await (await app.request('/v1/models')).json()) as Json;
    expect(list.object).toBe('list');
    expect(list.data).toEqual([{ id: 'fake-echo', object: 'model', created: expect.any(Number), owned_by: 'llmplayer', status: 'ready' }]);
    const one = await app.request('/v1/models/fake-echo');
    expect(one.status).toBe(200);
    expect(((await one.json()) as Json).id).toBe('fake-echo');
    const missing = await app.request('/v1/models/nope');
    expect(missing.status).toBe(404);
    expect(await errorOf(missing)).toMatchObject({ type: 'not_found_error', code: 'model_not_found', param: 'model' });
  });

  it('accepts model ids with slashes', async () => {
    const app = createApp({ models: { id: 'org/tiny', model: new FakeModel() } });
    expect((await app.request('/v1/models/org/tiny')).status).toBe(200);
  });

  it('reports loading (503), then ready; a failed startup model is an error (503)', async () => {
    let resolve!: (m: FakeModel) => void;
    const app = createApp({ models: new Promise<FakeModel>((r) => (resolve = r)) });
    const loading = await app.request('/health');
    expect(loading.status).toBe(503);
    expect(((await loading.json()) as Json).status).toBe('loading');
    const pending = post(app, '/v1/chat/completions', chat('hi')); // waits for the load
    resolve(new FakeModel());
    expect((await pending).status).toBe(200);
    const ready = await app.request('/health');
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready', models: [{ id: 'model', status: 'ready' }] });

    const broken = createApp({ models: { id: 'b', load: () => Promise.reject(new Error('bad file')), preload: true } });
    await new Promise((r) => setTimeout(r, 0));
    const h = await broken.request('/health');
    expect(h.status).toBe(503);
    expect(await h.json()).toMatchObject({ status: 'error', models: [{ id: 'b', status: 'error', error: 'bad file' }] });
    const res = await post(broken, '/v1/chat/completions', chat('hi'));
    expect(res.status).toBe(500);
    expect(await errorOf(res)).toMatchObject({ type: 'server_error', code: 'model_load_failed' });
  });

  it('answers unknown routes with the OpenAI error shape', async () => {
    const app = createApp({ models: new FakeModel() });
    const res = await app.request('/v1/nothing');
    expect(res.status).toBe(404);
    expect(await errorOf(res)).toMatchObject({ type: 'not_found_error', code: 'unknown_url' });
  });
});

describe('server: chat completions', () => {
  it('returns a chat.completion with usage', async () => {
    const model = new FakeModel();
    const app = createApp({ models: model });
    const res = await post(app, '/v1/chat/completions', chat('hello'));
    expect(res.status).toBe(200);
    expect(res.headers.get('x-llmplayer-backend')).toBe('native');
    const body = (await res.json()) as Json;
    expect(body).toMatchObject({
      object: 'chat.completion',
      model: 'fake-echo',
      system_fingerprint: 'llmplayer-native',
      choices: [{ index: 0, message: { role: 'assistant', content: 'echo: hello', refusal: null }, logprobs: null, finish_reason: 'stop' }],
    });
    expect(body.id).toMatch(/^chatcmpl-[0-9a-f]{32}$/);
    const prompt = model.calls[0]!.prompt;
    expect(prompt.filter((t) => t === 0)).toHaveLength(1); // the template's <s>, not a second BOS
    expect(body.usage).toEqual({
      prompt_tokens: prompt.length,
      completion_tokens: 'echo: hello'.length,
      total_tokens: prompt.length + 'echo: hello'.length,
      prompt_tokens_details: { cached_tokens: 0 },
    });
  });

  it('streams role, content deltas, finish and [DONE]; usage only when asked', async () => {
    const app = createApp({ models: new FakeModel() });
    const { chunks, done } = await streamChunks(await post(app, '/v1/chat/completions', chat('abc', { stream: true })));
    expect(done).toBe(true);
    expect(chunks[0]!.choices[0]).toEqual({ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null });
    const last = chunks.at(-1)!;
    expect(last.choices[0]).toEqual({ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' });
    expect(chunks.slice(1, -1).map((c) => c.choices[0].delta.content).join('')).toBe('echo: abc');
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && !('usage' in c))).toBe(true);

    const withUsage = await streamChunks(
      await post(app, '/v1/chat/completions', chat('abc', { stream: true, stream_options: { include_usage: true } })),
    );
    const u = withUsage.chunks.at(-1)!;
    expect(u.choices).toEqual([]);
    expect(u.usage).toMatchObject({ completion_tokens: 9, total_tokens: u.usage.prompt_tokens + 9 });
    expect(withUsage.chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
    expect(withUsage.chunks.at(-2)!.choices[0].finish_reason).toBe('stop');
  });

  it('honours max_tokens / max_completion_tokens and stop', async () => {
    const app = createApp({ models: new FakeModel() });
    const a = (await (await post(app, '/v1/chat/completions', chat('count', { max_tokens: 5 }))).json()) as Json;
    expect(a.choices[0]).toMatchObject({ message: { content: '1 2 3' }, finish_reason: 'length' });
    expect(a.usage.completion_tokens).toBe(5);
    const b = (await (await post(app, '/v1/chat/completions', chat('count', { max_completion_tokens: 3, max_tokens: 50 }))).json()) as Json;
    expect(b.choices[0].message.content).toBe('1 2');
    const c = (await (await post(app, '/v1/chat/completions', chat('count', { stop: ['4 5', 'zzz'] }))).json()) as Json;
    expect(c.choices[0]).toMatchObject({ message: { content: '1 2 3 ' }, finish_reason: 'stop' });
    const s = await streamChunks(await post(app, '/v1/chat/completions', chat('count', { stop: '3', stream: true })));
    expect(s.chunks.map((x) => x.choices[0]?.delta.content ?? '').join('')).toBe('1 2 ');
    expect(s.chunks.at(-1)!.choices[0].finish_reason).toBe('stop');
  });

  it('maps sampling parameters onto the session options', async () => {
    const model = new FakeModel();
    const app = createApp({ models: model });
    const res = await post(
      app,
      '/v1/chat/completions',
      chat('hi', {
        temperature: 0.7,
        top_p: 0.9,
        top_k: 40,
        min_p: 0.05,
        presence_penalty: 0.5,
        frequency_penalty: -0.5,
        repeat_penalty: 1.1,
        seed: -1,
        logit_bias: { '104': -100, '5': 2.5 },
        user: 'u1',
        metadata: { a: 'b' },
        store: false,
        service_tier: 'auto',
        parallel_tool_calls: false,
        tool_choice: 'none',
        tools: [],
        response_format: { type: 'text' },
        logprobs: false,
        n: 1,
      }),
    );
    expect(res.status).toBe(200);
    expect(model.calls[0]!.options).toEqual({
      temperature: 0.7,
      topP: 0.9,
      topK: 40,
      minP: 0.05,
      presencePenalty: 0.5,
      frequencyPenalty: -0.5,
      repeatPenalty: 1.1,
      seed: 0xffffffff,
      logitBias: { 104: -Infinity, 5: 2.5 },
      maxTokens: 256 - model.calls[0]!.prompt.length,
    });
  });

  it('is deterministic for a seed at temperature > 0', async () => {
    const app = createApp({ models: new FakeModel() });
    const text = async (seed: number) =>
      ((await (await post(app, '/v1/chat/completions', chat('the quick brown fox', { temperature: 1.5, seed }))).json()) as Json).choices[0].message.content;
    const a = await text(42);
    expect(await text(42)).toBe(a);
    expect(a).not.toBe('echo: the quick brown fox');
    expect(await text(43)).not.toBe(a);
  });

  it('rejects prompts beyond the context and ends long generations with length', async () => {
    const model = new FakeModel({ contextSize: 64 });
    const app = createApp({ models: model });
    const big = await post(app, '/v1/chat/completions', chat('y'.repeat(100)));
    expect(big.status).toBe(400);
    expect(await errorOf(big)).toMatchObject({ type: 'invalid_request_error', code: 'context_length_exceeded', param: 'messages' });
    const res = (await (await post(app, '/v1/chat/completions', chat('count', { max_tokens: 1000 }))).json()) as Json;
    expect(res.choices[0].finish_reason).toBe('length');
    expect(res.usage.total_tokens).toBe(64);
  });

  it('renders developer as system, joins text parts, and passes chat_template_kwargs', async () => {
    const model = new FakeModel();
    const app = createApp({ models: model });
    const res = await post(app, '/v1/chat/completions', {
      messages: [
        { role: 'developer', content: 'be brief' },
        { role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] },
        { role: 'assistant', content: null },
        { role: 'tool', content: 'result', tool_call_id: 'c1' },
        { role: 'user', content: 'last' },
      ],
      temperature: 0,
      chat_template_kwargs: { prefix: '' },
    });
    expect(res.status).toBe(200);
    const text = model.detokenize(model.calls[0]!.prompt, { special: true });
    expect(text).toBe(
      '<s><|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\na\nb<|im_end|>\n<|im_start|>assistant\n<|im_end|>\n' +
        '<|im_start|>tool\nresult<|im_end|>\n<|im_start|>user\nlast<|im_end|>\n<|im_start|>assistant\n',
    );
  });

  it('reuses the KV prefix across turns (and reports cached_tokens)', async () => {
    const model = new FakeModel();
    const app = createApp({ models: model, parallel: 2 });
    const turn1 = [{ role: 'user', content: 'first question here' }];
    const r1 = (await (await post(app, '/v1/chat/completions', { messages: turn1, temperature: 0 })).json()) as Json;
    const other = (await (await post(app, '/v1/chat/completions', chat('something else entirely, long enough that the shared chat header is under a tenth of it: ' + 'z'.repeat(60)))).json()) as Json;
    expect(other.usage.prompt_tokens_details.cached_tokens).toBe(0);
    const turn2 = [...turn1, r1.choices[0].message, { role: 'user', content: 'follow-up' }];
    const r2 = (await (await post(app, '/v1/chat/completions', { messages: turn2, temperature: 0 })).json()) as Json;
    const call = model.calls[2]!;
    expect(call.session).toBe(model.calls[0]!.session); // the slot that holds turn 1
    expect(call.reused).toBeGreaterThan(r1.usage.prompt_tokens);
    expect(r2.usage.prompt_tokens_details.cached_tokens).toBe(call.reused);
  });

  it('turns a template raise into 400 and a backend failure into 500 / an SSE error', async () => {
    const logged: unknown[] = [];
    const app = createApp({ models: new FakeModel(), log: (_msg, err) => logged.push(err) });
    const raised = await post(app, '/v1/chat/completions', chat('__raise__'));
    expect(raised.status).toBe(400);
    expect(await errorOf(raised)).toMatchObject({ param: 'messages', code: 'chat_template_error' });
    const failed = await post(app, '/v1/chat/completions', chat('explode'));
    expect(failed.status).toBe(500);
    expect(await errorOf(failed)).toMatchObject({ type: 'server_error', message: expect.stringContaining('backend exploded') });
    const streamed = await post(app, '/v1/chat/completions', chat('explode', { stream: true }));
    const data = sseData(await streamed.text());
    expect(JSON.parse(data.at(-1)!)).toMatchObject({ error: { type: 'server_error' } });
    expect(data).not.toContain('[DONE]');
    const ok = await post(app, '/v1/chat/completions', chat('fine'));
    expect(((await ok.json()) as Json).choices[0].message.content).toBe('echo: fine');
    expect(logged).toHaveLength(2); // unexpected errors reach the log; client errors do not
  });
});

describe('server: completions', () => {
  it('takes a string, [string], token ids or [token ids]; default max_tokens is 16', async () => {
    const model = new FakeModel();
    const app = createApp({ models: model });
    const one = async (prompt: unknown, extra: Json = {}) => (await (await post(app, '/v1/completions', { prompt, temperature: 0, ...extra })).json()) as Json;
    const a = await one('hi');
    expect(a).toMatchObject({ object: 'text_completion', choices: [{ index: 0, text: 'echo: hi', logprobs: null, finish_reason: 'stop' }] });
    expect(a.id).toMatch(/^cmpl-/);
    expect(a.usage.prompt_tokens).toBe(3); // BOS + 2 characters
    expect((await one(['hi'])).choices[0].text).toBe('echo: hi');
    const ids = model.tokenize('hi', { addSpecial: false });
    expect((await one(ids)).choices[0].text).toBe('echo: hi');
    expect((await one([ids])).usage.prompt_tokens).toBe(2);
    const counted = await one('count');
    expect(counted.choices[0].finish_reason).toBe('length');
    expect(counted.usage.completion_tokens).toBe(16);
  });

  it('streams text chunks, a finish chunk, usage and [DONE]', async () => {
    const app = createApp({ models: new FakeModel() });
    const res = await post(app, '/v1/completions', { prompt: 'count', max_tokens: 7, stream: true, stream_options: { include_usage: true } });
    const { chunks, done } = await streamChunks(res);
    expect(done).toBe(true);
    expect(chunks.slice(0, -2).map((c) => c.choices[0].text).join('')).toBe('1 2 3 4');
    expect(chunks.at(-2)!.choices[0]).toEqual({ index: 0, text: '', logprobs: null, finish_reason: 'length' });
    expect(chunks.at(-1)).toMatchObject({ object: 'text_completion', choices: [], usage: { completion_tokens: 7 } });
  });

  it('rejects out-of-vocabulary token ids', async () => {
    const app = createApp({ models: new FakeModel() });
    const res = await post(app, '/v1/completions', { prompt: [5, 70000] });
    expect(res.status).toBe(400);
    expect(await errorOf(res)).toMatchObject({ param: 'prompt[1]' });
  });
});

describe('server: tokenize', () => {
  it('tokenizes and detokenizes in llama.cpp shapes', async () => {
    const app = createApp({ models: new FakeModel() });
    const t = async (body: Json) => (await (await post(app, '/tokenize', body)).json()) as Json;
    expect(await t({ content: 'ab' })).toEqual({ tokens: [101, 102] });
    expect(await t({ content: 'ab', add_special: true })).toEqual({ tokens: [0, 101, 102] });
    expect(await t({ prompt: '<s>a', parse_special: false })).toEqual({ tokens: [64, 119, 66, 101] });
    expect(await t({ content: '<s>a', with_pieces: true })).toEqual({ tokens: [{ id: 0, piece: '<s>' }, { id: 101, piece: 'a' }] });
    const d = await post(app, '/detokenize', { tokens: [0, 101, 102] });
    expect(await d.json()).toEqual({ content: '<s>ab' });
    expect(await (await post(app, '/detokenize', { tokens: [] })).json()).toEqual({ content: '' });
    const bad = await post(app, '/detokenize', { tokens: [1, -1] });
    expect(bad.status).toBe(400);
    expect(await errorOf(bad)).toMatchObject({ param: 'tokens[1]' });
  });

  it('serves tokenize on a vocab-only model and refuses to generate with it', async () => {
    const app = createApp({ models: new FakeModel({ vocabOnly: true }) });
    expect((await app.request('/health')).status).toBe(200);
    expect(await (await post(app, '/tokenize', { content: 'a' })).json()).toEqual({ tokens: [101] });
    for (const [path, body] of [
      ['/v1/chat/completions', chat('x')],
      ['/v1/completions', { prompt: 'x' }],
    ] as const) {
      const res = await post(app, path, body);
      expect(res.status).toBe(400);
      expect(await errorOf(res)).toMatchObject({ param: 'model', code: 'model_not_generative' });
    }
  });
});

describe('server: auth', () => {
  it('requires the bearer key when apiKey is set (not for /health)', async () => {
    const app = createApp({ models: new FakeModel(), apiKey: 'sk-local' });
    const none = await app.request('/v1/models');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    expect(await errorOf(none)).toMatchObject({ type: 'authentication_error', code: 'invalid_api_key' });
    const wrong = await post(app, '/v1/chat/completions', chat('x'), { authorization: 'Bearer sk-nope' });
    expect(wrong.status).toBe(401);
    const right = await post(app, '/v1/chat/completions', chat('x'), { authorization: 'Bearer sk-local' });
    expect(right.status).toBe(200);
    expect((await app.request('/health')).status).toBe(200);
  });

  it('ignores a bearer token when no apiKey is set', async () => {
    const app = createApp({ models: new FakeModel() });
    expect((await post(app, '/v1/chat/completions', chat('x'), { authorization: 'Bearer whatever' })).status).toBe(200);
  });
});

describe('server: registry and queue', () => {
  it('serves several models lazily by id, with an LRU limit', async () => {
    const loaded: string[] = [];
    const models = new Map<string, FakeModel>();
    const entry = (id: string) => ({
      id,
      load: async () => {
        loaded.push(id);
        const m = new FakeModel({ name: id });
        models.set(id, m);
        return m;
      },
    });
    const registry = new ModelRegistry([entry('a'), entry('b'), { id: 'bad', load: () => Promise.reject(new Error('nope')) }], { maxLoaded: 1 });
    const app = createApp({ models: registry });
    expect((await app.request('/health')).status).toBe(200); // lazy entries do not hold up health
    expect(((await (await app.request('/v1/models')).json()) as Json).data.map((m: Json) => m.status)).toEqual(['unloaded', 'unloaded', 'unloaded']);
    const missing = await post(app, '/v1/chat/completions', { messages: [{ role: 'user', content: 'x' }] });
    expect(missing.status).toBe(400);
    expect(await errorOf(missing)).toMatchObject({ param: 'model', code: 'missing_required_parameter' });
    const unknown = await post(app, '/v1/chat/completions', chat('x', { model: 'zzz' }));
    expect(unknown.status).toBe(404);
    expect(await errorOf(unknown)).toMatchObject({ code: 'model_not_found', param: 'model' });
    const a = (await (await post(app, '/v1/chat/completions', chat('x', { model: 'a' }))).json()) as Json;
    expect(a.model).toBe('a');
    expect((await post(app, '/v1/chat/completions', chat('x', { model: 'b.gguf' }))).status).toBe(200);
    expect(loaded).toEqual(['a', 'b']);
    expect(models.get('a')!.disposed).toBe(true); // evicted for b
    expect(registry.get('a')!.status).toBe('unloaded');
    const bad = await post(app, '/v1/chat/completions', chat('x', { model: 'bad' }));
    expect(bad.status).toBe(500);
    expect(await errorOf(bad)).toMatchObject({ code: 'model_load_failed' });
    await registry.close();
    expect(models.get('b')!.disposed).toBe(true);
  });

  it('queues FIFO behind the slots and answers 503 when the queue is full', async () => {
    const model = new FakeModel();
    const app = createApp({ models: model, parallel: 1, maxQueue: 1 });
    const first = post(app, '/v1/chat/completions', chat('slow count', { max_tokens: 10 }));
    await waitFor(() => model.active === 1, 2000, 'first generation');
    const second = post(app, '/v1/chat/completions', chat('second'));
    await new Promise((r) => setTimeout(r, 5));
    const third = await post(app, '/v1/chat/completions', chat('third'));
    expect(third.status).toBe(503);
    expect(await errorOf(third)).toMatchObject({ type: 'server_error', code: 'server_overloaded' });
    expect((await first).status).toBe(200);
    expect(((await (await second).json()) as Json).choices[0].message.content).toBe('echo: second');
    expect(model.maxActive).toBe(1);
    expect(model.sessions).toHaveLength(1);
  });

  it('starts a queued stream at once and keeps it alive until its slot frees', async () => {
    const model = new FakeModel();
    const app = createApp({ models: model, sseKeepAliveMs: 10 });
    const first = post(app, '/v1/chat/completions', chat('slow count', { max_tokens: 15 }));
    await waitFor(() => model.active === 1, 2000, 'first generation');
    const second = await post(app, '/v1/chat/completions', chat('queued', { stream: true }));
    expect(second.status).toBe(200); // headers before the slot
    const raw = await second.text();
    expect(raw).toContain(': keep-alive');
    const data = sseData(raw);
    expect(data.at(-1)).toBe('[DONE]');
    expect(data.slice(1, -2).map((d) => JSON.parse(d).choices[0].delta.content).join('')).toBe('echo: queued');
    expect((await first).status).toBe(200);
  });

  it('drops a queued stream whose client goes away before reading anything', async () => {
    const model = new FakeModel();
    const registry = new ModelRegistry([{ id: 'm', model }]);
    const app = createApp({ models: registry });
    const first = post(app, '/v1/chat/completions', chat('slow count', { max_tokens: 10 }));
    await waitFor(() => model.active === 1, 2000, 'first generation');
    const ac = new AbortController();
    const res = await app.request('/v1/chat/completions', { method: 'POST', body: JSON.stringify(chat('never', { stream: true })), signal: ac.signal });
    expect(res.status).toBe(200); // the stream started; its first chunk waits for a reader
    const handle = await registry.use('m');
    await waitFor(() => handle.pool.stats.queued === 1, 2000, 'the stream to queue');
    ac.abort(); // rejects the queued acquire while the first write is still pending
    await waitFor(() => handle.pool.stats.queued === 0, 2000, 'the waiter to leave');
    await res.body!.cancel();
    handle.release();
    expect((await first).status).toBe(200);
    await new Promise((r) => setTimeout(r, 20)); // an unhandled rejection would surface here
    expect(model.calls).toHaveLength(1);
  });

  it('drops a queued request whose client goes away', async () => {
    const model = new FakeModel();
    const registry = new ModelRegistry([{ id: 'm', model }]);
    const logged: unknown[] = [];
    const app = createApp({ models: registry, log: (_m, err) => logged.push(err) });
    const first = post(app, '/v1/chat/completions', chat('slow count', { max_tokens: 10 }));
    await waitFor(() => model.active === 1, 2000, 'first generation');
    const ac = new AbortController();
    const queued = Promise.resolve(app.request('/v1/chat/completions', { method: 'POST', body: JSON.stringify(chat('never')), signal: ac.signal }));
    const handle = await registry.use('m');
    await waitFor(() => handle.pool.stats.queued === 1, 2000, 'the request to queue');
    ac.abort();
    await waitFor(() => handle.pool.stats.queued === 0, 2000, 'the waiter to leave');
    handle.release();
    expect((await queued).status).toBe(499);
    expect((await first).status).toBe(200);
    expect(model.calls).toHaveLength(1); // the aborted request never reached the model
    expect(logged).toEqual([]);
  });
});
