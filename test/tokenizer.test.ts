// The tokenizer through the SDK on both backends: every vocab golden (.inp/.out), detokenize,
// special-token parsing, chat templates and their fallback.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { loadModel, type Model } from '../ts/index.js';
import { fixturesRoot, listFixtures } from './helpers/fixtures.js';

const root = fixturesRoot();
const SEPARATOR = '\n__ggml_vocab_test__\n';

/** The .inp/.out pair of a vocab file, split as vocab/README.md specifies. */
function goldens(file: string): { input: string; ids: number[] }[] {
  const inputs = readFileSync(file + '.inp', 'utf8').split(SEPARATOR);
  inputs.pop(); // the empty piece after the final separator
  const lines = readFileSync(file + '.out', 'utf8').split('\n');
  return inputs.map((input, i) => {
    const line = lines[i]!.trim();
    return { input, ids: line === '' ? [] : line.split(' ').map(Number) };
  });
}

const vocabFiles = listFixtures('vocab', 'gguf').filter((f) => {
  try {
    readFileSync(f + '.out');
    return true;
  } catch {
    return false;
  }
});

describe.skipIf(root === null)('tokenizer through the SDK', () => {
  it('finds vocab goldens', () => expect(vocabFiles.length).toBeGreaterThan(0));

  for (const backend of ['native', 'wasm'] as const) {
    it.each(vocabFiles.map((f) => [basename(f), f]))(`${backend}: %s matches every .out line`, async (_n, file) => {
      const model = await loadModel(file, { backend });
      expect(model.vocabOnly).toBe(true);
      for (const { input, ids } of goldens(file)) {
        expect(model.tokenize(input, { addSpecial: false }), JSON.stringify(input)).toEqual(ids);
      }
      model.dispose();
    });
  }

  it('native and wasm agree on special parsing, BOS and detokenization', async () => {
    const file = join(root!, 'vocab', 'ggml-vocab-qwen2.gguf');
    const [a, b] = await Promise.all([loadModel(file, { backend: 'native' }), loadModel(file, { backend: 'wasm' })]);
    const text = '<|im_start|>user\nHi 😀 你好<|im_end|>';
    const special = a.tokenize(text, { special: true });
    expect(b.tokenize(text, { special: true })).toEqual(special);
    expect(special).toContain(a.tokenize('<|im_start|>', { special: true, addSpecial: false })[0]);
    // Without special parsing the marker is plain text: more tokens.
    expect(a.tokenize(text).length).toBeGreaterThan(special.length);
    expect(a.detokenize(special, { special: true })).toBe(text);
    expect(b.detokenize(special, { special: true })).toBe(text);
    expect(a.detokenize(special)).toBe('user\nHi 😀 你好');
    expect(() => a.detokenize([a.nVocab])).toThrow(RangeError);
  });

  it('SPM adds BOS and strips the space prefix on detokenize', async () => {
    const model = await loadModel(join(root!, 'vocab', 'ggml-vocab-llama-spm.gguf'), { backend: 'wasm' });
    const ids = model.tokenize('Hello world');
    expect(ids[0]).toBe(model.bos);
    expect(model.detokenize(ids)).toBe('Hello world');
    expect(model.tokenPiece(ids[1]!)).toBe(' Hello');
  });

  it('stories260K tokenizes story.txt like story.tokens.txt', async () => {
    const model = await loadModel(join(root!, 'real', 'stories260K.gguf'), { backend: 'native', vocabOnly: true });
    const want = readFileSync(join(root!, 'real', 'story.tokens.txt'), 'utf8').trim().split(/\s+/).map(Number);
    expect(model.tokenize(readFileSync(join(root!, 'real', 'story.txt'), 'utf8'))).toEqual(want);
  });

  it('applies the file template, or a fallback by architecture', async () => {
    const messages = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
    ];
    const qwen: Model = await loadModel(join(root!, 'vocab', 'ggml-vocab-qwen2.gguf'));
    expect(qwen.chatTemplate).toMatchObject({ name: 'gguf', fallback: false });
    const prompt = qwen.applyChatTemplate(messages);
    expect(prompt).toContain('<|im_start|>user\nHi<|im_end|>');
    expect(prompt.endsWith('<|im_start|>assistant\n')).toBe(true);

    const stories = await loadModel(join(root!, 'real', 'stories260K.gguf'), { vocabOnly: true });
    expect(stories.chatTemplate).toMatchObject({ name: 'llama2', fallback: true });
    expect(stories.info.chatTemplate).toEqual({ name: 'llama2', fallback: true });
    expect(stories.applyChatTemplate(messages)).toContain('[INST]');
  });

  it('a vocab-only model cannot create a session', async () => {
    const model = await loadModel(join(root!, 'vocab', 'ggml-vocab-gpt-2.gguf'));
    expect(() => model.createSession()).toThrow(/vocab-only/);
  });
});
