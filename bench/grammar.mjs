#!/usr/bin/env node
// Grammar mask cost per token against the decode step, on a 128k vocabulary: the pure-Rust
// example `bench_grammar` (crates/llmplayer-core/examples) on the generated Llama-3.2-1B
// Q4_K_M (Llama 3's tokenizer, 128,256 tokens), 2 threads, a JSON Schema of records that does
// not end within the run. The goal: the mask (computing it, applying it, advancing the
// grammar) costs under 10% of a decode step.
//
//   node bench/grammar.mjs [--steps=N] [--threads=N] [--runs=N]
//
// Writes bench/results/grammar.json (every run, and the run with the median mask share).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { args, cargoTarget, modelsDir, printHeader, repo, writeResults } from './lib.mjs';

const { values } = args(['steps', 'threads', 'runs']);
const steps = Number(values.steps ?? 160);
const threads = Number(values.threads ?? 2);
const runs = Number(values.runs ?? 3);
const model = join(modelsDir, 'llama-3.2-1b-q4_k_m.gguf');
if (!existsSync(model)) execFileSync('node', [join(repo, 'bench', 'gen-models.mjs'), 'llama-3.2-1b-q4_k_m'], { stdio: 'inherit' });

printHeader('grammar mask vs decode step');
execFileSync('cargo', ['build', '--release', '-q', '-p', 'llmplayer-core', '--example', 'bench_grammar'], {
  cwd: repo,
  stdio: 'inherit',
  env: { ...process.env, CARGO_TARGET_DIR: cargoTarget },
});
const example = join(cargoTarget, 'release', 'examples', 'bench_grammar');

const all = [];
for (let i = 0; i < runs; i++) {
  const r = JSON.parse(execFileSync(example, [model, String(steps), String(threads)], { encoding: 'utf8' }));
  all.push(r);
  console.log(
    `run ${i + 1}: decode step ${r.decode_step_ms.toFixed(1)} ms, mask mean ${r.mask_ms_mean.toFixed(3)} ms ` +
      `(p50 ${r.mask_ms_p50.toFixed(3)}, p90 ${r.mask_ms_p90.toFixed(3)}, max ${r.mask_ms_max.toFixed(3)}), ` +
      `share ${(100 * r.mask_share_of_decode_step).toFixed(2)}%; compile ${r.compile_ms.toFixed(1)} ms, first (vocabulary index) ${r.first_compile_ms.toFixed(0)} ms`,
  );
}
const median = [...all].sort((a, b) => a.mask_share_of_decode_step - b.mask_share_of_decode_step)[Math.floor(all.length / 2)];
console.log(`output (median run): ${median.output_head}`);
console.log(`goal: mask < 10% of a decode step: ${median.mask_share_of_decode_step < 0.1 ? 'met' : 'NOT met'}`);
writeResults('grammar.json', { steps, threads, goal: 'mask_share_of_decode_step < 0.10', median, runs: all });
