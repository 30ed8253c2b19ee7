// Hostile and malformed requests: each gets its 4xx with OpenAI's error shape naming the
// parameter, and the server answers the next normal request. The table runs twice: through
// `app.request`, and over a real socket (the Node entry), where bodies carry Content-Length.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../ts/server/index.js';
import { serve, type RunningServer } from '../ts/server/node.js';
import { ModelRegistry } from '../ts/server/registry.js';
import { FakeModel } from './helpers/fake-model.js';
import { errorOf } from './helpers/server.js';

type Json = Record<string, unknown>;

interface Case {
  name: string;
  path?: string;
  method?: string;
  /** An object is merged over the endpoint's valid base body (undefined deletes); a string is sent raw. */
  body?: Json | string;
  status: number;
  type?: string;
  param?: string | null;
  code?: string | null;
}

const CHAT = '/v1/chat/completions';
const COMPLETIONS = '/v1/completions';
const base: Record<string, Json> = {
  [CHAT]: { model: 'fake', messages: [{ role: 'user', content: 'ok' }], temperature: 0 },
  [COMPLETIONS]: { model: 'fake', prompt: 'ok', temperature: 0 },
  '/tokenize': { model: 'fake', content: 'ok' },
  '/detokenize': { model: 'fake', tokens: [5] },
};

const bad = (param: string | null, code: string | null, status = 400) => ({ status, type: 'invalid_request_error', param, code });
const nope = (param: string) => bad(param, 'unsupported_parameter');
const fn = (name: string) => ({ type: 'function', function: { name, parameters: { type: 'object', properties: {} } } });
const user = (content: unknown) => ({ messages: [{ role: 'user', content }] });

