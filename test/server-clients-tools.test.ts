// Structured outputs and tool calling through three more clients against the real
// SmolLM2-135M-Instruct (native backend; its template has no tool support, so the server speaks
// llama.cpp's generic JSON protocol): the Vercel AI SDK (`generateObject`, forced tool calls, a
// two-step tool loop), Anthropic's SDK (/v1/messages: forced and named tool_use, streamed, a
// tool_result turn) and OpenAI's Responses API (function_call items, text.format json_schema,
// streamed, `responses.parse` with zod). A 135M model follows no format on its own: the grammar
// makes every answer valid, and each answer is checked against its schema (ajv / zod, independent
// of the engine). Greedy and one call per turn: a greedy 135M model repeats parallel calls.
import Anthropic from '@anthropic-ai/sdk';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { generateObject, generateText, stepCountIs, streamText, tool } from 'ai';
import { Ajv } from 'ajv';
import OpenAI from 'openai';
import { zodTextFormat } from 'openai/helpers/zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadModel, type Model } from '../ts/index.js';
import { serve, type RunningServer } from '../ts/server/node.js';
import { realModelOrFail } from './helpers/real-models.js';
import { TIME, WEATHER } from './helpers/weather-tools.js';

const smol = realModelOrFail('SmolLM2', 'clients-tools');
const usable = smol !== undefined;

const PERSON = {
  type: 'object',
  properties: { name: { type: 'string', maxLength: 20 }, age: { type: 'integer', minimum: 0, maximum: 120 } },
  required: ['name', 'age'],
  additionalProperties: false,
};
const ajv = new Ajv();
const validators: Record<string, ReturnType<Ajv['compile']>> = { get_weather: ajv.compile(WEATHER), get_time: ajv.compile(TIME) };
const validPerson = ajv.compile(PERSON);
const ASK = 'What is the weather in Paris right now?';
const RESULT = '{"temperature": 21, "sky": "clear"}';

/** Asserts that `input` (an object, or JSON text) validates against the named tool's schema. */
function expectValidCall(name: string, input: unknown): void {
  const validate = validators[name];
  expect(validate, `unknown tool ${name}`).toBeDefined();
  const value: unknown = typeof input === 'string' ? JSON.parse(input) : input;
  expect(validate!(value), `${name}(${JSON.stringify(value)}): ${JSON.stringify(validate!.errors)}`).toBe(true);
}

/** The request body the AI SDK sent (generate* keep it as JSON text, stream* as the object). */
function bodyOf(body: unknown): Record<string, unknown> {
  return (typeof body === 'string' ? JSON.parse(body) : body) as Record<string, unknown>;
}

