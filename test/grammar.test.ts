// Grammar-constrained generation through the SDK on both backends with a real model
// (SmolLM2-135M-Instruct): `grammar` on session.generate and on the batch scheduler, JSON Schema
// output that parses and validates (ajv, independent of the engine), regex and Lark, the end of
// the grammar ending the generation ('stop'), and bad grammars failing with GRAMMAR_INVALID.
import { describe, expect, it } from 'vitest';
import { Ajv } from 'ajv';
import { loadModel, LlmError, type GenerateOptions, type Grammar, type Model } from '../ts/index.js';
import { fixturesRoot } from './helpers/fixtures.js';
import { modelsDir, realModels } from './helpers/real-models.js';

const root = fixturesRoot();
const BACKENDS = ['native', 'wasm'] as const;
const CI = process.env.CI === 'true';
const smol = root === null ? undefined : realModels(root).find((m) => m.file.startsWith('SmolLM2-135M'));
if (smol?.missing) {
  const why = `${smol.missing}; run scripts/fetch-models.sh (cache: ${modelsDir()})`;
  if (CI) throw new Error(why);
  console.warn(`skipping grammar tests: ${why}`);
}

const PERSON = {
  type: 'object',
  properties: {
    name: { type: 'string', maxLength: 20 },
    age: { type: 'integer', minimum: 0, maximum: 120 },
    city: { type: 'string', maxLength: 20 },
    languages: { type: 'array', items: { enum: ['English', 'French', 'Spanish', 'German'] }, maxItems: 3 },
  },
  required: ['name', 'age', 'city'],
  additionalProperties: false,
};

describe.skipIf(!smol || smol.missing !== null)('grammar-constrained generation (SmolLM2-135M)', () => {
  const models = new Map<string, Promise<Model>>();
  const model = (backend: (typeof BACKENDS)[number]) => {
    if (!models.has(backend)) models.set(backend, loadModel(smol!.path, { backend, threads: 2, contextSize: 512 }));
    return models.get(backend)!;
  };
  const prompt = (m: Model, text: string) => m.applyChatTemplate([{ role: 'user', content: text }]);
  const validate = new Ajv().compile(PERSON);

  for (const backend of BACKENDS) {
    describe(backend, () => {
      it('json_schema: the output parses, validates and ends with stop, greedy and sampled', async () => {
        const m = await model(backend);
        const p = prompt(m, 'Describe a fictional person as JSON with name, age and city.');
        for (const options of [{ temperature: 0 }, { temperature: 0.9, seed: 7 }] satisfies GenerateOptions[]) {
          const s = m.createSession();
          const r = await s.complete(p, { ...options, maxTokens: 200, grammar: { type: 'json_schema', schema: PERSON } });
          s.dispose();
          expect(r.finishReason).toBe('stop');
          const value: unknown = JSON.parse(r.text);
          expect(validate(value), `${r.text}: ${JSON.stringify(validate.errors)}`).toBe(true);
        }
      }, 300_000);

      it('the batch scheduler applies each request its own grammar', async () => {
        const m = await model(backend);
        const b = m.createBatchScheduler!({ parallel: 3, contextSize: 512 });
        const run = (grammar: Grammar, text: string) => b.complete(prompt(m, text), { temperature: 0, maxTokens: 120, grammar });
        const [date, yesNo, obj] = await Promise.all([
          run({ type: 'regex', pattern: '[0-9]{4}-[0-9]{2}-[0-9]{2}' }, 'When did the Apollo 11 mission land on the Moon?'),
          run({ type: 'lark', grammar: 'start: "yes" | "no"' }, 'Is the sky blue?'),
          run({ type: 'json_object' }, 'Give me a JSON object with the capital of France.'),
        ]);
        b.dispose();
        expect(date!.text).toMatch(/^[0-9]{4}-[0-9]{2}-[0-9]{2}$/);
        expect(['yes', 'no']).toContain(yesNo!.text);
        expect(typeof JSON.parse(obj!.text)).toBe('object');
        for (const r of [date!, yesNo!]) expect(r.finishReason).toBe('stop');
      }, 300_000);

      it('a grammar that cannot compile is GRAMMAR_INVALID, naming what is wrong', async () => {
        const m = await model(backend);
        const s = m.createSession();
        const fail = (grammar: Grammar) => s.complete('Hi', { maxTokens: 4, grammar }).then(() => null, (e: unknown) => e as LlmError);
        const e = await fail({ type: 'json_schema', schema: { type: 'array', uniqueItems: true } });
        expect(e).toBeInstanceOf(LlmError);
        expect(e!.code).toBe('GRAMMAR_INVALID');
        expect(e!.message).toContain('uniqueItems');
        expect((await fail({ type: 'lark', grammar: 'start: (' }))!.code).toBe('GRAMMAR_INVALID');
        expect((await fail({ type: 'xml' } as unknown as Grammar))!.code).toBe('GRAMMAR_INVALID');
        // Not strict: the unsupported keyword is ignored.
        const r = await s.complete('List numbers:', { temperature: 0, maxTokens: 60, grammar: { type: 'json_schema', strict: false, schema: { type: 'array', uniqueItems: true, items: { type: 'integer', minimum: 0, maximum: 9 }, maxItems: 3 } } });
        expect(Array.isArray(JSON.parse(r.text))).toBe(true);
        const sched = m.createBatchScheduler!({ parallel: 1, contextSize: 64 });
        await expect(sched.complete('Hi', { grammar: { type: 'regex', pattern: '(' } })).rejects.toMatchObject({ code: 'GRAMMAR_INVALID' });
        sched.dispose();
        s.dispose();
      }, 120_000);
    });
  }
});
