// OpenAI harmony (gpt-oss): the parser that keeps a turn's final channel (ts/harmony.ts), its
// detection from the vocabulary, and the chat route on a fake harmony model: content, streaming
// deltas, finish_reason, stop strings and usage.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HarmonyContent, harmonyContent, isHarmonyModel } from '../ts/harmony.js';
import { loadModel } from '../ts/index.js';
import { createApp } from '../ts/server/index.js';
import { FakeModel } from './helpers/fake-model.js';
import { fixturesRoot } from './helpers/fixtures.js';
import { post, sseData } from './helpers/server.js';

type Json = Record<string, any>;

const ANALYSIS = '<|channel|>analysis<|message|>The user greets; answer briefly.<|end|>';
const FINAL = '<|start|>assistant<|channel|>final<|message|>Hello! How can I help?';
const TURN = ANALYSIS + FINAL;
const HARMONY_TOKENS = ['<|start|>', '<|channel|>', '<|message|>', '<|end|>', '<|constrain|>', '<|return|>', '<|call|>'];

/** Feeds `text` in pieces cut at `cuts` and returns the pieces emitted plus the flushed tail. */
function streamed(text: string, cuts: number[]): string[] {
  const h = new HarmonyContent();
  const out: string[] = [];
  let from = 0;
  for (const at of [...cuts, text.length]) {
    out.push(h.push(text.slice(from, at)));
    from = at;
  }
  out.push(h.flush());
  return out;
}

/** Every way of cutting `text` into two and three pieces gives the same content. */
function expectAnySplit(text: string, content: string): void {
  for (let i = 0; i <= text.length; i++) {
    expect(streamed(text, [i]).join(''), `cut at ${i}`).toBe(content);
    for (let j = i; j <= text.length; j += 7) expect(streamed(text, [i, j]).join(''), `cuts at ${i}, ${j}`).toBe(content);
  }
  // One UTF-16 code unit at a time, as the fake model generates.
  expect(streamed(text, Array.from({ length: text.length }, (_, k) => k)).join('')).toBe(content);
}