const CASES: Case[] = [
  { name: 'malformed JSON', body: '{"messages": [', ...bad(null, 'invalid_json') },
  { name: 'empty body', body: '', ...bad(null, 'invalid_json') },
  { name: 'string body', body: '"hello"', ...bad(null, 'invalid_type') },
  { name: 'array body', body: '[{"messages": []}]', ...bad(null, 'invalid_type') },
  { name: 'null body', body: 'null', ...bad(null, 'invalid_type') },
  { name: 'deeply nested JSON', body: '['.repeat(200_000) + ']'.repeat(200_000), status: 400, type: 'invalid_request_error' },
  { name: 'messages missing', body: { messages: undefined }, ...bad('messages', 'missing_required_parameter') },
  { name: 'messages empty', body: { messages: [] }, ...bad('messages', 'empty_array') },
  { name: 'messages a string', body: { messages: 'hi' }, ...bad('messages', 'invalid_type') },
  { name: 'message a number', body: { messages: [1] }, ...bad('messages[0]', 'invalid_type') },
  { name: 'role invalid', body: { messages: [{ role: 'wizard', content: 'x' }] }, ...bad('messages[0].role', 'invalid_value') },
  { name: 'role missing', body: { messages: [{ content: 'x' }] }, ...bad('messages[0].role', 'missing_required_parameter') },
  { name: 'content a number', body: user(42), ...bad('messages[0].content', 'invalid_type') },
  { name: 'user content null', body: user(null), ...bad('messages[0].content', 'missing_required_parameter') },
  { name: 'image content part', body: user([{ type: 'image_url', image_url: { url: 'x' } }]), ...nope('messages[0].content[0].type') },
  { name: 'text part without text', body: user([{ type: 'text', text: 7 }]), ...bad('messages[0].content[0].text', 'invalid_type') },
  { name: '5000 messages', body: { messages: Array(5000).fill({ role: 'user', content: 'x' }) }, ...bad('messages', 'array_above_max_length') },
  { name: 'max_tokens negative', body: { max_tokens: -5 }, ...bad('max_tokens', 'integer_below_min_value') },
  { name: 'max_tokens zero', body: { max_tokens: 0 }, ...bad('max_tokens', 'integer_below_min_value') },
  { name: 'max_tokens a string', body: { max_tokens: '10' }, ...bad('max_tokens', 'invalid_type') },
  { name: 'max_tokens a float', body: { max_tokens: 1.5 }, ...bad('max_tokens', 'invalid_type') },
  { name: 'max_tokens 1e20', body: { max_tokens: 1e20 }, ...bad('max_tokens', 'integer_above_max_value') },
  { name: 'max_completion_tokens a bool', body: { max_completion_tokens: true }, ...bad('max_completion_tokens', 'invalid_type') },
  { name: 'temperature "NaN"', body: { temperature: 'NaN' }, ...bad('temperature', 'invalid_type') },
  { name: 'temperature 1e999 (Infinity)', body: '{"messages":[{"role":"user","content":"x"}],"temperature":1e999}', ...bad('temperature', 'invalid_type') },
  { name: 'temperature 3', body: { temperature: 3 }, ...bad('temperature', 'decimal_above_max_value') },
  { name: 'top_p negative', body: { top_p: -0.1 }, ...bad('top_p', 'decimal_below_min_value') },
  { name: 'top_k a float', body: { top_k: 2.5 }, ...bad('top_k', 'invalid_type') },
  { name: 'presence_penalty 5', body: { presence_penalty: 5 }, ...bad('presence_penalty', 'decimal_above_max_value') },
  { name: 'seed a float', body: { seed: 1.5 }, ...bad('seed', 'invalid_type') },
  { name: 'stream a string', body: { stream: 'true' }, ...bad('stream', 'invalid_type') },
  { name: 'stream_options a string', body: { stream: true, stream_options: 'yes' }, ...bad('stream_options', 'invalid_type') },
  { name: 'include_usage a string', body: { stream: true, stream_options: { include_usage: 'yes' } }, ...bad('stream_options.include_usage', 'invalid_type') },
  { name: 'stop list of 1000', body: { stop: Array.from({ length: 1000 }, (_, i) => `s${i}`) }, ...bad('stop', 'array_above_max_length') },
  { name: 'stop of numbers', body: { stop: [1, 2] }, ...bad('stop[0]', 'invalid_type') },
  { name: 'stop string of 10k', body: { stop: ['x'.repeat(10_000)] }, ...bad('stop[0]', 'string_above_max_length') },
  { name: 'logit_bias bad key', body: { logit_bias: { abc: 1 } }, ...bad('logit_bias', 'invalid_value') },
  { name: 'logit_bias "constructor"', body: { logit_bias: { constructor: 1 } }, ...bad('logit_bias', 'invalid_value') },
  { name: 'logit_bias out of range', body: { logit_bias: { 5: 500 } }, ...bad('logit_bias.5', 'decimal_above_max_value') },
  { name: 'logit_bias id beyond vocab', body: { logit_bias: { 999999: 1 } }, ...bad('logit_bias', 'invalid_value') },
  { name: 'logit_bias an array', body: { logit_bias: [1] }, ...bad('logit_bias', 'invalid_type') },
  { name: 'n = 17', body: { n: 17 }, ...bad('n', 'integer_above_max_value') },
  { name: 'n = 0', body: { n: 0 }, ...bad('n', 'integer_below_min_value') },
  { name: 'tools not a list', body: { tools: { type: 'function' } }, ...bad('tools', 'invalid_type') },
  { name: 'tool of another type', body: { tools: [{ type: 'web_search' }] }, ...bad('tools[0].type', 'invalid_value') },
  { name: 'tool name with spaces', body: { tools: [{ type: 'function', function: { name: 'rm -rf' } }] }, ...bad('tools[0].function.name', 'invalid_value') },
  { name: 'tool names that clash', body: { tools: [fn('f'), fn('g'), fn('f')] }, ...bad('tools[2].function.name', 'duplicate_tool_name') },
  { name: 'tool parameters a string', body: { tools: [{ type: 'function', function: { name: 'f', parameters: 'object' } }] }, ...bad('tools[0].function.parameters', 'invalid_type') },
  { name: '1 MB tool schema', body: { tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', description: 'd'.repeat(1 << 20) } } }] }, ...bad('tools[0].function.parameters', 'schema_too_large') },
  { name: '129 tools', body: { tools: Array.from({ length: 129 }, (_, i) => fn(`f${i}`)) }, ...bad('tools', 'array_above_max_length') },
  { name: 'tool_choice required without tools', body: { tool_choice: 'required' }, ...bad('tool_choice', 'invalid_value') },
  { name: 'tool_choice naming no tool', body: { tools: [fn('f')], tool_choice: { type: 'function', function: { name: 'g' } } }, ...bad('tool_choice', 'invalid_value') },
  { name: 'tool_choice a number', body: { tools: [fn('f')], tool_choice: 3 }, ...bad('tool_choice', 'invalid_type') },
  { name: 'functions', body: { functions: [{ name: 'f' }] }, ...nope('functions') },
  { name: 'reasoning_effort extreme', body: { reasoning_effort: 'extreme' }, ...bad('reasoning_effort', 'invalid_value') },
  { name: 'logprobs a string', body: { logprobs: 'yes' }, ...bad('logprobs', 'invalid_type') },
  { name: 'top_logprobs without logprobs', body: { top_logprobs: 3 }, ...bad('top_logprobs', 'invalid_value') },
  { name: 'top_logprobs 10000', body: { logprobs: true, top_logprobs: 10_000 }, ...bad('top_logprobs', 'integer_above_max_value') },
  { name: 'response_format type xml', body: { response_format: { type: 'xml' } }, ...bad('response_format.type', 'invalid_value') },
  { name: 'json_schema without its object', body: { response_format: { type: 'json_schema' } }, ...bad('response_format.json_schema', 'missing_required_parameter') },
  { name: 'json_schema without a name', body: { response_format: { type: 'json_schema', json_schema: { schema: {} } } }, ...bad('response_format.json_schema.name', 'missing_required_parameter') },
  { name: 'json_schema schema an array', body: { response_format: { type: 'json_schema', json_schema: { name: 'x', schema: [] } } }, ...bad('response_format.json_schema.schema', 'invalid_type') },
  { name: '1 MB json_schema', body: { response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { enum: ['e'.repeat(1 << 20)] } } } }, ...bad('response_format.json_schema.schema', 'schema_too_large') },
  { name: 'audio', body: { audio: { voice: 'x' } }, ...nope('audio') },
  { name: 'model a number', body: { model: 123 }, ...bad('model', 'invalid_type') },
  { name: 'unknown model', body: { model: 'gpt-4o' }, status: 404, type: 'not_found_error', param: 'model', code: 'model_not_found' },
  { name: 'model missing (2 served)', body: { model: undefined }, ...bad('model', 'missing_required_parameter') },
  { name: 'chat_template_kwargs a string', body: { chat_template_kwargs: 'x' }, ...bad('chat_template_kwargs', 'invalid_type') },
  { name: '10 MB body', body: JSON.stringify({ ...base[CHAT], pad: 'x'.repeat(10 * 1024 * 1024) }), ...bad(null, 'request_too_large', 413) },
  { name: 'prompt far beyond the context', body: user('y'.repeat(300_000)), ...bad('messages', 'context_length_exceeded') },
  { name: 'completions: prompt missing', path: COMPLETIONS, body: { prompt: undefined }, ...bad('prompt', 'missing_required_parameter') },
  { name: 'completions: prompt an object', path: COMPLETIONS, body: { prompt: {} }, ...bad('prompt', 'invalid_type') },
  { name: 'completions: two prompts', path: COMPLETIONS, body: { prompt: ['a', 'b'] }, ...nope('prompt') },
  { name: 'completions: negative token id', path: COMPLETIONS, body: { prompt: [5, -1] }, ...bad('prompt[1]', 'integer_below_min_value') },
  { name: 'completions: echo', path: COMPLETIONS, body: { echo: true }, ...nope('echo') },
  { name: 'completions: best_of 3', path: COMPLETIONS, body: { best_of: 3 }, ...nope('best_of') },
  { name: 'completions: suffix', path: COMPLETIONS, body: { suffix: 'end' }, ...nope('suffix') },
  { name: 'completions: logprobs 21', path: COMPLETIONS, body: { logprobs: 21 }, ...bad('logprobs', 'integer_above_max_value') },
  { name: 'completions: huge prompt', path: COMPLETIONS, body: { prompt: 'z'.repeat(1_000_000) }, ...bad('prompt', 'context_length_exceeded') },
  { name: 'tokenize: content a number', path: '/tokenize', body: { content: 5 }, ...bad('content', 'invalid_type') },
  { name: 'tokenize: with_pieces a string', path: '/tokenize', body: { with_pieces: 'yes' }, ...bad('with_pieces', 'invalid_type') },
  { name: 'detokenize: tokens a string', path: '/detokenize', body: { tokens: 'abc' }, ...bad('tokens', 'invalid_type') },
  { name: 'detokenize: token a float', path: '/detokenize', body: { tokens: [1.5] }, ...bad('tokens[0]', 'invalid_value') },
  { name: 'GET on a POST route', path: CHAT, method: 'GET', status: 404, type: 'not_found_error', param: null, code: 'unknown_url' },
];

