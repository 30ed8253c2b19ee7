// A real listening server (the Node entry on 127.0.0.1, port 0) driven by the official `openai`
// client: chat and completions (plain and streamed), models, errors as APIError, abort mid-stream
// (how fast the slot frees), and 8 simultaneous streams.
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../ts/server/index.js';
import { serve, type RunningServer } from '../ts/server/node.js';
import { FakeModel } from './helpers/fake-model.js';
import { streamChat, waitFor } from './helpers/server.js';

const KEY = 'sk-test-key';

describe('server + openai client', () => {
  let server: RunningServer;
  let client: OpenAI;
  const fake = new FakeModel();

  beforeAll(async () => {
    server = await serve({
      models: [
        { id: 'fake', model: fake },
        { id: 'other', model: new FakeModel({ name: 'other' }) },
      ],
      port: 0,
      parallel: 4,
      apiKey: KEY,
      log: () => {},
    });
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: KEY, maxRetries: 0 });
  });
  afterAll(() => server.close());

  it('chat: non-streaming', async () => {
    const res = await client.chat.completions.create({ model: 'fake', messages: [{ role: 'user', content: 'hello there' }], temperature: 0 });
    expect(res.object).toBe('chat.completion');
    expect(res.model).toBe('fake');
    expect(res.choices[0]!.message).toMatchObject({ role: 'assistant', content: 'echo: hello there' });
    expect(res.choices[0]!.finish_reason).toBe('stop');
    expect(res.usage!.completion_tokens).toBe('echo: hello there'.length);
  });

  it('chat: streamed deltas assemble to the non-streaming text at temperature 0', async () => {
    const messages = [
      { role: 'system' as const, content: 'sys' },
      { role: 'user' as const, content: 'count to ten' },
    ];
    const plain = await client.chat.completions.create({ model: 'fake', messages, temperature: 0, max_tokens: 40 });
    const stream = await client.chat.completions.create({
      model: 'fake',
      messages,
      temperature: 0,
      max_tokens: 40,
      stream: true,
      stream_options: { include_usage: true },
    });
    const { text, finish, usage, roles } = await streamChat(stream);
    expect(text).toBe(plain.choices[0]!.message.content);
    expect(finish).toBe('length');
    expect(roles).toBe(1);
    const { prompt_tokens, completion_tokens, total_tokens } = plain.usage!;
    expect(usage).toMatchObject({ prompt_tokens, completion_tokens, total_tokens });
    expect(usage!.prompt_tokens_details!.cached_tokens).toBe(prompt_tokens - 1); // same prompt again: all but the last token cached
  });

  it('completions: plain and streamed', async () => {
    const plain = await client.completions.create({ model: 'fake', prompt: 'abc', temperature: 0 });
    expect(plain.choices[0]!.text).toBe('echo: abc');
    const stream = await client.completions.create({ model: 'fake', prompt: 'abc', temperature: 0, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
    expect(text).toBe('echo: abc');
  });

  it('models: list and retrieve', async () => {
    const ids: string[] = [];
    for await (const m of client.models.list()) ids.push(m.id);
    expect(ids).toEqual(['fake', 'other']);
    const m = await client.models.retrieve('other');
    expect(m).toMatchObject({ id: 'other', object: 'model', owned_by: 'llmplayer' });
  });

  it('errors arrive as APIError with status, type, param and code', async () => {
    const fail = async (p: Promise<unknown>) => {
      try {
        await p;
      } catch (err) {
        return err as InstanceType<typeof OpenAI.APIError>;
      }
      throw new Error('expected a rejection');
    };
    const n17 = await fail(client.chat.completions.create({ model: 'fake', messages: [{ role: 'user', content: 'x' }], n: 17 }));
    expect(n17).toBeInstanceOf(OpenAI.BadRequestError);
    expect(n17).toMatchObject({ status: 400, type: 'invalid_request_error', param: 'n', code: 'integer_above_max_value' });
    const missing = await fail(client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }));
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError);
    expect(missing).toMatchObject({ status: 404, code: 'model_not_found' });
    const wrongKey = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'sk-wrong', maxRetries: 0 });
    const unauth = await fail(wrongKey.models.list());
    expect(unauth).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(unauth).toMatchObject({ status: 401, type: 'authentication_error', code: 'invalid_api_key' });
    const long = await fail(client.chat.completions.create({ model: 'fake', messages: [{ role: 'user', content: 'q'.repeat(5000) }] }));
    expect(long).toMatchObject({ status: 400, code: 'context_length_exceeded' });
    // A failure after the stream started arrives as an `{ error }` data line: the client throws.
    const stream = await client.chat.completions.create({ model: 'fake', messages: [{ role: 'user', content: 'explode' }], stream: true });
    const midStream = await fail(
      (async () => {
        for await (const _ of stream);
      })(),
    );
    expect(midStream).toBeInstanceOf(OpenAI.APIError);
    expect(midStream).toMatchObject({ type: 'server_error' });
  });

  it('8 simultaneous streams finish without cross-talk', async () => {
    fake.maxActive = 0;
    const prompts = Array.from({ length: 8 }, (_, i) => `stream number ${i} says ${'abcdefgh'[i]!.repeat(i + 3)}`);
    const texts = await Promise.all(
      prompts.map(async (p) => {
        const stream = await client.chat.completions.create({ model: 'fake', messages: [{ role: 'user', content: p }], temperature: 0, stream: true });
        let text = '';
        let finish: string | null = null;
        for await (const chunk of stream) {
          text += chunk.choices[0]?.delta.content ?? '';
          finish = chunk.choices[0]?.finish_reason ?? finish;
        }
        return { text, finish };
      }),
    );
    texts.forEach((t, i) => expect(t).toEqual({ text: `echo: ${prompts[i]}`, finish: 'stop' }));
    expect(fake.maxActive).toBeGreaterThan(1); // they did run concurrently…
    expect(fake.maxActive).toBeLessThanOrEqual(4); // …within the 4 slots
  });
});

