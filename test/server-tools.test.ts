// Structured outputs and tool calling through the official `openai` client against the real
// SmolLM2-135M-Instruct (a template without tool support: llama.cpp's generic JSON protocol),
// both backends. A 135M model follows no format on its own; the grammar makes every answer valid:
// `chat.completions.parse` with a zod schema, json_object, forced tool calls (required, named)
// whose arguments validate against their schemas (ajv, independent of the engine), streamed
// tool-call deltas reassembled, tool results sent back, and bad schemas answered with a 400.
import { Ajv } from 'ajv';
import OpenAI from 'openai';
import { zodResponseFormat } from 'openai/helpers/zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadModel, type Model } from '../ts/index.js';
import { serve, type RunningServer } from '../ts/server/node.js';
import { realModelOrFail } from './helpers/real-models.js';
import { TIME, WEATHER } from './helpers/weather-tools.js';

const smol = realModelOrFail('SmolLM2', 'tools');
const usable = smol !== undefined;

const TOOLS: OpenAI.Chat.ChatCompletionTool[] = [
  { type: 'function', function: { name: 'get_weather', description: 'Current weather in a city', parameters: WEATHER, strict: true } },
  { type: 'function', function: { name: 'get_time', description: 'Current time in a timezone', parameters: TIME } },
];
const ajv = new Ajv();
const validators: Record<string, ReturnType<Ajv['compile']>> = { get_weather: ajv.compile(WEATHER), get_time: ajv.compile(TIME) };
const ASK = [{ role: 'user' as const, content: 'What is the weather in Paris right now?' }];