describe.skipIf(!usable)('clients: structured outputs and tools on SmolLM2 (native)', () => {
  let model: Model;
  let server: RunningServer;

  beforeAll(async () => {
    model = await loadModel(smol!.path, { backend: 'native', threads: 2 });
    server = await serve({ models: [{ id: 'smol', model, contextSize: 1024 }], port: 0, parallel: 2, log: () => {} });
  }, 60_000);
  afterAll(async () => {
    await server?.close();
    model?.dispose();
  });

  describe('Vercel AI SDK', () => {
    const provider = () => createOpenAICompatible({ name: 'llmplayer', baseURL: `${server.url}/v1`, apiKey: 'unused', includeUsage: true, supportsStructuredOutputs: true });
    // Unknown provider options pass through into the request body.
    const oneCall = { llmplayer: { parallel_tool_calls: false } };
    const weather = { description: 'Current weather in a city', inputSchema: z.object({ city: z.string().max(30), unit: z.enum(['celsius', 'fahrenheit']) }) };

    it('generateObject with a zod schema (json_schema response_format): a valid object', async () => {
      const Person = z.object({ name: z.string().max(20), age: z.number().int().min(0).max(120) });
      const res = await generateObject({ model: provider()('smol'), schema: Person, schemaName: 'person', prompt: 'Invent a person.', temperature: 0, maxOutputTokens: 80, maxRetries: 0 });
      expect(res.finishReason).toBe('stop');
      expect(Person.safeParse(res.object).success, JSON.stringify(res.object)).toBe(true);
      // supportsStructuredOutputs sent the schema itself, not a bare json_object.
      expect(bodyOf(res.request.body).response_format).toMatchObject({ type: 'json_schema', json_schema: { name: 'person' } });
    }, 60_000);

    it("streamText with toolChoice 'required': one tool call whose input validates", async () => {
      const res = streamText({ model: provider()('smol'), prompt: ASK, tools: { get_weather: tool(weather) }, toolChoice: 'required', temperature: 0, maxOutputTokens: 80, maxRetries: 0, providerOptions: oneCall });
      const calls = await res.toolCalls;
      expect(await res.finishReason).toBe('tool-calls');
      expect(calls).toHaveLength(1);
      expect(calls[0]!.toolName).toBe('get_weather');
      expect(calls[0]!.invalid ?? false).toBe(false);
      expectValidCall('get_weather', calls[0]!.input);
      const body = bodyOf((await res.request).body);
      expect(body).toMatchObject({ tool_choice: 'required', parallel_tool_calls: false, stream: true });
    }, 60_000);

    it('generateText with execute and stopWhen: the tool result goes back and a second step runs', async () => {
      const seen: unknown[] = [];
      const res = await generateText({
        model: provider()('smol'),
        prompt: ASK,
        tools: { get_weather: tool({ ...weather, execute: async (input) => (seen.push(input), JSON.parse(RESULT) as object) }) },
        toolChoice: 'required',
        // The first step must call; the second answers (or calls again) under the generic protocol.
        prepareStep: ({ stepNumber }) => (stepNumber === 1 ? { toolChoice: 'auto' } : undefined),
        stopWhen: stepCountIs(2),
        temperature: 0,
        maxOutputTokens: 60,
        maxRetries: 0,
        providerOptions: oneCall,
      });
      expect(res.steps).toHaveLength(2);
      const [first, second] = res.steps;
      expect(first!.finishReason).toBe('tool-calls');
      expect(first!.toolCalls).toHaveLength(1);
      // execute ran once per call of either step (greedy, this model calls again in step 2).
      expect(seen).toHaveLength(first!.toolCalls.length + second!.toolCalls.length);
      for (const input of seen) expectValidCall('get_weather', input);
      expect(first!.toolResults[0]!.output).toEqual(JSON.parse(RESULT));
      // The second request carried the call and its result, and the prompt grew by them.
      const messages = bodyOf(second!.request.body).messages as { role: string; content: unknown; tool_call_id?: string }[];
      const toolMsg = messages.find((m) => m.role === 'tool');
      expect(toolMsg?.tool_call_id).toBe(first!.toolCalls[0]!.toolCallId);
      expect(JSON.parse(toolMsg!.content as string)).toEqual(JSON.parse(RESULT));
      expect(second!.usage.inputTokens!).toBeGreaterThan(first!.usage.inputTokens!);
      expect(['stop', 'tool-calls', 'length']).toContain(second!.finishReason);
      if (second!.finishReason === 'stop') expect(second!.text.length).toBeGreaterThan(0);
      for (const call of second!.toolCalls) expectValidCall(call.toolName, call.input);
    }, 60_000);
  });

  describe('Anthropic SDK (/v1/messages)', () => {
    let client: Anthropic;
    // The SDK's types dropped `temperature` (the API and this server still take it).
    const GREEDY: object = { temperature: 0 };
    const TOOLS: Anthropic.Tool[] = [
      { name: 'get_weather', description: 'Current weather in a city', input_schema: WEATHER as Anthropic.Tool.InputSchema },
      { name: 'get_time', description: 'Current time in a timezone', input_schema: TIME as Anthropic.Tool.InputSchema },
    ];
    const forced = { model: 'smol', max_tokens: 80, ...GREEDY, messages: [{ role: 'user' as const, content: ASK }], tools: TOOLS, tool_choice: { type: 'any' as const, disable_parallel_tool_use: true } };
    let anyCall: Anthropic.Message;
    beforeAll(() => {
      client = new Anthropic({ baseURL: server.url, apiKey: 'unused', maxRetries: 0 });
    });

    function onlyToolUse(msg: Anthropic.Message): Anthropic.ToolUseBlock {
      expect(msg.stop_reason, JSON.stringify(msg.content)).toBe('tool_use');
      expect(msg.content).toHaveLength(1);
      const block = msg.content[0]!;
      expect(block.type).toBe('tool_use');
      return block as Anthropic.ToolUseBlock;
    }

    it("tool_choice 'any': one tool_use block whose input validates", async () => {
      anyCall = await client.messages.create(forced);
      const block = onlyToolUse(anyCall);
      expect(block.id).toMatch(/^toolu_/);
      expectValidCall(block.name, block.input);
    }, 60_000);

    it("tool_choice 'tool': the named tool, valid input", async () => {
      const msg = await client.messages.create({ ...forced, tool_choice: { type: 'tool', name: 'get_time', disable_parallel_tool_use: true } });
      const block = onlyToolUse(msg);
      expect(block.name).toBe('get_time');
      expectValidCall('get_time', block.input);
    }, 60_000);

    it('messages.stream: finalMessage holds the same tool_use', async () => {
      const msg = await client.messages.stream(forced).finalMessage();
      const block = onlyToolUse(msg);
      const whole = anyCall.content[0] as Anthropic.ToolUseBlock;
      expect({ name: block.name, input: block.input }).toEqual({ name: whole.name, input: whole.input });
    }, 60_000);

    it('a tool_result turn: the model answers, the result in its prompt', async () => {
      const block = anyCall.content[0] as Anthropic.ToolUseBlock;
      const msg = await client.messages.create({
        model: 'smol',
        max_tokens: 60,
        ...GREEDY,
        tools: TOOLS,
        messages: [
          { role: 'user', content: ASK },
          { role: 'assistant', content: anyCall.content },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: block.id, content: RESULT }] },
        ],
      });
      // input_tokens leaves out the prompt-cache hits (the first turn's prefix).
      const prompt = (u: Anthropic.Usage) => u.input_tokens + (u.cache_read_input_tokens ?? 0);
      expect(prompt(msg.usage)).toBeGreaterThan(prompt(anyCall.usage) + 10);
      expect(['end_turn', 'tool_use', 'max_tokens']).toContain(msg.stop_reason);
      expect(msg.content.length).toBeGreaterThan(0);
      for (const b of msg.content) {
        if (b.type === 'tool_use') expectValidCall(b.name, b.input);
        else expect(b.type === 'text' && b.text.length > 0, JSON.stringify(b)).toBe(true);
      }
    }, 60_000);
  });

  describe('OpenAI Responses API', () => {
    let client: OpenAI;
    const TOOLS: OpenAI.Responses.FunctionTool[] = [
      { type: 'function', name: 'get_weather', description: 'Current weather in a city', parameters: WEATHER, strict: true },
      { type: 'function', name: 'get_time', description: 'Current time in a timezone', parameters: TIME, strict: false },
    ];
    const forced = { model: 'smol', input: ASK, tools: TOOLS, tool_choice: 'required' as const, parallel_tool_calls: false, temperature: 0, max_output_tokens: 80 };
    const person = { model: 'smol', input: 'Invent a person.', text: { format: { type: 'json_schema' as const, name: 'person', schema: PERSON, strict: true } }, temperature: 0, max_output_tokens: 80 };
    beforeAll(() => {
      client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    });

    function onlyCall(res: OpenAI.Responses.Response): OpenAI.Responses.ResponseFunctionToolCall {
      expect(res.status, JSON.stringify(res.output)).toBe('completed');
      expect(res.output).toHaveLength(1);
      expect(res.output[0]!.type).toBe('function_call');
      return res.output[0] as OpenAI.Responses.ResponseFunctionToolCall;
    }

    it("tool_choice 'required': one function_call item with valid JSON arguments; streamed the same", async () => {
      const res = await client.responses.create(forced);
      const call = onlyCall(res);
      expect(call.call_id).toMatch(/^call_/);
      expectValidCall(call.name, call.arguments);
      let args = '';
      let done: OpenAI.Responses.Response | undefined;
      for await (const e of await client.responses.create({ ...forced, stream: true })) {
        if (e.type === 'response.function_call_arguments.delta') args += e.delta;
        if (e.type === 'response.completed') done = e.response;
      }
      expect(args).toBe(call.arguments);
      const streamed = onlyCall(done!);
      expect({ name: streamed.name, arguments: streamed.arguments }).toEqual({ name: call.name, arguments: call.arguments });
    }, 60_000);

    it('text.format json_schema: output_text parses and validates; streamed the same', async () => {
      const res = await client.responses.create(person);
      expect(res.status).toBe('completed');
      const value: unknown = JSON.parse(res.output_text);
      expect(validPerson(value), `${res.output_text}: ${JSON.stringify(validPerson.errors)}`).toBe(true);
      expect(res.text?.format).toMatchObject({ type: 'json_schema', name: 'person' });
      let text = '';
      let done: OpenAI.Responses.Response | undefined;
      for await (const e of await client.responses.create({ ...person, stream: true })) {
        if (e.type === 'response.output_text.delta') text += e.delta;
        if (e.type === 'response.completed') done = e.response;
      }
      expect(text).toBe(res.output_text);
      expect(done!.output).toEqual([expect.objectContaining({ type: 'message', content: [expect.objectContaining({ type: 'output_text', text: res.output_text })] })]);
    }, 60_000);

    it('responses.parse with zodTextFormat: output_parsed validates', async () => {
      const Person = z.object({ name: z.string().max(20), age: z.number().int().min(0).max(120) });
      const res = await client.responses.parse({ model: 'smol', input: 'Invent a person.', text: { format: zodTextFormat(Person, 'person') }, temperature: 0, max_output_tokens: 80 });
      expect(res.status).toBe('completed');
      expect(Person.safeParse(res.output_parsed).success, res.output_text).toBe(true);
    }, 60_000);
  });
});
