import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  buildChatTemplateContext,
  ChatTemplateError,
  compileChatTemplate,
  fallbackChatTemplate,
  renderChatTemplate,
  strftime,
  type ChatMessage,
  type FallbackTemplateName,
} from '../ts/chat-template.js';
import { fixturesRoot, listFixtures } from './helpers/fixtures.js';

interface GoldenCase {
  context: Record<string, unknown>;
  rendered?: string;
  error?: string;
  error_type?: string;
}
interface GoldenFile {
  template: string;
  cases: Record<string, GoldenCase>;
}

const readJson = <T>(path: string): T => JSON.parse(readFileSync(path, 'utf8')) as T;

/** Splits a golden context back into renderChatTemplate's arguments. */
function toOptions(context: Record<string, unknown>) {
  const { messages, tools, add_generation_prompt, bos_token, eos_token, ...extra } = context;
  return {
    messages: messages as ChatMessage[],
    options: {
      tools: tools as Record<string, unknown>[] | null,
      addGenerationPrompt: add_generation_prompt as boolean,
      bosToken: bos_token as string | undefined,
      eosToken: eos_token as string | undefined,
      extra,
    },
  };
}

const root = fixturesRoot();
const templateFiles = listFixtures('templates', 'jinja');

describe.skipIf(root === null)('chat template goldens (Python jinja2, transformers environment)', () => {
  const dir = root === null ? '' : join(root, 'templates');
  const cases = root === null ? null : readJson<{ fixed_now: string; cases: Record<string, { messages: unknown }> }>(join(dir, 'cases.json'));
  // The goldens' strftime_now clock; no offset in the string, so local time, as Python's naive datetime.
  const now = new Date(cases?.fixed_now ?? 0);

  it('discovers every template of the comparison report', () => {
    expect(templateFiles.length).toBeGreaterThan(0);
    const report = readJson<{ templates: Record<string, unknown> }>(join(dir, 'hf_jinja_comparison.json'));
    expect(templateFiles.map((f) => basename(f, '.jinja')).sort()).toEqual(Object.keys(report.templates).sort());
  });

  for (const file of templateFiles) {
    const name = basename(file, '.jinja');
    describe(name, () => {
      const source = readFileSync(file, 'utf8');
      const golden = readJson<GoldenFile>(join(dirname(file), `${name}.expected.json`));

      it('golden belongs to this template', () => {
        expect(golden.template).toBe(basename(file));
        expect(Object.keys(golden.cases).length).toBeGreaterThan(0);
      });

      for (const [id, entry] of Object.entries(golden.cases)) {
        it(id, () => {
          const { messages, options } = toOptions(entry.context);
          expect(messages).toEqual(cases!.cases[id]!.messages);
          // The context we build is exactly the one transformers passed.
          expect(buildChatTemplateContext(messages, options)).toEqual(entry.context);
          const render = () => renderChatTemplate(source, messages, { ...options, now });
          if (entry.rendered !== undefined) {
            expect(render()).toBe(entry.rendered);
            return;
          }
          // Python error messages are engine-specific, except those the template raises itself.
          expect(entry.error).toBeTypeOf('string');
          expect(render).toThrow(ChatTemplateError);
          if (entry.error_type === 'TemplateError') {
            expect(render).toThrow(expect.objectContaining({ kind: 'raised', message: entry.error }));
          }
        });
      }
    });
  }
});

const render = (src: string, vars: Record<string, unknown> = {}) => compileChatTemplate(src).render(vars);

describe('jinja2 compatibility', () => {
  it('prints values as Python str()', () => {
    expect(render('{{ none }}|{{ x }}|{{ true }}|{{ False }}|{{ undefined_var }}', { x: null })).toBe('None|None|True|False|');
    expect(render("{{ [1, 'a', none, true, 1.5] }}")).toBe("[1, 'a', None, True, 1.5]");
    expect(render("{{ {'a': 1, 'b': [\"it's\"]} }}")).toBe(`{'a': 1, 'b': ["it's"]}`);
    expect(render('{{ (1, 2) }} {{ 2.0 }} {{ f }} {{ g }} {{ 3/2 }} {{ 4/2 }}', { f: 1e-5, g: 123456.789 })).toBe('(1, 2) 2.0 1e-05 123456.789 1.5 2.0');
    expect(render('{{ m }}', { m: { s: 'a\nb\u200d' } })).toBe("{'s': 'a\\nb\\u200d'}");
  });

  it('applies string filters and ~ to any value', () => {
    expect(render('[{{ none | trim }}][{{ x | upper }}][{{ 5 | trim }}]', { x: null })).toBe('[None][NONE][5]');
    expect(render("{{ none ~ '!' ~ true ~ missing }}|{{ true | string }}|{{ [none] | string }}")).toBe('None!True|True|[None]');
    expect(render("{{ '  a ' | trim }}|{{ 'ab' | replace('a', 'x') }}")).toBe('a|xb');
  });

  it('keeps jinja2 whitespace control: trim_blocks, lstrip_blocks, one trailing newline dropped', () => {
    expect(render('  {% if true %}\nA\n  {% endif %}\nB\n')).toBe('A\nB');
    expect(render('{% for i in range(1, 7, 2) %}{{ i }}{% if not loop.last %},{% endif %}{% endfor %}')).toBe('1,3,5');
  });

  it('raise_exception throws a ChatTemplateError with the template message', () => {
    const fn = () => render("{{ raise_exception('Only user and assistant roles are supported!') }}");
    expect(fn).toThrow(ChatTemplateError);
    expect(fn).toThrow(expect.objectContaining({ kind: 'raised', message: 'Only user and assistant roles are supported!' }));
  });

  it('reports parse and render errors as ChatTemplateError', () => {
    expect(() => compileChatTemplate('{% if %}')).toThrow(expect.objectContaining({ kind: 'parse' }));
    expect(() => render('{{ x.y() }}', { x: {} })).toThrow(expect.objectContaining({ kind: 'render' }));
  });

  it('strftime_now follows Python strftime, on options.now', () => {
    const now = new Date(2026, 0, 5, 14, 7, 9);
    const out = renderChatTemplate("{{ strftime_now('%d %b %Y|%B %-d, %Y|%Y-%m-%d %H:%M:%S|%a %A %I%p %j %y %%|%Q') }}", [], { now });
    expect(out).toBe('05 Jan 2026|January 5, 2026|2026-01-05 14:07:09|Mon Monday 02PM 005 26 %|%Q');
    expect(strftime(new Date(2024, 11, 31), '%j')).toBe('366');
    expect(renderChatTemplate("{{ strftime_now('%Y') }}", [])).toBe(String(new Date().getFullYear()));
  });

  it('caches compiled templates by source', () => {
    const src = '{{ messages | length }}';
    expect(compileChatTemplate(src)).toBe(compileChatTemplate(src));
  });
});

