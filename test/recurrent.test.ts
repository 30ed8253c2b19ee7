// Chat follow-ups on recurrent models (a state per sequence, not a KV cache): a session keeps
// the state at the end of its last prompts (checkpoints) and of its last evaluated token, so a
// next turn that extends the conversation evaluates only its new tokens, one that diverges
// inside the last answer resumes from the prompt's checkpoint, and either gives the logits of a
// fresh evaluation of the whole conversation. `reusablePrefix` (what the server's slot choice
// uses) says the same before the turn runs.
import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadModel } from '../ts/index.js';
import { serve } from '../ts/server/node.js';
import { fixturesRoot } from './helpers/fixtures.js';

const root = fixturesRoot();
/** `[fixture folder, architecture]`: every recurrent and hybrid architecture's F32 fixture. */
const recurrent = [
  ...['mamba2', 'falcon-h1', 'qwen3next', 'qwen35', 'rwkv7'].map((a) => ['models', a] as const),
  ...['mamba', 'rwkv6', 'kimi-linear'].map((a) => ['models-roadmap', a] as const),
];

describe.skipIf(root === null)('recurrent state across chat turns', () => {
  for (const [folder, arch] of recurrent) {
    const file = root === null ? '' : join(root, folder, `${arch}.gguf`);
    for (const backend of ['native', 'wasm'] as const) {
      it(`${backend}: ${arch}`, async (ctx) => {
        if (!existsSync(file)) {
          if (process.env.CI === 'true') throw new Error(`missing ${file}`);
          return ctx.skip();
        }
        const model = await loadModel(file, { backend, threads: 2 });
        const s = model.createSession({ contextSize: 128 });
        const prompt = Array.from({ length: 12 }, (_, i) => (i * 37 + 5) % 390);
        const first = await s.complete(prompt, { temperature: 0, maxTokens: 4 });
        // The last sampled token is evaluated by the next turn: the state holds the rest.
        const held = s.nPast;
        expect(held).toBeGreaterThan(prompt.length);
        expect(held).toBeLessThanOrEqual(prompt.length + first.tokens.length);

        const second = [...prompt, ...first.tokens, 7, 8];
        expect(s.reusablePrefix(second)).toBe(held);
        const r2 = await s.complete(second, { temperature: 0, maxTokens: 1 });
        expect(r2.usage.cachedTokens).toBe(held);

        // Diverging inside the first answer: only the first prompt's end can be returned to.
        const third = [...prompt, (first.tokens[0]! + 1) % 390, 9];
        expect(s.reusablePrefix(third)).toBe(prompt.length);
        const got = await s.evaluate(third);
        const want = await model.createSession({ contextSize: 128 }).evaluate(third);
        const worst = got.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i]!)), 0);
        expect(worst).toBeLessThan(1e-4);
        model.dispose();
      });
    }
  }
});

/**
 * The server on a hybrid model: the second turn of a chat lands on the slot that holds the
 * first (two slots, one of them fresh), reuses at least the first prompt's checkpoint, and
 * answers as a fresh session does.
 */
describe.skipIf(root === null)('server follow-up turns on a recurrent model', () => {
  it('qwen3next: cached_tokens and the answer of a fresh session', async () => {
    const model = await loadModel(join(root!, 'models', 'qwen3next.gguf'), { threads: 2 });
    const server = await serve({ models: [{ id: 'q', model }, { id: 'fresh', model, parallel: 1 }], port: 0, parallel: 2, log: () => {} });
    try {
      const chat = async (id: string, messages: { role: string; content: string }[]) => {
        const r = await fetch(`${server.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model: id, messages, max_tokens: 5, temperature: 0 }),
        });
        expect(r.status).toBe(200);
        const j = (await r.json()) as { choices: { message: { content: string } }[]; usage: { prompt_tokens: number; prompt_tokens_details: { cached_tokens: number } } };
        return { text: j.choices[0]!.message.content, prompt: j.usage.prompt_tokens, cached: j.usage.prompt_tokens_details.cached_tokens };
      };
      const first = [{ role: 'user', content: 'the quick brown fox' }];
      const r1 = await chat('q', first);
      const second = [...first, { role: 'assistant', content: r1.text }, { role: 'user', content: 'and then' }];
      const r2 = await chat('q', second);
      expect(r2.cached).toBeGreaterThanOrEqual(r1.prompt);
      expect(r2.cached).toBeLessThan(r2.prompt);
      const fresh = await chat('fresh', second);
      expect(fresh.cached).toBe(0);
      expect(r2.text).toBe(fresh.text);
    } finally {
      await server.close();
      model.dispose();
    }
  });
});