describe('harmony parser', () => {
  it('keeps only the final channel of analysis + final', () => {
    expect(harmonyContent(TURN)).toBe('Hello! How can I help?');
    expectAnySplit(TURN, 'Hello! How can I help?');
  });

  it('final channel only (no analysis), with and without <|start|>assistant', () => {
    expect(harmonyContent('<|channel|>final<|message|>Paris.')).toBe('Paris.');
    expect(harmonyContent('<|start|>assistant<|channel|>final<|message|>Paris.')).toBe('Paris.');
    expectAnySplit('<|channel|>final<|message|>Paris.', 'Paris.');
  });

  it('analysis only (cut short by max_tokens, or no final yet) is empty', () => {
    expect(harmonyContent(ANALYSIS)).toBe('');
    expect(harmonyContent('<|channel|>analysis<|message|>Still thinking about')).toBe('');
    expect(harmonyContent('<|channel|>analysis<|message|>x<|end|><|start|>assistant<|channel|>fi')).toBe('');
    expectAnySplit(ANALYSIS + '<|start|>assistant', '');
  });

  it('streams the final text as it comes, holding back only what could be a marker', () => {
    const h = new HarmonyContent();
    expect(h.push(ANALYSIS)).toBe('');
    expect(h.push('<|start|>assistant<|channel|>final<|message|>Hel')).toBe('Hel');
    expect(h.push('lo <')).toBe('lo ');
    expect(h.push('b>')).toBe('<b>'); // not a marker after all
    expect(h.push(' x <|')).toBe(' x ');
    expect(h.push('en')).toBe('');
    expect(h.push('d|>')).toBe(''); // the message ended
    expect(h.flush()).toBe('');
  });

  it('gives an unfinished marker-like tail back at the end', () => {
    const h = new HarmonyContent();
    expect(h.push('<|channel|>final<|message|>a <|en')).toBe('a ');
    expect(h.flush()).toBe('<|en');
  });

  it('passes text without harmony markers through unchanged', () => {
    for (const text of ['Just an answer.', '', '<', '<|', ' to', 'x<|channel|>final<|message|>y', '<b>bold</b>', '\n<|channel|>final<|message|>y']) {
      expect(harmonyContent(text), JSON.stringify(text)).toBe(text);
    }
    expectAnySplit('Plain <|end|> text', 'Plain <|end|> text');
    const h = new HarmonyContent();
    expect(h.push('<|')).toBe(''); // could still become <|channel|>
    expect(h.push('x')).toBe('<|x');
    expect(h.push('<|channel|>')).toBe('<|channel|>');
  });

  it('hides tool calls (a recipient) and shows preambles (commentary to no one), as llama.cpp', () => {
    // The recipient in the role part, right after the prompt's `<|start|>assistant`.
    expect(harmonyContent(' to=functions.get_weather<|channel|>commentary json<|message|>{"city":"Paris"}')).toBe('');
    // ... or in the channel part, after an analysis message.
    const inChannel = ANALYSIS + '<|start|>assistant<|channel|>commentary to=functions.f <|constrain|>json<|message|>{"a":1}';
    expect(harmonyContent(inChannel)).toBe('');
    expectAnySplit(inChannel, '');
    const preamble = '<|channel|>commentary<|message|>Checking the weather.<|end|><|start|>assistant to=functions.w<|channel|>commentary json<|message|>{}';
    expect(harmonyContent(preamble)).toBe('Checking the weather.');
    // gpt-oss sometimes writes a stray commentary channel before the final one.
    expect(harmonyContent('<|channel|>commentary to=assistant<|channel|>final<|message|>ok')).toBe('ok');
    // Another role's message is never the answer.
    expect(harmonyContent('<|start|>functions.f to=assistant<|channel|>commentary<|message|>{"t":1}<|end|>')).toBe('');
  });

  it('joins several shown messages and ignores text between messages', () => {
    const text = '<|channel|>commentary<|message|>A<|end|>junk<|start|>assistant<|channel|>final<|message|>B<|end|>';
    expect(harmonyContent(text)).toBe('AB');
    expectAnySplit(text, 'AB');
    // A message cut off by a new one without <|end|>.
    expect(harmonyContent('<|channel|>analysis<|message|>x<|channel|>final<|message|>y')).toBe('y');
    // Rendered with special tokens shown (e.g. detokenized by hand): <|return|> ends it too.
    expect(harmonyContent('<|channel|>final<|message|>y<|return|>')).toBe('y');
  });
});

describe('harmony detection', () => {
  it('needs <|channel|>, <|message|>, <|start|> and <|end|> as single tokens', () => {
    expect(isHarmonyModel(new FakeModel({ extraSpecials: HARMONY_TOKENS }))).toBe(true);
    expect(isHarmonyModel(new FakeModel())).toBe(false);
    expect(isHarmonyModel(new FakeModel({ extraSpecials: ['<|channel|>', '<|message|>'] }))).toBe(false);
  });
});