describe('renderChatTemplate context', () => {
  const probe =
    "{{ bos_token }}|{{ eos_token }}|{{ tools is none }}|{{ documents is none }}|{{ add_generation_prompt }}|{{ enable_thinking }}|{% for m in messages %}{{ m.content }}{% endfor %}";

  it('passes the HF variables and extra kwargs', () => {
    const messages: ChatMessage[] = [{ role: 'user', content: 'hi' }];
    expect(renderChatTemplate(probe, messages, { bosToken: '<s>', eosToken: '</s>', addGenerationPrompt: true, extra: { enable_thinking: false } }))
      .toBe('<s>|</s>|True|True|True|False|hi');
    expect(renderChatTemplate(probe, messages)).toBe('||True|True|False||hi');
    expect(renderChatTemplate('{{ tools[0].function.name }}', messages, { tools: [{ type: 'function', function: { name: 'f' } }] })).toBe('f');
  });

  it('joins text parts unless keepContentParts', () => {
    const messages: ChatMessage[] = [{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }];
    expect(renderChatTemplate('{{ messages[0].content }}', messages)).toBe('a\nb');
    expect(renderChatTemplate("{{ messages[0].content[1]['text'] }}", messages, { keepContentParts: true })).toBe('b');
  });

  it('parses JSON-string tool call arguments into objects', () => {
    const messages: ChatMessage[] = [
      { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{"city": "Paris"}' } }] },
    ];
    expect(renderChatTemplate('{{ messages[0].tool_calls[0].function.arguments | tojson }}', messages)).toBe('{"city": "Paris"}');
  });
});

describe('fallbackChatTemplate', () => {
  const vocab = (...tokens: string[]) => new Set(tokens);

  it.each<[string, Set<string> | undefined, FallbackTemplateName]>([
    ['qwen2', undefined, 'chatml'],
    ['qwen3', vocab('<|im_start|>'), 'chatml'],
    ['llama', vocab('<|start_header_id|>'), 'llama3'],
    ['llama', vocab('<s>'), 'llama2'],
    ['llama', undefined, 'llama2'],
    ['gemma3', undefined, 'gemma'],
    ['phi3', undefined, 'phi3'],
    ['deepseek2', vocab('<｜User｜>'), 'deepseek'],
    ['some-new-arch', vocab('<|start_header_id|>'), 'llama3'],
    ['some-new-arch', vocab('<start_of_turn>'), 'gemma'],
    ['some-new-arch', undefined, 'chatml'],
  ])('%s (%o) -> %s', (arch, tokens, name) => {
    expect(fallbackChatTemplate(arch, tokens).name).toBe(name);
  });

  const chat: ChatMessage[] = [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Hi' },
    { role: 'assistant', content: 'Hello!' },
    { role: 'user', content: 'Bye' },
  ];
  const expected: Record<FallbackTemplateName, string> = {
    chatml: '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n',
    llama3:
      '<BOS><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>' +
      '<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>' +
      '<|start_header_id|>assistant<|end_header_id|>\n\n',
    llama2: '<BOS>[INST] Be brief.\n\nHi [/INST]Hello!<EOS>[INST] Bye [/INST]',
    gemma: '<BOS><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n',
    phi3: '<|system|>\nBe brief.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\nHello!<|end|>\n<|user|>\nBye<|end|>\n<|assistant|>\n',
    deepseek: '<BOS>Be brief.\n\n<｜User｜>Hi<｜Assistant｜>Hello!<｜end▁of▁sentence｜><｜User｜>Bye<｜Assistant｜>',
  };
  const archFor: Record<FallbackTemplateName, [string, Set<string>?]> = {
    chatml: ['qwen3'],
    llama3: ['llama', vocab('<|start_header_id|>')],
    llama2: ['llama'],
    gemma: ['gemma2'],
    phi3: ['phi3'],
    deepseek: ['deepseek2', vocab('<｜User｜>')],
  };

  it.each(Object.keys(expected) as FallbackTemplateName[])('%s renders a multi-turn chat', (name) => {
    const { template, name: chosen } = fallbackChatTemplate(...archFor[name]);
    expect(chosen).toBe(name);
    const out = renderChatTemplate(template, chat, { bosToken: '<BOS>', eosToken: '<EOS>', addGenerationPrompt: true });
    expect(out).toBe(expected[name]);
  });

  it('renders null content and missing tokens without throwing', () => {
    const { template } = fallbackChatTemplate('llama');
    expect(renderChatTemplate(template, [{ role: 'user', content: 'x' }, { role: 'assistant', content: null }])).toBe('[INST] x [/INST]');
  });
});
