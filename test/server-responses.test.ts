// POST /v1/responses through the official `openai` client (`client.responses.create`, plain and
// streamed; `client.responses.stream`, whose accumulator checks the event order): the fake model
// for exact text, items and errors, the real SmolLM2 for greedy agreement with /v1/chat/completions.
import OpenAI from 'openai';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../ts/index.js';
import { createApp } from '../ts/server/index.js';
import { serve, type RunningServer } from '../ts/server/node.js';
import { FakeModel } from './helpers/fake-model.js';
import { fixturesRoot } from './helpers/fixtures.js';
import { realModels } from './helpers/real-models.js';
import { errorOf, post, sseData } from './helpers/server.js';

const KEY = 'sk-responses';
type ApiErr = InstanceType<typeof OpenAI.APIError>;

async function rejection(p: Promise<unknown>): Promise<ApiErr> {
  try {
    await p;
  } catch (err) {
    return err as ApiErr;
  }
  throw new Error('expected a rejection');
}

describe('/v1/responses with the fake model', () => {
  let server: RunningServer;
  let client: OpenAI;
  const fake = new FakeModel();

  beforeAll(async () => {
    server = await serve({ models: [{ id: 'fake', model: fake }], port: 0, parallel: 2, apiKey: KEY, log: () => {} });
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: KEY, maxRetries: 0 });
  });
  afterAll(() => server.close());

  it('non-streaming: a response object with one message item, output_text and usage', async () => {
    const res = await client.responses.create({ model: 'fake', input: 'hello there', instructions: 'be brief', temperature: 0 });
    expect(res.object).toBe('response');
    expect(res.id).toMatch(/^resp_/);
    expect(res.status).toBe('completed');
    expect(res.model).toBe('fake');
    expect(res.output_text).toBe('echo: hello there');
    expect(res.output).toHaveLength(1);
    expect(res.output[0]).toMatchObject({ type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'echo: hello there', annotations: [] }] });
    expect(res.instructions).toBe('be brief');
    expect(res.incomplete_details).toBeNull();
    // The prompt is the chat template of [system, user]; the fake writes one token per character.
    const prompt = fake.tokenizePrompt(fake.applyChatTemplate([{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hello there' }], { addGenerationPrompt: true }));
    expect(res.usage).toMatchObject({ input_tokens: prompt.length, output_tokens: 'echo: hello there'.length, total_tokens: prompt.length + 'echo: hello there'.length });
    expect(res.usage!.output_tokens_details.reasoning_tokens).toBe(0);
  });

  it('input items: messages with parts, function_call and function_call_output become the chat conversation', async () => {
    fake.calls.length = 0;
    const res = await client.responses.create({
      model: 'fake',
      temperature: 0,
      input: [
        { role: 'developer', content: 'sys' },
        { role: 'user', content: [{ type: 'input_text', text: 'what is ' }, { type: 'input_text', text: 'the weather' }] },
        { type: 'function_call', call_id: 'call_1', name: 'weather', arguments: '{"city":"Paris"}' },
        { type: 'function_call_output', call_id: 'call_1', output: 'sunny' },
        { type: 'message', id: 'msg_1', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'It is sunny.', annotations: [] }] },
        { role: 'user', content: 'thanks' },
      ],
    });
    expect(res.output_text).toBe('echo: thanks');
    const prompt = fake.detokenize(fake.calls.at(-1)!.prompt, { special: true });
    expect(prompt).toContain('<|im_start|>system\nsys<|im_end|>');
    expect(prompt).toContain('<|im_start|>user\nwhat is the weather<|im_end|>');
    expect(prompt).toContain('<|im_start|>tool\nsunny<|im_end|>');
    expect(prompt).toContain('<|im_start|>assistant\nIt is sunny.<|im_end|>');
  });

  it('max_output_tokens: status incomplete with the reason', async () => {
    const res = await client.responses.create({ model: 'fake', input: 'count', max_output_tokens: 5, temperature: 0 });
    expect(res.status).toBe('incomplete');
    expect(res.incomplete_details).toEqual({ reason: 'max_output_tokens' });
    expect(res.output_text).toBe('1 2 3');
    expect(res.usage!.output_tokens).toBe(5);
  });

  it('stream: true yields the event sequence; deltas assemble to the text', async () => {
    const stream = await client.responses.create({ model: 'fake', input: 'hi you', temperature: 0, stream: true });
    const types: string[] = [];
    const seqs: number[] = [];
    let text = '';
    let completed: OpenAI.Responses.Response | undefined;
    for await (const e of stream) {
      types.push(e.type);
      seqs.push(e.sequence_number);
      if (e.type === 'response.output_text.delta') text += e.delta;
      if (e.type === 'response.completed') completed = e.response;
    }
    expect(text).toBe('echo: hi you');
    expect(seqs).toEqual(seqs.map((_, i) => i));
    const distinct = types.filter((t, i) => t !== types[i - 1]);
    expect(distinct).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(completed!.output_text).toBe('echo: hi you');
    expect(completed!.usage!.output_tokens).toBe('echo: hi you'.length);
  });

  it('client.responses.stream(): the accumulated final response equals the non-streaming one', async () => {
    const plain = await client.responses.create({ model: 'fake', input: 'count', max_output_tokens: 9, temperature: 0 });
    const final = await client.responses.stream({ model: 'fake', input: 'count', max_output_tokens: 9, temperature: 0 }).finalResponse();
    expect(final.status).toBe('incomplete');
    expect(final.output_text).toBe(plain.output_text);
    expect(final.output[0]).toMatchObject({ type: 'message', status: 'incomplete' });
  });

  it('errors: unsupported and wrong fields are 400 naming the param; the server stays up', async () => {
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [{ input: 'x', previous_response_id: 'resp_123' }, 'previous_response_id', 'unsupported_parameter'],
      [{ input: 'x', store: true }, 'store', 'unsupported_parameter'],
      [{}, 'input', 'missing_required_parameter'],
      [{ input: 42 }, 'input', 'invalid_type'],
      [{ input: [{ role: 'wizard', content: 'x' }] }, 'input[0].role', 'invalid_value'],
      [{ input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'https://x/y.png' }] }] }, 'input[0].content[0].type', 'unsupported_parameter'],
      [{ input: [{ type: 'item_reference', id: 'msg_1' }] }, 'input[0].type', 'unsupported_parameter'],
      [{ input: [{ type: 'function_call', name: 'f', arguments: '{}' }] }, 'input[0].call_id', 'missing_required_parameter'],
      [{ input: 'x', max_output_tokens: 0 }, 'max_output_tokens', 'integer_below_min_value'],
      [{ input: 'x', temperature: 'hot' }, 'temperature', 'invalid_type'],
      [{ input: 'x', tools: [{ type: 'web_search' }] }, 'tools[0].type', 'unsupported_parameter'],
      [{ input: 'x', text: { format: 'json' } }, 'text.format', 'invalid_type'],
      [{ input: 'x'.repeat(1 << 20), instructions: 's' }, 'input', 'context_length_exceeded'],
      [{ input: 'x', instructions: 's'.repeat(1 << 20) }, 'input', 'context_length_exceeded'],
    ];
    for (const [body, param, code] of cases) {
      const err = await rejection(client.responses.create({ model: 'fake', ...body } as never));
      expect(err, JSON.stringify(body).slice(0, 80)).toBeInstanceOf(OpenAI.BadRequestError);
      expect(err, JSON.stringify(body).slice(0, 80)).toMatchObject({ status: 400, param, code });
    }
    const res = await client.responses.create({ model: 'fake', input: 'still here', temperature: 0 });
    expect(res.output_text).toBe('echo: still here');
  });

  it('a failure mid-stream is a response.failed event, then an error the client raises', async () => {
    const app = createApp({ models: [{ id: 'fake', model: fake }], log: () => {} });
    const res = await post(app, '/v1/responses', { input: 'explode', stream: true });
    const events = sseData(await res.text()).map((d) => JSON.parse(d) as { type: string; response?: { status: string; error: unknown } });
    expect(events.at(-2)!.type).toBe('response.failed');
    expect(events.at(-2)!.response).toMatchObject({ status: 'failed', error: { code: 'server_error' } });
    expect(events.at(-1)!.type).toBe('error');
    const stream = await client.responses.create({ model: 'fake', input: 'explode', stream: true });
    const err = await rejection(
      (async () => {
        for await (const _ of stream);
      })(),
    );
    expect(err).toBeInstanceOf(OpenAI.APIError);
  });
});