function bodyOf(c: Case): string | undefined {
  if (c.method === 'GET') return undefined;
  if (typeof c.body === 'string') return c.body;
  return JSON.stringify({ ...base[c.path ?? CHAT], ...c.body });
}

function makeApp() {
  const registry = new ModelRegistry([
    { id: 'fake', model: new FakeModel({ contextSize: 128 }) },
    { id: 'other', model: new FakeModel({ name: 'other' }) },
  ]);
  return createApp({ models: registry, log: () => {} });
}

type Send = (path: string, init: RequestInit) => Promise<Response>;

async function runTable(send: Send) {
  const results: string[] = [];
  for (const c of CASES) {
    const res = await send(c.path ?? CHAT, { method: c.method ?? 'POST', headers: { 'content-type': 'application/json' }, body: bodyOf(c) });
    const e = await errorOf(res);
    const got = { status: res.status, type: e.type, param: e.param, code: e.code };
    const want = { status: c.status, type: c.type ?? got.type, param: c.param === undefined ? got.param : c.param, code: c.code === undefined ? got.code : c.code };
    expect(got, `${c.name}: ${e.message}`).toEqual(want);
    expect(e.message.length, c.name).toBeGreaterThan(0);
    results.push(`${c.name} → ${res.status} ${e.code}`);
    // The server still answers normally.
    const ok = await send(CHAT, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(base[CHAT]) });
    expect(ok.status, `after ${c.name}`).toBe(200);
    expect(((await ok.json()) as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content).toBe('echo: ok');
  }
  return results;
}

describe('server: hostile requests', () => {
  it(`has at least 20 cases (${CASES.length})`, () => {
    expect(CASES.length).toBeGreaterThanOrEqual(20);
  });

  it('answers each through app.request with the right 4xx', async () => {
    const app = makeApp();
    const results = await runTable(async (path, init) => app.request(path, init));
    if (process.env.SERVER_TABLE) console.log(results.join("\n"));
  });

  describe('over a socket', () => {
    let server: RunningServer;
    beforeAll(async () => {
      const registry = new ModelRegistry([
        { id: 'fake', model: new FakeModel({ contextSize: 128 }) },
        { id: 'other', model: new FakeModel({ name: 'other' }) },
      ]);
      server = await serve({ models: registry, port: 0, log: () => {} });
    });
    afterAll(() => server.close());

    it('answers each with the right 4xx', async () => {
      await runTable((path, init) => fetch(server.url + path, init));
    });

    it('refuses a declared 10 MB body before reading it', async () => {
      const res = await fetch(server.url + CHAT, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: new Uint8Array(10 * 1024 * 1024).fill(0x20),
      });
      expect(res.status).toBe(413);
      expect(await errorOf(res)).toMatchObject({ code: 'request_too_large' });
    });
  });
});