/** A vocab-only GGUF (v3) of an o200k_harmony-like tokenizer: letters, then CONTROL specials. */
function harmonyVocabGguf(): Uint8Array {
  const specials = ['<|startoftext|>', '<|endoftext|>', '<|return|>', '<|constrain|>', '<|channel|>', '<|start|>', '<|end|>', '<|message|>', '<|call|>'];
  const tokens = [...'abcdefghijklmnopqrstuvwxyz', 'Ġ', ...specials];
  const types = tokens.map((_, i) => (i < tokens.length - specials.length ? 1 : 3));
  const bytes: number[] = [];
  const u32 = (v: number) => bytes.push(v & 255, (v >>> 8) & 255, (v >>> 16) & 255, v >>> 24);
  const u64 = (v: number) => (u32(v), u32(0));
  const str = (t: string) => {
    const b = new TextEncoder().encode(t);
    u64(b.length);
    bytes.push(...b);
  };
  const kvs: [string, () => void][] = [
    ['general.architecture', () => (u32(8), str('gpt-oss'))],
    ['tokenizer.ggml.model', () => (u32(8), str('gpt2'))],
    ['tokenizer.ggml.pre', () => (u32(8), str('gpt-4o'))],
    ['tokenizer.ggml.tokens', () => (u32(9), u32(8), u64(tokens.length), tokens.forEach(str))],
    ['tokenizer.ggml.token_type', () => (u32(9), u32(5), u64(types.length), types.forEach(u32))],
    ['tokenizer.ggml.merges', () => (u32(9), u32(8), u64(0))],
    ['tokenizer.ggml.bos_token_id', () => (u32(4), u32(tokens.indexOf('<|startoftext|>')))],
    ['tokenizer.ggml.eos_token_id', () => (u32(4), u32(tokens.indexOf('<|return|>')))],
  ];
  bytes.push(...new TextEncoder().encode('GGUF'));
  u32(3);
  u64(0);
  u64(kvs.length);
  for (const [key, value] of kvs) {
    str(key);
    value();
  }
  while (bytes.length % 32) bytes.push(0);
  return Uint8Array.from(bytes);
}

describe.each(['native', 'wasm'] as const)('harmony vocabulary through the SDK (%s)', (backend) => {
  it('is detected, ends at <|return|>/<|call|> not <|end|>, and renders the channel markers', async () => {
    const model = await loadModel(harmonyVocabGguf(), { backend, vocabOnly: true });
    expect(isHarmonyModel(model)).toBe(true);
    const id = (t: string) => model.tokenize(t, { special: true, addSpecial: false })[0]!;
    for (const t of ['<|return|>', '<|call|>', '<|endoftext|>']) expect(model.isEndOfGeneration(id(t)), t).toBe(true);
    for (const t of ['<|end|>', '<|channel|>', '<|message|>', '<|start|>']) expect(model.isEndOfGeneration(id(t)), t).toBe(false);
    const turn = '<|channel|>analysis<|message|>think<|end|><|start|>assistant<|channel|>final<|message|>hi';
    const ids = [...model.tokenize(turn, { special: true, addSpecial: false }), id('<|return|>')];
    // As generated text is rendered (special tokens hidden): markers kept, <|return|> not.
    expect(model.detokenize(ids)).toBe(turn);
    expect(harmonyContent(model.detokenize(ids))).toBe('hi');
    model.dispose();
  });

  it.skipIf(fixturesRoot() === null)('a ChatML vocabulary is not harmony', async () => {
    const model = await loadModel(join(fixturesRoot()!, 'vocab', 'ggml-vocab-qwen2.gguf'), { backend });
    expect(isHarmonyModel(model)).toBe(false);
    model.dispose();
  });
});

/** A harmony fake: answers `reply(X)` one character per token, then an end-of-generation token. */
const harmonyModel = (reply: (x: string) => string = () => TURN, extraSpecials = HARMONY_TOKENS) => new FakeModel({ extraSpecials, reply });
const chat = (content: string, extra: Json = {}) => ({ model: 'x', messages: [{ role: 'user', content }], temperature: 0, ...extra });

async function complete(model: FakeModel, body: Json): Promise<Json> {
  const res = await post(createApp({ models: model }), '/v1/chat/completions', body);
  expect(res.status).toBe(200);
  return (await res.json()) as Json;
}

async function stream(model: FakeModel, body: Json): Promise<{ deltas: string[]; finish: string | null; usage: Json | null }> {
  const res = await post(createApp({ models: model }), '/v1/chat/completions', { ...body, stream: true, stream_options: { include_usage: true } });
  expect(res.status).toBe(200);
  const data = sseData(await res.text());
  expect(data.at(-1)).toBe('[DONE]');
  const chunks = data.slice(0, -1).map((d) => JSON.parse(d) as Json);
  const deltas = chunks.slice(1).flatMap((c) => (c.choices[0]?.delta.content !== undefined ? [c.choices[0].delta.content as string] : []));
  return { deltas, finish: chunks.at(-2)!.choices[0].finish_reason, usage: chunks.at(-1)!.usage };
}

