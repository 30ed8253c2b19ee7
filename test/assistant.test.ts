// ts/assistant: family detection on the shared template fixtures, the streaming parser's holding
// back and fall-backs, the forced-call grammars' structure, and the generic family's template inputs.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  assistantParser,
  genericMessages,
  genericToolSystemPrompt,
  markerTokens,
  promptOpensReasoning,
  responseGrammar,
  TOOL_FAMILIES,
  toolCallGrammar,
  toolFamily,
  toolsForTemplate,
  type AssistantDelta,
  type ToolFamily,
} from '../ts/assistant/index.js';
import { renderChatTemplate } from '../ts/chat-template.js';
import { fixturesRoot } from './helpers/fixtures.js';

const root = fixturesRoot();
const templates = root ? join(root, 'templates') : null;
const template = (name: string) => readFileSync(join(templates!, `${name}.jinja`), 'utf8');
const rendered = (name: string, id: string) =>
  (JSON.parse(readFileSync(join(templates!, `${name}.expected.json`), 'utf8')) as { cases: Record<string, { rendered?: string }> }).cases[id]!.rendered!;

const WEATHER = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Get the current weather for a city.',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};
const TIME = { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: { tz: { type: 'integer' } } } } };

function parseAll(family: ToolFamily, pieces: string[], opts: { tools?: boolean; thinking?: boolean | 'auto' } = {}) {
  const p = assistantParser({ family, tools: opts.tools ?? true, thinking: opts.thinking ?? 'auto' });
  const deltas: AssistantDelta[] = pieces.map((x) => p.push(x));
  deltas.push(p.flush());
  return deltas;
}

function joined(deltas: AssistantDelta[]) {
  return {
    content: deltas.map((d) => d.content ?? '').join(''),
    reasoning: deltas.map((d) => d.reasoning ?? '').join(''),
    calls: deltas.flatMap((d) => d.toolCalls ?? []),
  };
}

describe.skipIf(!templates)('toolFamily on the shared templates', () => {
  // What each template renders a past tool call as (see its e_tool_call golden), hence its family.
  const expected: Record<string, ToolFamily> = {
    'CohereForAI-c4ai-command-r-plus-tool_use': 'command_r',
    'GLM-4.6': 'glm45',
    'HuggingFaceTB-SmolLM3-3B': 'generic', // llama.cpp's copy has no tool markup at all
    'Mistral-Small-3.2-24B-Instruct-2506': 'mistral',
    'Qwen-QwQ-32B': 'hermes',
    'Qwen-Qwen2.5-7B-Instruct': 'hermes',
    'Qwen-Qwen3-0.6B': 'hermes',
    'deepseek-ai-DeepSeek-R1-Distill-Qwen-32B': 'deepseek',
    'deepseek-ai-DeepSeek-V3.1': 'deepseek',
    'google-gemma-2-2b-it': 'generic',
    'ibm-granite-granite-3.3-2B-Instruct': 'granite',
    'ibm-granite-granite-4.0': 'hermes',
    'meta-llama-Llama-3.2-3B-Instruct': 'llama3',
    'microsoft-Phi-3.5-mini-instruct': 'generic',
    'openai-gpt-oss-120b': 'harmony',
  };
  for (const [name, family] of Object.entries(expected)) {
    it(`${name} → ${family}`, () => expect(toolFamily(template(name))).toBe(family));
  }

  it('no template: the vocabulary decides, else generic', () => {
    expect(toolFamily(undefined)).toBe('generic');
    expect(toolFamily(undefined, { hasToken: (t) => t === '[TOOL_CALLS]' })).toBe('mistral');
    expect(toolFamily(undefined, { hasToken: (t) => ['<|channel|>', '<|message|>', '<|start|>', '<|end|>'].includes(t) })).toBe('harmony');
  });

  it('promptOpensReasoning: only a prompt that ends inside <think>', () => {
    // llama.cpp's R1-distill / QwQ copies close the block unless enable_thinking is set.
    expect(promptOpensReasoning(rendered('deepseek-ai-DeepSeek-R1-Distill-Qwen-32B', 'a_single_user'))).toBe(false);
    expect(promptOpensReasoning(rendered('Qwen-Qwen3-0.6B', 'h_thinking_disabled'))).toBe(false);
    expect(promptOpensReasoning(rendered('Qwen-Qwen3-0.6B', 'a_single_user'))).toBe(false);
    const v31 = renderChatTemplate(template('deepseek-ai-DeepSeek-V3.1'), [{ role: 'user', content: 'hi' }], {
      addGenerationPrompt: true,
      bosToken: '<｜begin▁of▁sentence｜>',
      extra: { thinking: true },
    });
    expect(v31.endsWith('<think>')).toBe(true);
    expect(promptOpensReasoning(v31)).toBe(true);
  });
});

