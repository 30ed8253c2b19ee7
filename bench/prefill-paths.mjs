// Diagnostic: prefill speed of the same prompt through session.evaluate() and through
// session.generate() (time to the first token), alternating, on one native session. The two
// run the same engine call (RuntimeSession::evaluate vs ::begin), so they should match.
//
//   node bench/prefill-paths.mjs [--model NAME] [--threads=N] [--runs=N]
import { args, load, printHeader, sdk } from './lib.mjs';
import { generate } from './gen-models.mjs';

const { values } = args(['model', 'threads', 'runs']);
const name = values.model ?? 'llama-3.2-1b-q4_k_m';
const threads = Number(values.threads ?? 1);
const runs = Number(values.runs ?? 2);
const prompt = Array.from({ length: 512 }, (_, i) => 1000 + i);

printHeader(`prefill through evaluate() vs generate(): ${name}, native, ${threads} thread(s), 512 tokens`);
const { loadModel } = await sdk();
const model = await loadModel(generate(name), { backend: 'native', threads, contextSize: 1024 });
const session = model.createSession();
const ways = {
  async evaluate() {
    await session.evaluate(prompt);
  },
  async generate() {
    for await (const _ of session.generate(prompt, { maxTokens: 1, temperature: 0 })) break;
  },
};
for (let r = 0; r < runs; r++) {
  for (const [way, fn] of Object.entries(ways)) {
    session.clear();
    const t = performance.now();
    await fn();
    console.log(`${way.padEnd(9)} ${((prompt.length * 1000) / (performance.now() - t)).toFixed(1)} tok/s (load ${load()[0]})`);
  }
}
session.dispose();
model.dispose();