describe('server: chat completions on a harmony model', () => {
  it('returns the final channel as content; usage counts every generated token', async () => {
    const body = await complete(harmonyModel(), chat('hi'));
    expect(body.choices[0]).toMatchObject({ message: { role: 'assistant', content: 'Hello! How can I help?' }, finish_reason: 'stop' });
    expect(body.usage.completion_tokens).toBe(TURN.length);
  });

  it('streams only final-channel deltas, never an empty one, and the same text as without streaming', async () => {
    const s = await stream(harmonyModel(), chat('hi'));
    expect(s.deltas.join('')).toBe('Hello! How can I help?');
    expect(s.deltas.every((d) => d.length > 0)).toBe(true);
    expect(s.deltas.length).toBeGreaterThan(5); // streamed as generated, not at the end
    expect(s.finish).toBe('stop');
    expect(s.usage!.completion_tokens).toBe(TURN.length);
  });

  it('max_tokens inside the analysis: empty content, finish_reason length', async () => {
    const body = await complete(harmonyModel(), chat('hi', { max_tokens: 20 }));
    expect(body.choices[0]).toMatchObject({ message: { content: '' }, finish_reason: 'length' });
    expect(body.usage.completion_tokens).toBe(20);
    const s = await stream(harmonyModel(), chat('hi', { max_tokens: 20 }));
    expect(s).toMatchObject({ deltas: [], finish: 'length' });
  });

  it('max_tokens inside the final channel: the final text so far', async () => {
    const n = TURN.length - 'How can I help?'.length;
    const body = await complete(harmonyModel(), chat('hi', { max_tokens: n }));
    expect(body.choices[0]).toMatchObject({ message: { content: 'Hello! ' }, finish_reason: 'length' });
    expect((await stream(harmonyModel(), chat('hi', { max_tokens: n }))).deltas.join('')).toBe('Hello! ');
  });

  it('stop strings match the whole generated text, as llama.cpp, and never leak into content', async () => {
    // In the final channel: the content ends before it.
    const a = await complete(harmonyModel(), chat('hi', { stop: ['How'] }));
    expect(a.choices[0]).toMatchObject({ message: { content: 'Hello! ' }, finish_reason: 'stop' });
    expect((await stream(harmonyModel(), chat('hi', { stop: ['How'] }))).deltas.join('')).toBe('Hello! ');
    // In the analysis: generation stops there, before any final text.
    const b = await complete(harmonyModel(), chat('hi', { stop: ['briefly'] }));
    expect(b.choices[0]).toMatchObject({ message: { content: '' }, finish_reason: 'stop' });
    // A stop string that starts like a marker is held back by the session, then released.
    const c = await complete(harmonyModel(), chat('hi', { stop: ['<|never|>'] }));
    expect(c.choices[0].message.content).toBe('Hello! How can I help?');
  });

  it('passes a reply without harmony markers through unchanged', async () => {
    const body = await complete(harmonyModel((x) => `plain ${x}`), chat('hi'));
    expect(body.choices[0].message.content).toBe('plain hi');
  });

  it('leaves other models alone, even when they write the markers', async () => {
    const body = await complete(harmonyModel(() => TURN, []), chat('hi'));
    expect(body.choices[0].message.content).toBe(TURN);
  });

  it('leaves /v1/completions raw (llama.cpp returns the generated text there)', async () => {
    const res = await post(createApp({ models: harmonyModel() }), '/v1/completions', { model: 'x', prompt: 'hi', temperature: 0, max_tokens: 500 });
    expect(((await res.json()) as Json).choices[0].text).toBe(TURN);
  });
});