const root = fixturesRoot();
const smol = root === null ? undefined : realModels(root).find((m) => m.file.startsWith('SmolLM2-135M'));

describe.skipIf(!smol || (smol.missing !== null && process.env.CI !== 'true'))('/v1/responses with SmolLM2 (native)', () => {
  let model: Model;
  let server: RunningServer;
  let client: OpenAI;

  beforeAll(async () => {
    if (smol!.missing !== null) throw new Error(smol!.missing);
    model = await loadModel(join(smol!.path), { backend: 'native', threads: 2 });
    server = await serve({ models: [{ id: 'smol', model, contextSize: 1024 }], port: 0, parallel: 2, apiKey: KEY, log: () => {} });
    client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: KEY, maxRetries: 0 });
  });
  afterAll(async () => {
    await server?.close();
    model?.dispose();
  });

  it('greedy: the response text equals chat completions, plain and streamed', async () => {
    const chat = await client.chat.completions.create({
      model: 'smol',
      messages: [
        { role: 'system', content: 'You are a helpful assistant.' },
        { role: 'user', content: 'What is the capital of France?' },
      ],
      temperature: 0,
      max_tokens: 24,
    });
    const res = await client.responses.create({ model: 'smol', instructions: 'You are a helpful assistant.', input: 'What is the capital of France?', temperature: 0, max_output_tokens: 24 });
    expect(res.output_text.length).toBeGreaterThan(0);
    expect(res.output_text).toBe(chat.choices[0]!.message.content);
    expect(res.usage!.input_tokens).toBe(chat.usage!.prompt_tokens);
    expect(res.usage!.output_tokens).toBe(chat.usage!.completion_tokens);
    expect(res.status).toBe(chat.choices[0]!.finish_reason === 'length' ? 'incomplete' : 'completed');
    const final = await client.responses.stream({ model: 'smol', instructions: 'You are a helpful assistant.', input: 'What is the capital of France?', temperature: 0, max_output_tokens: 24 }).finalResponse();
    expect(final.output_text).toBe(res.output_text);
  });
});
