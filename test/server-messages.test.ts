// POST /v1/messages through the official `@anthropic-ai/sdk` client (`messages.create`, plain and
// `stream: true`; `messages.stream()` whose accumulator checks the event order): the fake model for
// exact text, blocks and errors (Anthropic's error shape, x-api-key auth), the real SmolLM2 for
// greedy agreement with /v1/chat/completions.
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../ts/index.js';
import { createApp } from '../ts/server/index.js';
import { serve, type RunningServer } from '../ts/server/node.js';
import { FakeModel } from './helpers/fake-model.js';
import { fixturesRoot } from './helpers/fixtures.js';
import { realModels } from './helpers/real-models.js';
import { post, sseData } from './helpers/server.js';

const KEY = 'sk-messages';
// The SDK's types dropped `temperature` (the API and this server still take it): spread past the excess-property check.
const GREEDY: object = { temperature: 0 };
type ApiErr = InstanceType<typeof Anthropic.APIError>;

async function rejection(p: Promise<unknown>): Promise<ApiErr> {
  try {
    await p;
  } catch (err) {
    return err as ApiErr;
  }
  throw new Error('expected a rejection');
}

/** Asserts Anthropic's error shape and returns its error object. */
async function anthropicErrorOf(res: Response): Promise<{ type: string; message: string }> {
  const body = (await res.json()) as { type: string; error: { type: string; message: string } };
  expect(body.type).toBe('error');
  expect(typeof body.error.type).toBe('string');
  expect(typeof body.error.message).toBe('string');
  return body.error;
}