describe('assistantParser', () => {
  it('holds back what may be a marker and emits it once decided', () => {
    const p = assistantParser({ family: 'hermes', tools: true, thinking: 'auto' });
    expect(p.push('Sure. <tool')).toEqual({ content: 'Sure.' });
    expect(p.push('box> is a tag')).toEqual({ content: ' <toolbox> is a tag' });
    expect(p.flush()).toEqual({});
  });

  it('emits a call once, whole, when its block closes', () => {
    const p = assistantParser({ family: 'hermes', tools: true, thinking: 'auto' });
    expect(p.push('<tool_call>\n{"name": "get_weather", "arguments": {"city": ')).toEqual({});
    const d = p.push('"Paris"}}\n</tool_call>');
    expect(d.toolCalls).toHaveLength(1);
    expect(d.toolCalls![0]).toMatchObject({ name: 'get_weather', arguments: '{"city":"Paris"}' });
    expect(p.flush()).toEqual({});
  });

  it('arguments given as a JSON string (OpenAI style) become the object text', () => {
    const { calls } = joined(parseAll('hermes', ['<tool_call>{"name": "f", "arguments": "{\\"a\\": 1}"}</tool_call>']));
    expect(calls.map((c) => c.arguments)).toEqual(['{"a":1}']);
  });

  it('streams reasoning before </think> arrives', () => {
    const p = assistantParser({ family: 'hermes', tools: true, thinking: true });
    expect(p.push('Let me think')).toEqual({ reasoning: 'Let me think' });
    expect(p.push(' more.</th')).toEqual({ reasoning: ' more.' });
    expect(p.push('ink>\n\nAnswer')).toEqual({ content: 'Answer' });
  });

  it("thinking false: think tags are content; 'auto': only a leading <think> opens reasoning", () => {
    expect(joined(parseAll('hermes', ['<think>x</think>y'], { thinking: false }))).toMatchObject({ content: '<think>x</think>y', reasoning: '' });
    expect(joined(parseAll('hermes', ['a <think>x</think>y']))).toMatchObject({ content: 'a <think>x</think>y', reasoning: '' });
    expect(joined(parseAll('hermes', ['\n<think>x</think>y']))).toMatchObject({ content: 'y', reasoning: 'x' });
  });

  it('unterminated reasoning (max_tokens) stays reasoning', () => {
    expect(joined(parseAll('deepseek', ['still thinking'], { thinking: true }))).toMatchObject({ content: '', reasoning: 'still thinking' });
  });

  it('malformed blocks are content, for every family, and never throw', () => {
    const cases: [ToolFamily, string][] = [
      ['hermes', '<tool_call>{"name": oops}</tool_call> after'],
      ['hermes', 'Before \n<tool_call>{"name": oops}</tool_call>'],
      ['mistral', 'See: [TOOL_CALLS]x[ARGS]nope'],
      ['glm45', '<tool_call>two words\n<arg_key>a</arg_key></tool_call>'],
      ['mistral', '[TOOL_CALLS] not a call at all'],
      ['mistral', '[TOOL_CALLS][{"name": 1}]'],
      ['deepseek', '<｜tool▁call▁begin｜>no separator<｜tool▁call▁end｜>'],
      ['command_r', 'Action: is my favourite film genre'],
      ['granite', '<|tool_call|>[{"arguments": {}}]'],
      ['llama3', '{"name": "f", "parameters": 3}'],
      ['generic', '{"neither": true}'],
    ];
    for (const [family, text] of cases) {
      for (const pieces of [[text], Array.from(text)]) {
        const got = joined(parseAll(family, pieces));
        expect(got.calls, `${family}: ${text}`).toEqual([]);
        expect(got.content, `${family}: ${text}`).toBe(text);
      }
    }
  });

  it('garbage made of marker pieces never throws, in any family, and keeps every plain character', () => {
    const pieces = ['<tool_call>', '</tool_call>', '[TOOL_CALLS]', '[ARGS]', '<think>', '</think>', '{', '}', '"', '<|channel|>', '<|message|>', '<|end|>', ' to=functions.f', 'Action:', '```', '<｜tool▁sep｜>', 'x', '\n'];
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let round = 0; round < 200; round++) {
      const text = Array.from({ length: 12 }, () => pieces[Math.floor(next() * pieces.length)]).join('');
      for (const family of TOOL_FAMILIES) {
        const chunks = Array.from(text);
        expect(() => parseAll(family, chunks, { thinking: round % 3 === 0 ? true : 'auto' })).not.toThrow();
      }
    }
  });

  it('tools: false leaves every family\'s markup as content', () => {
    const texts: [ToolFamily, string][] = [
      ['mistral', '[TOOL_CALLS]f[ARGS]{"a": 1}'],
      ['deepseek', '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>f<｜tool▁sep｜>{}<｜tool▁call▁end｜><｜tool▁calls▁end｜>'],
      ['llama3', '{"name": "f", "parameters": {}}'],
    ];
    for (const [family, text] of texts) expect(joined(parseAll(family, [text], { tools: false })).content).toBe(text);
  });

  it('harmony without tools drops function calls as the content view does; thinking false drops analysis', () => {
    const text = '<|channel|>analysis<|message|>hmm<|end|><|start|>assistant<|channel|>commentary to=functions.f <|constrain|>json<|message|>{}';
    expect(joined(parseAll('harmony', [text], { tools: false }))).toMatchObject({ content: '', reasoning: 'hmm', calls: [] });
    expect(joined(parseAll('harmony', [text], { thinking: false }))).toMatchObject({ reasoning: '', calls: [expect.objectContaining({ name: 'f', arguments: '{}' })] });
  });

  it('ids are unique per call', () => {
    const out = joined(parseAll('hermes', ['<tool_call>{"name":"a","arguments":{}}</tool_call><tool_call>{"name":"a","arguments":{}}</tool_call>']));
    expect(new Set(out.calls.map((c) => c.id)).size).toBe(2);
  });
});

