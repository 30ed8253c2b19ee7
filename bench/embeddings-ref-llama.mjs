// Writes test/refs/embeddings-llama-cpp.json: llama.cpp's own pooled embeddings (mean and last,
// not normalized, flash attention on as on its CPU by default) from `llama-embedding` built from
// node-llama-cpp 3.21.1's llama.cpp source (bench/node_modules/node-llama-cpp/llama/gitRelease.bundle):
//   git clone <bundle> /tmp/llama.cpp
//   cmake -B /tmp/llama-build /tmp/llama.cpp -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF -DGGML_AVX=ON \
//     -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_OPENMP=OFF -DLLAMA_CURL=OFF
//   cmake --build /tmp/llama-build --target llama-embedding -j2
//   node bench/embeddings-ref-llama.mjs /tmp/llama-build/bin/llama-embedding [model.gguf]
// The texts are test/refs/embeddings.json's (node-llama-cpp's prebuilt binary) plus a longer one.
// The prebuilt binary rounds differently from this source build on some inputs (see
// test/embeddings.test.ts); the engine follows the source build.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const [bin, modelArg] = process.argv.slice(2);
if (!bin) throw new Error('usage: node bench/embeddings-ref-llama.mjs <llama-embedding> [model.gguf]');
const modelPath = modelArg ?? join(homedir(), '.cache', 'llmplayer', 'models', 'SmolLM2-135M-Instruct.Q4_1.gguf');
const nlc = JSON.parse(readFileSync(join(here, '..', 'test', 'refs', 'embeddings.json'), 'utf8'));
// Longer texts too: ggml's mean runs 32 positions at a time in SIMD lanes, then the rest one by
// one (40 and 51 tokens: both parts; 32 tokens: lanes only).
const texts = [
  ...nlc.entries.map((e) => e.text),
  'The quick brown fox jumps over the lazy dog. The quick brown fox jumps over the lazy dog again and again.',
  'A GGUF file holds the tensors of a model and the metadata that describes it: the architecture, the tokenizer, the chat template and the hyperparameters that the engine reads before it runs.',
  'Sentence embeddings let a search engine compare meanings rather than words. A question and the passage that answers it end up close together, even when they share few words, because the model has read both and summarised each one into a single vector of numbers.',
  'Sentence embeddings let a search engine compare meanings rather than words. A question and the passage that answers it end up close together, even when they share few.',
];
const args = (text, pooling) => ['-m', modelPath, '-p', text, '--pooling', pooling, '--embd-normalize', '-1', '--embd-output-format', 'json', '-fa', 'on', '-t', '2', '-c', '512', '--verbose-prompt', '--no-warmup'];

function run(text, pooling) {
  const out = execFileSync(bin, args(text, pooling), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26 });
  return JSON.parse(out.slice(out.indexOf('{'))).data[0].embedding;
}
function tokens(text) {
  // --verbose-prompt logs "  <id> -> '<piece>'" per token.
  const r = spawnSync(bin, args(text, 'last'), { encoding: 'utf8', maxBuffer: 1 << 26 });
  return [...(r.stdout + r.stderr).matchAll(/^\s*(\d+) -> '/gm)].map((m) => Number(m[1]));
}

const entries = texts.map((text) => ({ text, tokens: tokens(text), last: run(text, 'last'), mean: run(text, 'mean') }));
const out = {
  format: 'llmplayer-embeddings-llama-cpp/1',
  tool: 'llama-embedding, llama.cpp of node-llama-cpp 3.21.1 (gitRelease.bundle), built from source: GCC, AVX2/FMA/F16C, GGML_NATIVE=OFF',
  command: `llama-embedding ${args('<text>', '<last|mean>').join(' ').replace(modelPath, modelPath.replace(homedir(), '~'))}`,
  model: { file: modelPath.split('/').pop(), sha256: createHash('sha256').update(readFileSync(modelPath)).digest('hex') },
  precision: 'printed with %1.7f: each value within 5e-8 of llama.cpp\'s float',
  entries,
};
writeFileSync(join(here, '..', 'test', 'refs', 'embeddings-llama-cpp.json'), JSON.stringify(out) + '\n');
console.log(`wrote ${entries.length} texts (last and mean) of ${entries[0].last.length} dims`);
