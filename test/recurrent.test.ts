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
import { fixturesRoot } from './helpers/fixtures.js';

const root = fixturesRoot();
const recurrent = ['mamba2', 'falcon-h1', 'qwen3next', 'qwen35', 'rwkv7'];

describe.skipIf(root === null)('recurrent state across chat turns', () => {
  for (const arch of recurrent) {
    const file = root === null ? '' : join(root, 'models', `${arch}.gguf`);
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