describe('/v1/messages with the fake model', () => {
  let server: RunningServer;
  let client: Anthropic;
  const fake = new FakeModel();

  beforeAll(async () => {
    server = await serve({ models: [{ id: 'fake', model: fake }, { id: 'other', model: new FakeModel({ name: 'other' }) }], port: 0, parallel: 2, apiKey: KEY, log: () => {} });
    client = new Anthropic({ baseURL: server.url, apiKey: KEY, maxRetries: 0 });
  });
  afterAll(() => server.close());

  it('non-streaming: a message with a text block, end_turn and usage', async () => {
    const msg = await client.messages.create({ model: 'fake', max_tokens: 100, system: 'be brief', messages: [{ role: 'user', content: 'hello there' }], ...GREEDY });
    expect(msg.type).toBe('message');
    expect(msg.id).toMatch(/^msg_/);
    expect(msg.role).toBe('assistant');
    expect(msg.model).toBe('fake');
    expect(msg.content).toEqual([{ type: 'text', text: 'echo: hello there' }]);
    expect(msg.stop_reason).toBe('end_turn');
    expect(msg.stop_sequence).toBeNull();
    const prompt = fake.tokenizePrompt(fake.applyChatTemplate([{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hello there' }], { addGenerationPrompt: true }));
    expect(msg.usage.input_tokens + (msg.usage.cache_read_input_tokens ?? 0)).toBe(prompt.length);
    expect(msg.usage.output_tokens).toBe('echo: hello there'.length);
  });

  it('a stop sequence: stop_reason stop_sequence naming it, plain and streamed', async () => {
    const body = { model: 'fake', max_tokens: 100, messages: [{ role: 'user' as const, content: 'one two END three' }], stop_sequences: ['NEVER', 'END'], ...GREEDY };
    const msg = await client.messages.create(body);
    expect(msg.content).toEqual([{ type: 'text', text: 'echo: one two ' }]);
    expect(msg).toMatchObject({ stop_reason: 'stop_sequence', stop_sequence: 'END' });
    const streamed = await client.messages.stream(body).finalMessage();
    expect(streamed).toMatchObject({ content: msg.content, stop_reason: 'stop_sequence', stop_sequence: 'END' });
  });

  it('blocks: system blocks, tool_use and tool_result become the chat conversation', async () => {
    fake.calls.length = 0;
    const msg = await client.messages.create({
      model: 'fake',
      max_tokens: 100,
      ...GREEDY,
      system: [{ type: 'text', text: 'sys' }],
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'weather?' }] },
        { role: 'assistant', content: [{ type: 'text', text: 'Let me look.' }, { type: 'tool_use', id: 'toolu_1', name: 'weather', input: { city: 'Paris' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'sunny' }, { type: 'text', text: 'thanks' }] },
      ],
    });
    expect(msg.content).toEqual([{ type: 'text', text: 'echo: thanks' }]);
    const prompt = fake.detokenize(fake.calls.at(-1)!.prompt, { special: true });
    expect(prompt).toContain('<|im_start|>system\nsys<|im_end|>');
    expect(prompt).toContain('<|im_start|>assistant\nLet me look.<|im_end|>');
    expect(prompt).toContain('<|im_start|>tool\nsunny<|im_end|>\n<|im_start|>user\nthanks<|im_end|>');
  });

  it('max_tokens: stop_reason max_tokens', async () => {
    const msg = await client.messages.create({ model: 'fake', max_tokens: 5, messages: [{ role: 'user', content: 'count' }], ...GREEDY });
    expect(msg.stop_reason).toBe('max_tokens');
    expect(msg.content).toEqual([{ type: 'text', text: '1 2 3' }]);
    expect(msg.usage.output_tokens).toBe(5);
  });

  it('stream: true yields Anthropic events; messages.stream() accumulates the non-streaming message', async () => {
    const params = { model: 'fake', max_tokens: 9, messages: [{ role: 'user' as const, content: 'count' }], ...GREEDY };
    const plain = await client.messages.create(params);
    const stream = await client.messages.create({ ...params, stream: true });
    const types: string[] = [];
    let text = '';
    for await (const e of stream) {
      types.push(e.type);
      if (e.type === 'content_block_delta' && e.delta.type === 'text_delta') text += e.delta.text;
      if (e.type === 'message_delta') expect(e.delta.stop_reason).toBe('max_tokens');
    }
    expect(text).toBe('1 2 3 4 5');
    expect(types.filter((t, i) => t !== types[i - 1])).toEqual(['message_start', 'content_block_start', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop']);
    const final = await client.messages.stream(params).finalMessage();
    expect(final.content).toEqual(plain.content);
    expect(final.stop_reason).toBe('max_tokens');
    expect(final.usage.output_tokens).toBe(plain.usage.output_tokens);
    // Same prompt again: the engine reused the cache, reported as cache reads.
    expect(final.usage.input_tokens + (final.usage.cache_read_input_tokens ?? 0)).toBe(plain.usage.input_tokens + (plain.usage.cache_read_input_tokens ?? 0));
  });

  it('errors: 400 in Anthropic shape, raised by the SDK as BadRequestError; the server stays up', async () => {
    const app = createApp({ models: [{ id: 'fake', model: fake }], log: () => {} });
    const ok = [{ role: 'user', content: 'x' }];
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ messages: ok }, /max_tokens/],
      [{ max_tokens: 10 }, /messages/],
      [{ max_tokens: '10', messages: ok }, /max_tokens/],
      [{ max_tokens: 10, messages: 'hi' }, /messages/],
      [{ max_tokens: 10, messages: [{ role: 'system', content: 'x' }] }, /messages\[0\]\.role/],
      [{ max_tokens: 10, messages: [{ role: 'wizard', content: 'x' }] }, /messages\[0\]\.role/],
      [{ max_tokens: 10, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } }] }] }, /messages\[0\]\.content\[0\]\.type/],
      [{ max_tokens: 10, messages: [{ role: 'user', content: [{ type: 'tool_use', id: 'a', name: 'f', input: {} }] }] }, /messages\[0\]\.content\[0\]\.type/],
      [{ max_tokens: 10, messages: ok, temperature: 1.5 }, /temperature/],
      [{ max_tokens: 10, messages: ok, stop_sequences: 'END' }, /stop_sequences/],
      [{ max_tokens: 10, messages: ok, tool_choice: { type: 'sometimes' } }, /tool_choice\.type/],
      [{ max_tokens: 10, messages: ok, tools: [{ type: 'web_search_20250305', name: 'web_search' }] }, /tools\[0\]\.type/],
      [{ max_tokens: 10, messages: ok, system: 's'.repeat(1 << 20) }, /maximum context length/],
    ];
    for (const [body, mention] of cases) {
      const res = await post(app, '/v1/messages', { model: 'fake', ...body });
      const what = JSON.stringify(body).slice(0, 100);
      expect(res.status, what).toBe(400);
      const err = await anthropicErrorOf(res);
      expect(err.type, what).toBe('invalid_request_error');
      expect(err.message, what).toMatch(mention);
    }
    // Malformed JSON, a non-object body and an oversized body: the same shape.
    for (const [body, status, type] of [
      ['{"max_tokens": 1,', 400, 'invalid_request_error'],
      ['[1, 2]', 400, 'invalid_request_error'],
      [JSON.stringify({ max_tokens: 1, messages: ok, system: 's'.repeat(5 << 20) }), 413, 'request_too_large'],
    ] as const) {
      const res = await post(app, '/v1/messages', body);
      expect(res.status).toBe(status);
      expect((await anthropicErrorOf(res)).type).toBe(type);
    }
    const viaSdk = await rejection(client.messages.create({ model: 'fake', messages: [{ role: 'user', content: 'x' }] } as never));
    expect(viaSdk).toBeInstanceOf(Anthropic.BadRequestError);
    expect(viaSdk.error).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    const missingModel = await rejection(client.messages.create({ model: 'claude-nope', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }));
    expect(missingModel).toBeInstanceOf(Anthropic.NotFoundError);
    expect(missingModel.error).toMatchObject({ error: { type: 'not_found_error' } });
    const msg = await client.messages.create({ model: 'fake', max_tokens: 50, messages: [{ role: 'user', content: 'still here' }], ...GREEDY });
    expect(msg.content).toEqual([{ type: 'text', text: 'echo: still here' }]);
  });

  it('auth: x-api-key or Bearer; a wrong key is 401 authentication_error in Anthropic shape (OpenAI shape elsewhere)', async () => {
    const wrong = new Anthropic({ baseURL: server.url, apiKey: 'sk-wrong', maxRetries: 0 });
    const err = await rejection(wrong.messages.create({ model: 'fake', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }));
    expect(err).toBeInstanceOf(Anthropic.AuthenticationError);
    expect(err.error).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
    const bearer = new Anthropic({ baseURL: server.url, authToken: KEY, apiKey: null, maxRetries: 0 });
    const msg = await bearer.messages.create({ model: 'fake', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }], ...GREEDY });
    expect(msg.content).toEqual([{ type: 'text', text: 'echo: hi' }]);
    // x-api-key works on the OpenAI routes too; their errors keep OpenAI's shape.
    const res = await fetch(`${server.url}/v1/models`, { headers: { 'x-api-key': KEY } });
    expect(res.status).toBe(200);
    const openai = await fetch(`${server.url}/v1/models`, { headers: { 'x-api-key': 'nope' } });
    expect(openai.status).toBe(401);
    expect(((await openai.json()) as { error: { code: string } }).error.code).toBe('invalid_api_key');
  });

  it('a failure mid-stream is an Anthropic error event the SDK raises', async () => {
    const app = createApp({ models: [{ id: 'fake', model: fake }], log: () => {} });
    const res = await post(app, '/v1/messages', { max_tokens: 50, messages: [{ role: 'user', content: 'explode' }], stream: true });
    const last = JSON.parse(sseData(await res.text()).at(-1)!) as unknown;
    expect(last).toMatchObject({ type: 'error', error: { type: 'api_error' } });
    const err = await rejection(client.messages.stream({ model: 'fake', max_tokens: 50, messages: [{ role: 'user', content: 'explode' }] }).finalMessage());
    expect(err).toBeInstanceOf(Anthropic.APIError);
  });
});