/** The JSON after each `%json` in a grammar. */
function jsonPayloads(grammar: string): Record<string, any>[] {
  const out: Record<string, any>[] = [];
  for (let at = grammar.indexOf('%json '); at !== -1; at = grammar.indexOf('%json ', at + 1)) {
    let depth = 0;
    let inString = false;
    let end = at + 6;
    for (; end < grammar.length; end++) {
      const c = grammar[end];
      if (inString) {
        if (c === '\\') end++;
        else if (c === '"') inString = false;
      } else if (c === '"') inString = true;
      else if (c === '{') depth++;
      else if (c === '}' && --depth === 0) break;
    }
    out.push(JSON.parse(grammar.slice(at + 6, end + 1)));
  }
  return out;
}

describe('toolCallGrammar', () => {
  const tools = [WEATHER, TIME];

  it('every family: a start rule, its markup, and only the allowed names', () => {
    for (const family of TOOL_FAMILIES) {
      const g = toolCallGrammar(family, tools, 'required', false);
      expect(g, family).toMatch(/^start: /);
      expect(g, family).toContain('get_weather');
      expect(g, family).toContain('get_time');
      const named = toolCallGrammar(family, tools, { name: 'get_time' }, false);
      expect(named, family).toContain('get_time');
      expect(named, family).not.toContain('get_weather');
      for (const payload of jsonPayloads(g)) expect(payload['x-guidance'], family).toMatchObject({ whitespace_flexible: false });
    }
  });

  it("the family's markers are in the grammar", () => {
    const markers: Record<ToolFamily, string[]> = {
      hermes: ['"<tool_call>"', '"</tool_call>"'],
      llama3: [],
      mistral: ['"[TOOL_CALLS]"'],
      deepseek: ['"<｜tool▁calls▁begin｜>"', '"<｜tool▁call▁begin｜>"', '"<｜tool▁sep｜>"', '"<｜tool▁call▁end｜>"'],
      glm45: ['"<tool_call>"', '"<arg_key>"', '"city"', '"</arg_value>"'],
      command_r: ['"Action:\\n```json\\n"'],
      granite: ['"<|tool_call|>"'],
      harmony: ['"<|channel|>"', '"commentary to=functions.get_weather "', '"<|constrain|>"', '"<|message|>"'],
      generic: [],
    };
    for (const family of TOOL_FAMILIES) {
      const g = toolCallGrammar(family, [WEATHER], 'required', false);
      for (const m of markers[family]) expect(g, family).toContain(m);
    }
  });

  it('JSON bodies tie each name to its own parameters', () => {
    const [schema] = jsonPayloads(toolCallGrammar('hermes', tools, 'required', false));
    expect(schema!.anyOf.map((s: any) => [s.properties.name.const, s.properties.arguments])).toEqual([
      ['get_weather', WEATHER.function.parameters],
      ['get_time', TIME.function.parameters],
    ]);
    const [llama] = jsonPayloads(toolCallGrammar('llama3', [WEATHER], 'required', false));
    expect(Object.keys(llama!.properties)).toEqual(['name', 'parameters']);
  });

  it('parallel: repeated calls or arrays without maxItems; single: one', () => {
    expect(toolCallGrammar('hermes', tools, 'required', true)).toContain('start: call ("\\n" call)*');
    expect(toolCallGrammar('hermes', tools, 'required', false)).toContain('start: call\n');
    expect(jsonPayloads(toolCallGrammar('granite', tools, 'required', false))[0]).toMatchObject({ maxItems: 1, minItems: 1 });
    expect(jsonPayloads(toolCallGrammar('granite', tools, 'required', true))[0]!.maxItems).toBeUndefined();
    expect(Object.keys(jsonPayloads(toolCallGrammar('generic', tools, 'required', true))[0]!.properties)).toEqual(['tool_calls']);
    expect(Object.keys(jsonPayloads(toolCallGrammar('generic', tools, 'required', false))[0]!.properties)).toEqual(['tool_call']);
  });

  it('variants follow the template: Mistral forms, DeepSeek fences', () => {
    const nemo = toolCallGrammar('mistral', [WEATHER], 'required', false, { template: '[TOOL_CALLS]' });
    expect(jsonPayloads(nemo)[0]!.items.properties.id.pattern).toBe('^[a-zA-Z0-9]{9}$');
    const small32 = toolCallGrammar('mistral', [WEATHER], 'required', false, { template: template32() });
    expect(small32).toContain('"[TOOL_CALLS]" "get_weather" "[CALL_ID]" /[a-zA-Z0-9]{9}/ "[ARGS]" %json');
    expect(toolCallGrammar('deepseek', [WEATHER], 'required', false, { template: "'```json'" })).toContain('"function"');
    expect(toolCallGrammar('deepseek', [WEATHER], 'required', false, { template: '' })).not.toContain('"function"');
  });

  it('markers that are single tokens are written as that token', () => {
    const ids: Record<string, number> = { '<tool_call>': 151657, '</tool_call>': 151658 };
    const g = toolCallGrammar('hermes', [WEATHER], 'required', false, { tokenFor: (t) => ids[t] });
    expect(g).toContain('<[151657]> "\\n" %json');
    expect(g).toContain('"\\n" <[151658]>');
    expect(g).not.toContain('"<tool_call>"');
  });

  it('markerTokens: one token that renders as the marker, else none', () => {
    const vocab = ['<tool_call>', '<', 'tool', '_call', '>'];
    const model = {
      tokenize: (text: string, o?: { special?: boolean }) => (o?.special && text === '<tool_call>' ? [0] : text === '</tool_call>' ? [1, 2, 3, 4] : [1]),
      tokenPiece: (id: number) => vocab[id]!,
    };
    const tokenFor = markerTokens(model);
    expect(tokenFor('<tool_call>')).toBe(0);
    expect(tokenFor('</tool_call>')).toBeUndefined();
    expect(tokenFor('[TOOL_CALLS]')).toBeUndefined(); // one token, but it renders as '<'
  });

  it('no tools, or a named function that is not among them, is an error', () => {
    expect(() => toolCallGrammar('hermes', [], 'required', false)).toThrow(/at least one/);
    expect(() => toolCallGrammar('hermes', tools, { name: 'nope' }, false)).toThrow(/'nope'/);
  });

  it('responseGrammar: the call shape or {"response": …}', () => {
    const [schema] = jsonPayloads(responseGrammar(tools, false));
    expect(schema!.anyOf).toHaveLength(2);
    expect(schema!.anyOf[1]).toMatchObject({ properties: { response: { type: 'string' } }, required: ['response'] });
    const [structured] = jsonPayloads(responseGrammar(tools, false, { type: 'object', properties: { n: { type: 'integer' } } }));
    expect(structured!.anyOf[1].properties.response.properties.n.type).toBe('integer');
  });
});