for (const backend of ['native', 'wasm'] as const) {
  describe.skipIf(!usable)(`structured outputs and tools on SmolLM2 (${backend})`, () => {
    let model: Model;
    let server: RunningServer;
    let client: OpenAI;

    beforeAll(async () => {
      model = await loadModel(smol!.path, { backend, threads: 2 });
      server = await serve({ models: [{ id: 'smol', model, contextSize: 1024 }], port: 0, parallel: 2, log: () => {} });
      client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    }, 60_000);
    afterAll(async () => {
      await server?.close();
      model?.dispose();
    });

    it('chat.completions.parse with a zod schema: parsed and valid on every try', async () => {
      const Person = z.object({ name: z.string().max(20), age: z.number().int().min(0).max(120), hobbies: z.array(z.string().max(15)).max(3) });
      const settings = [[0, 1], [1, 2], [1.2, 3]] as const;
      for (const [temperature, seed] of backend === 'native' ? settings : settings.slice(1, 2)) {
        const res = await client.chat.completions.parse({
          model: 'smol',
          messages: [{ role: 'user', content: 'Invent a person.' }],
          response_format: zodResponseFormat(Person, 'person'),
          temperature,
          seed,
          max_tokens: 200,
        });
        const msg = res.choices[0]!.message;
        expect(res.choices[0]!.finish_reason, msg.content ?? '').toBe('stop');
        expect(Person.safeParse(msg.parsed).success, msg.content ?? '').toBe(true);
      }
    }, 300_000);

    // The WASM backend runs the same engine code a few times slower: there, the checks that
    // exercise the grammar path (structured output, a forced call, refused schemas) suffice.
    const nativeOnly = (name: string, fn: () => Promise<void>, timeout: number) => {
      if (backend === 'native') it(name, fn, timeout);
    };

    nativeOnly('json_object: any JSON object', async () => {
      const res = await client.chat.completions.create({ model: 'smol', messages: [{ role: 'user', content: 'Reply in JSON.' }], response_format: { type: 'json_object' }, temperature: 0.8, seed: 5, max_tokens: 120 });
      const value: unknown = JSON.parse(res.choices[0]!.message.content!);
      expect(typeof value === 'object' && value !== null && !Array.isArray(value)).toBe(true);
    }, 120_000);

    it("tool_choice 'required' and a named function: a valid call every time", async () => {
      const choices: OpenAI.Chat.ChatCompletionToolChoiceOption[] = ['required', { type: 'function', function: { name: 'get_time' } }];
      for (const [i, tool_choice] of choices.entries()) {
        for (const seed of backend === 'native' ? [11, 12] : [11]) {
          const res = await client.chat.completions.create({ model: 'smol', messages: ASK, tools: TOOLS, tool_choice, temperature: 1, seed, max_tokens: 150, parallel_tool_calls: false });
          const choice = res.choices[0]!;
          expect(choice.finish_reason, JSON.stringify(choice.message)).toBe('tool_calls');
          const calls = choice.message.tool_calls!;
          expect(calls).toHaveLength(1);
          const call = calls[0]! as OpenAI.Chat.ChatCompletionMessageFunctionToolCall;
          if (i === 1) expect(call.function.name).toBe('get_time');
          expect(call.id).toMatch(/^call_/);
          const args: unknown = JSON.parse(call.function.arguments);
          expect(validators[call.function.name]!(args), `${call.function.arguments}: ${JSON.stringify(validators[call.function.name]!.errors)}`).toBe(true);
        }
      }
    }, 300_000);

    nativeOnly('streamed tool-call deltas reassemble into the non-streamed call', async () => {
      // One call: greedy, this small model would repeat parallel calls until max_tokens.
      const body = { model: 'smol', messages: ASK, tools: TOOLS, tool_choice: 'required' as const, parallel_tool_calls: false, temperature: 0, max_tokens: 150 };
      const whole = await client.chat.completions.create(body);
      const stream = await client.chat.completions.create({ ...body, stream: true });
      const calls: { id?: string; name: string; arguments: string }[] = [];
      let finish: string | null = null;
      for await (const chunk of stream) {
        const c = chunk.choices[0];
        if (!c) continue;
        finish = c.finish_reason ?? finish;
        for (const d of c.delta.tool_calls ?? []) {
          calls[d.index] ??= { name: '', arguments: '' };
          const acc = calls[d.index]!;
          if (d.id) acc.id = d.id;
          acc.name += d.function?.name ?? '';
          acc.arguments += d.function?.arguments ?? '';
        }
      }
      expect(finish).toBe('tool_calls');
      const expected = whole.choices[0]!.message.tool_calls!.map((t) => ({ name: (t as OpenAI.Chat.ChatCompletionMessageFunctionToolCall).function.name, arguments: (t as OpenAI.Chat.ChatCompletionMessageFunctionToolCall).function.arguments }));
      expect(calls.map(({ name, arguments: a }) => ({ name, arguments: a }))).toEqual(expected);
    }, 300_000);

    nativeOnly('a tool result goes back through the template and the model answers', async () => {
      const first = await client.chat.completions.create({ model: 'smol', messages: ASK, tools: TOOLS, tool_choice: 'required', parallel_tool_calls: false, temperature: 0, max_tokens: 150 });
      const call = first.choices[0]!.message.tool_calls![0]!;
      const res = await client.chat.completions.create({
        model: 'smol',
        messages: [...ASK, first.choices[0]!.message, { role: 'tool', tool_call_id: call.id, content: '{"temperature": 21, "sky": "clear"}' }],
        tools: TOOLS,
        temperature: 0,
        max_tokens: 60,
      });
      const msg = res.choices[0]!.message;
      // The generic protocol answers JSON: a response (content) or another call.
      expect(msg.content !== null || (msg.tool_calls?.length ?? 0) > 0).toBe(true);
      expect(res.usage!.prompt_tokens).toBeGreaterThan(first.usage!.prompt_tokens);
    }, 300_000);

    it('schemas the grammar engine refuses are a 400 naming response_format; the server stays up', async () => {
      const bad = async (schema: Record<string, unknown>) => {
        try {
          await client.chat.completions.create({ model: 'smol', messages: ASK, response_format: { type: 'json_schema', json_schema: { name: 'x', schema } }, max_tokens: 8 });
        } catch (err) {
          return err as InstanceType<typeof OpenAI.APIError>;
        }
        throw new Error(`expected a rejection: ${JSON.stringify(schema)}`);
      };
      for (const schema of [{ type: 'strin' }, { $ref: '#/definitions/missing' }, { type: 'object', properties: { a: { $ref: '#' } }, required: ['a'] }]) {
        const err = await bad(schema);
        expect(err, JSON.stringify(schema)).toBeInstanceOf(OpenAI.BadRequestError);
        expect(err, JSON.stringify(schema)).toMatchObject({ status: 400, type: 'invalid_request_error' });
        // The engine's compile errors name the field; the recursion check names the schema in it.
        expect(err.param, JSON.stringify(schema)).toMatch(/^response_format/);
      }
      // Streamed too: the grammar is compiled before the stream starts, so it is a plain 400.
      const streamed = await fetch(`${server.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'smol', messages: ASK, stream: true, response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'array', uniqueItems: true } } } }),
      });
      expect(streamed.status).toBe(400);
      const body = (await streamed.json()) as { error: { param: string; code: string; message: string } };
      expect(body.error).toMatchObject({ param: 'response_format', code: 'grammar_invalid' });
      expect(body.error.message).toContain('uniqueItems'); // the engine names what it cannot enforce
      const ok = await client.chat.completions.create({ model: 'smol', messages: ASK, temperature: 0, max_tokens: 4 });
      expect(ok.choices[0]!.message.content).toBeTypeOf('string');
    }, 120_000);
  });
}