describe('openai client in-process (fetch → app.request)', () => {
  it('needs no socket', async () => {
    const app = createApp({ models: { id: 'tiny', model: new FakeModel() } });
    const client = new OpenAI({ baseURL: 'http://local/v1', apiKey: 'x', maxRetries: 0, fetch: async (url, init) => app.request(String(url), init) });
    const res = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'in process' }], temperature: 0 });
    expect(res.choices[0]!.message.content).toBe('echo: in process');
    let text = '';
    for await (const chunk of await client.completions.create({ model: 'tiny', prompt: 'p', temperature: 0, stream: true })) text += chunk.choices[0]?.text ?? '';
    expect(text).toBe('echo: p');
  });
});

describe('server + openai client: abort', () => {
  let server: RunningServer;
  const slow = new FakeModel({ tokenDelayMs: 5 });

  beforeAll(async () => {
    server = await serve({ models: { id: 'slow', model: slow }, port: 0, parallel: 1 });
  });
  afterAll(() => server.close());

  it('aborting mid-stream stops the generation and frees the slot at once', async () => {
    const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'none', maxRetries: 0 });
    const ac = new AbortController();
    const stream = await client.chat.completions.create(
      { model: 'slow', messages: [{ role: 'user', content: 'count' }], max_tokens: 5000, stream: true },
      { signal: ac.signal },
    );
    let received = 0;
    // The client ends the iteration quietly when its own signal aborts.
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta.content) received++;
      if (received === 5) ac.abort();
    }
    expect(received).toBe(5);
    const abortedAt = performance.now();
    await waitFor(() => slow.calls[0]!.endedAt !== undefined, 1000, 'the aborted generation to end');
    const stoppedMs = slow.calls[0]!.endedAt! - abortedAt;
    const next = await client.chat.completions.create({ model: 'slow', messages: [{ role: 'user', content: 'next' }], temperature: 0 });
    const servedMs = performance.now() - abortedAt;
    expect(next.choices[0]!.message.content).toBe('echo: next');
    const aborted = slow.calls[0]!;
    expect(aborted.finish).toBe('abort');
    expect(aborted.options.maxTokens).toBeGreaterThan(100);
    expect(slow.sessions[0]!.history.length - aborted.prompt.length).toBeLessThan(40); // stopped early, not after 5000 tokens
    // 'echo: next' is 10 tokens × 5 ms; the slot itself frees within a token or two of the abort.
    console.log(`[server abort] generation stopped ${stoppedMs.toFixed(1)} ms and the next request was answered ${servedMs.toFixed(0)} ms after the client aborted`);
    expect(stoppedMs).toBeLessThan(250);
    expect(servedMs).toBeLessThan(1000);
  });
});