type Json = Record<string, unknown>;
const root = fixturesRoot();
const smol = root === null ? undefined : realModels(root).find((m) => m.file.startsWith('SmolLM2-135M'));

describe.skipIf(!smol || (smol.missing !== null && process.env.CI !== 'true'))('/v1/messages with SmolLM2 (native)', () => {
  let model: Model;
  let server: RunningServer;
  let anthropic: Anthropic;
  let openai: OpenAI;

  beforeAll(async () => {
    if (smol!.missing !== null) throw new Error(smol!.missing);
    model = await loadModel(join(smol!.path), { backend: 'native', threads: 2 });
    server = await serve({ models: [{ id: 'smol', model, contextSize: 1024 }], port: 0, parallel: 2, apiKey: KEY, log: () => {} });
    anthropic = new Anthropic({ baseURL: server.url, apiKey: KEY, maxRetries: 0 });
    openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: KEY, maxRetries: 0 });
  });
  afterAll(async () => {
    await server?.close();
    model?.dispose();
  });

  it('greedy: the message text equals chat completions, plain and streamed', async () => {
    const chat = await openai.chat.completions.create({
      model: 'smol',
      messages: [
        { role: 'system', content: 'You are a helpful assistant.' },
        { role: 'user', content: 'Name three colors.' },
      ],
      ...GREEDY,
      max_tokens: 24,
    });
    const params = { model: 'smol', system: 'You are a helpful assistant.', max_tokens: 24, ...GREEDY, messages: [{ role: 'user' as const, content: 'Name three colors.' }] };
    const msg = await anthropic.messages.create(params);
    const text = msg.content.map((b) => (b.type === 'text' ? b.text : '')).join('');
    expect(text.length).toBeGreaterThan(0);
    expect(text).toBe(chat.choices[0]!.message.content);
    expect(msg.usage.output_tokens).toBe(chat.usage!.completion_tokens);
    expect(msg.stop_reason).toBe(chat.choices[0]!.finish_reason === 'length' ? 'max_tokens' : 'end_turn');
    const final = await anthropic.messages.stream(params).finalMessage();
    expect(final.content).toEqual(msg.content);
  });
});