function template32(): string {
  return templates ? template('Mistral-Small-3.2-24B-Instruct-2506') : '[TOOL_CALLS] [CALL_ID] [ARGS]';
}

describe('template inputs', () => {
  it('toolsForTemplate keeps function tools and gives each a parameters object', () => {
    expect(toolsForTemplate(undefined)).toBeNull();
    expect(toolsForTemplate([{ type: 'retrieval' }])).toBeNull();
    const out = toolsForTemplate([{ type: 'function', function: { name: 'f' } }, { type: 'function', function: { name: 'g', parameters: '{"type":"object"}' } }]);
    expect(out).toEqual([
      { type: 'function', function: { name: 'f', parameters: { type: 'object', properties: {} } } },
      { type: 'function', function: { name: 'g', parameters: { type: 'object' } } },
    ]);
  });

  it("genericToolSystemPrompt: llama.cpp's instruction, the tools and the example as minja writes them", () => {
    // minja's ToolsPolyfill test (chat-template.hpp) expects exactly this tools dump for this tool.
    const special = {
      type: 'function',
      function: {
        name: 'special_function',
        description: "I'm special",
        parameters: { type: 'object', properties: { arg1: { type: 'integer', description: 'The arg.' } }, required: ['arg1'] },
      },
    };
    const text = genericToolSystemPrompt([special]);
    expect(text.startsWith("Respond in JSON format, either with `tool_call` (a request to call tools) or with `response` reply to the user's request\n\n")).toBe(true);
    expect(text).toContain(
      "You can call any of the following tools to satisfy the user's requests: [\n  {\n    \"type\": \"function\",\n    \"function\": {\n      \"name\": \"special_function\",\n      \"description\": \"I'm special\",\n      \"parameters\": {\n        \"type\": \"object\",\n        \"properties\": {\n          \"arg1\": {\n            \"type\": \"integer\",\n            \"description\": \"The arg.\"\n          }\n        },\n        \"required\": [\n          \"arg1\"\n        ]\n      }\n    }\n  }\n]\n\nExample tool call syntax:\n\n{\n  \"tool_calls\": [\n",
    );
    expect(text.endsWith('"id": "call_1___"\n    }\n  ]\n}\n\n')).toBe(true);
  });

  it.skipIf(!templates)('genericMessages renders a tool round trip through a template without tools (Phi-3.5)', () => {
    const messages = genericMessages(
      [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Weather in Paris?' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call00001', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
        { role: 'tool', tool_call_id: 'call00001', name: 'get_weather', content: '{"temperature_c": 18}' },
      ],
      [WEATHER],
    );
    expect(messages[0]!.content).toMatch(/^Be brief\.\n\nRespond in JSON format/);
    expect(messages[2]).toEqual({
      role: 'assistant',
      content: '{\n  "tool_calls": [\n    {\n      "name": "get_weather",\n      "arguments": {\n        "city": "Paris"\n      },\n      "id": "call00001"\n    }\n  ]\n}',
    });
    expect(messages[3]).toEqual({
      role: 'user',
      content: '{\n  "tool_response": {\n    "tool": "get_weather",\n    "content": "{\\"temperature_c\\": 18}",\n    "tool_call_id": "call00001"\n  }\n}',
    });
    const text = renderChatTemplate(template('microsoft-Phi-3.5-mini-instruct'), messages, { addGenerationPrompt: true, eosToken: '<|endoftext|>' });
    expect(text).toContain('"tool_response"');
    expect(text).toContain('You can call any of the following tools');
  });
});

