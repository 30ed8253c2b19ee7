// The forced-call grammars (ts/assistant/grammar.ts) on a real model: SmolLM2-135M, whose
// template knows no tools (generic family), generating under each grammar through the SDK's
// `grammar: { type: 'lark' }` option; the parser must read back exactly the calls forced.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  assistantParser,
  genericMessages,
  markerTokens,
  responseGrammar,
  toolCallGrammar,
  toolFamily,
  type ToolFamily,
} from '../ts/assistant/index.js';
import { loadModel } from '../ts/index.js';
import type { Model } from '../ts/types.js';
import { fixturesRoot } from './helpers/fixtures.js';
import { modelsDir, realModels } from './helpers/real-models.js';

const CI = process.env.CI === 'true';
const FILE = 'SmolLM2-135M-Instruct.Q4_1.gguf';
const root = fixturesRoot();
const smol = root === null ? undefined : realModels(root).find((m) => m.file === FILE);
const usable = smol !== undefined && smol.missing === null;
if (root !== null && !usable && !CI) console.warn(`skipping assistant grammar run: ${smol?.missing ?? `${FILE} is not in models.json`} (cache ${modelsDir()})`);

const WEATHER = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Get the current weather for a city.',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
  },
};
const TIME = {
  type: 'function',
  function: {
    name: 'get_time',
    description: 'Get the local time in a timezone.',
    parameters: { type: 'object', properties: { timezone: { type: 'string' } }, required: ['timezone'], additionalProperties: false },
  },
};

it('SmolLM2 is available on CI', () => {
  if (CI) expect(usable, smol?.missing ?? 'not in models.json').toBe(true);
});

describe.skipIf(!usable)('forced tool calls on SmolLM2', () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(smol!.path);
  });
  afterAll(() => model?.dispose());

  async function run(family: ToolFamily, grammar: string, user: string) {
    const prompt = model.applyChatTemplate(genericMessages([{ role: 'user', content: user }], [WEATHER, TIME]), { addGenerationPrompt: true });
    const parser = assistantParser({ family, tools: true, thinking: 'auto' });
    const deltas = [];
    let finish = '';
    for await (const item of model.createSession().generate(prompt, { maxTokens: 200, temperature: 0, grammar: { type: 'lark', grammar } })) {
      if ('finishReason' in item) {
        finish = item.finishReason;
        break;
      }
      deltas.push(parser.push(item.text));
    }
    deltas.push(parser.flush());
    return {
      finish,
      content: deltas.map((d) => d.content ?? '').join(''),
      calls: deltas.flatMap((d) => d.toolCalls ?? []),
    };
  }

  it('the template is generic', () => {
    expect(toolFamily(model.chatTemplate.source)).toBe('generic');
  });

  it('required: one call of an offered tool, its arguments under that tool\'s schema', async () => {
    const out = await run('generic', toolCallGrammar('generic', [WEATHER, TIME], 'required', false), 'What is the weather like in Paris right now?');
    expect(out.finish).toBe('stop'); // the grammar completed, nothing cut short
    expect(out.content).toBe('');
    expect(out.calls).toHaveLength(1);
    const call = out.calls[0]!;
    expect(['get_weather', 'get_time']).toContain(call.name);
    const args = JSON.parse(call.arguments) as Record<string, unknown>;
    expect(Object.keys(args)).toEqual([call.name === 'get_weather' ? 'city' : 'timezone']);
    expect(typeof Object.values(args)[0]).toBe('string');
  });

  it('a named function: exactly that one', async () => {
    const out = await run('generic', toolCallGrammar('generic', [WEATHER, TIME], { name: 'get_time' }, false), 'What is the weather like in Paris right now?');
    expect(out.calls.map((c) => c.name)).toEqual(['get_time']);
    expect(Object.keys(JSON.parse(out.calls[0]!.arguments) as object)).toEqual(['timezone']);
  });

  it('another family\'s markup is forced just the same (hermes) and reads back', async () => {
    const grammar = toolCallGrammar('hermes', [WEATHER, TIME], { name: 'get_weather' }, false, { tokenFor: markerTokens(model) });
    const out = await run('hermes', grammar, 'What is the weather like in Paris right now?');
    expect(out.content).toBe('');
    expect(out.calls.map((c) => c.name)).toEqual(['get_weather']);
  });

  it('auto: a call or a response, either read back whole', async () => {
    const out = await run('generic', responseGrammar([WEATHER, TIME], false), 'Say hello.');
    expect(out.finish).toBe('stop');
    expect(out.calls.length + (out.content ? 1 : 0)).toBe(1);
  });
});