describe('generic response streaming', () => {
  it('streams the response string as it is written, escapes decoded, the same text as whole', () => {
    const text = '{\n  "response": "Caf\\u00e9 \\"ok\\"\\nline \\ud83d\\ude00 end"\n}';
    const want = 'Café "ok"\nline 😀 end';
    const p = assistantParser({ family: 'generic', tools: true, thinking: 'auto' });
    const deltas = Array.from(text).map((c) => p.push(c));
    deltas.push(p.flush());
    expect(joined(deltas).content).toBe(want);
    // Text came out before the object closed, and never half a surrogate pair.
    const firstAt = deltas.findIndex((d) => d.content);
    expect(firstAt).toBeGreaterThan(0);
    expect(firstAt).toBeLessThan(text.indexOf('end'));
    for (const d of deltas) if (d.content) expect(d.content).not.toMatch(/[\ud800-\udbff]$/);
    expect(joined(parseAll('generic', [text])).content).toBe(want);
  });

  it('a tool_calls object does not stream', () => {
    const p = assistantParser({ family: 'generic', tools: true, thinking: 'auto' });
    expect(p.push('{"tool_calls": [{"name": "f", "arguments": {}}')).toEqual({});
    expect(p.push(']}').toolCalls).toHaveLength(1);
  });
});

describe('grammar output reads back', () => {
  // Texts each family's toolCallGrammar([WEATHER, TIME], …) accepts (checked with llguidance
  // 1.9.1's matcher on a byte-level vocabulary while the engine's grammar option was not in yet):
  // the parser must read each back as the call the grammar forced.
  const paris = { name: 'get_weather', arguments: { city: 'Paris' } };
  const samples: [ToolFamily, string, { name: string; arguments: unknown }[]][] = [
    ['hermes', '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n<tool_call>\n{"name": "get_time", "arguments": {"tz": 1}}\n</tool_call>', [paris, { name: 'get_time', arguments: { tz: 1 } }]],
    ['llama3', '{"name": "get_weather", "parameters": {"city": "Paris"}}', [paris]],
    ['granite', '<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Paris"}}]', [paris]],
    ['command_r', 'Action:\n```json\n[{"tool_name": "get_weather", "parameters": {"city": "Paris"}}, {"tool_name": "get_time", "parameters": {}}]\n```', [paris, { name: 'get_time', arguments: {} }]],
    ['generic', '{"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]}', [paris]],
    ['generic', '{"tool_call": {"name": "get_time", "arguments": {"tz": 3}}}', [{ name: 'get_time', arguments: { tz: 3 } }]],
    ['mistral', '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}, "id": "abc123XYZ"}]', [paris]],
    ['mistral', '[TOOL_CALLS]get_weather[CALL_ID]abc123XYZ[ARGS]{"city": "Paris"}[TOOL_CALLS]get_time[CALL_ID]000000002[ARGS]{}', [paris, { name: 'get_time', arguments: {} }]],
    ['deepseek', '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{"city": "Paris"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>', [paris]],
    ['deepseek', '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{"city": "Paris"}\n```<｜tool▁call▁end｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_time\n```json\n{}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>', [paris, { name: 'get_time', arguments: {} }]],
    ['glm45', '<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Paris</arg_value>\n</tool_call>', [paris]],
    ['glm45', '<tool_call>get_time\n<arg_key>tz</arg_key>\n<arg_value>5</arg_value>\n</tool_call>', [{ name: 'get_time', arguments: { tz: 5 } }]],
    ['harmony', '<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>{"city": "Paris"}', [paris]],
  ];
  for (const [family, text, want] of samples) {
    it(`${family}: ${text.slice(0, 40)}…`, () => {
      const got = joined(parseAll(family, Array.from(text)));
      expect(got.content).toBe('');
      expect(got.calls.map((c) => ({ name: c.name, arguments: JSON.parse(c.arguments) }))).toEqual(want);
    });
  }
});
