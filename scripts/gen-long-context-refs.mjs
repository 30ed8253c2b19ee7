// Writes test/refs/long-context.json: llama.cpp's next-token distribution after a 6000-token
// prompt (positions past 4k, far past the fixtures' 512-token references) for the model
// fixtures whose RoPE differs: plain and NeoX, llama3 factors, LongRoPE, YaRN, linear scaling,
// partial rotary, sliding windows. The peer is node-llama-cpp (bench/package.json), run with
// the configuration llmplayer's default reproduces: two-pass attention (flash off) over an f32
// KV cache. It gives probabilities (softmax of the logits at temperature 1, nothing cut), so
// the reference is their natural log: the logits up to a constant.
//
//   npm ci --prefix bench && node scripts/gen-long-context-refs.mjs [FIXTURES_ROOT]
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const repo = resolve(import.meta.dirname, '..');
const root = resolve(process.argv[2] ?? process.env.LLMPLAYER_FIXTURES ?? join(repo, '..', 'shared', 'fixtures'));
const { getLlama } = await import(join(repo, 'bench', 'node_modules', 'node-llama-cpp', 'dist', 'index.js'));
const peerVersion = JSON.parse(readFileSync(join(repo, 'bench', 'node_modules', 'node-llama-cpp', 'package.json'), 'utf8')).version;

const N = 6000;
const FILES = ['llama', 'qwen2', 'phi3', 'deepseek2', 'mistral3', 'gemma3', 'gpt-oss', 'glm4'];
/** The prompt: ids spread over the vocabulary, away from its first and last five. */
const promptOf = (nVocab) => Array.from({ length: N }, (_, i) => ((i * 7919 + 13) % (nVocab - 10)) + 5);

const llama = await getLlama({ gpu: false, build: 'never' });
const models = [];
for (const name of FILES) {
  const file = `models/${name}.gguf`;
  const bytes = readFileSync(join(root, file));
  const model = await llama.loadModel({ modelPath: join(root, file), gpuLayers: 0 });
  const nVocab = model.fileInfo.metadata.tokenizer.ggml.tokens.length;
  const ctx = await model.createContext({
    contextSize: N + 64,
    batchSize: 512,
    flashAttention: false,
    experimentalKvCacheKeyType: 'F32',
    experimentalKvCacheValueType: 'F32',
    threads: 2,
  });
  let probs;
  for await (const out of ctx.getSequence().evaluateWithMetadata(promptOf(nVocab), { probabilities: true }, { temperature: 1, topK: 0, topP: 1, minP: 0 })) {
    probs = out.probabilities;
    break;
  }
  if (probs.size !== nVocab) throw new Error(`${file}: ${probs.size} probabilities for ${nVocab} tokens`);
  const logProbs = Array.from({ length: nVocab }, (_, id) => Math.log(probs.get(id)));
  if (!logProbs.every(Number.isFinite)) throw new Error(`${file}: a zero probability`);
  models.push({ file, sha256: createHash('sha256').update(bytes).digest('hex'), n_vocab: nVocab, log_probs: logProbs });
  console.log(`${file}: top token ${[...probs.keys()][0]} (p ${[...probs.values()][0].toFixed(4)})`);
  await ctx.dispose();
  await model.dispose();
}

writeFileSync(
  join(repo, 'test', 'refs', 'long-context.json'),
  JSON.stringify(
    {
      provenance: {
        generator: 'scripts/gen-long-context-refs.mjs',
        peer: `node-llama-cpp@${peerVersion}, llama.cpp ${llama.llamaCppRelease.release} (prebuilt CPU binaries)`,
        settings: 'flashAttention false, KV cache F32 (K and V), batch 512, 2 threads, context N + 64',
        output: 'natural log of the next-token probabilities after the whole prompt (temperature 1, no top-k/top-p/min-p)',
      },
      n_prompt: N,
      prompt: 'token i = (i * 7919 + 13) % (n_vocab - 10) + 5, i = 0..n_prompt-1 (no BOS)',
      models,
    },
    null,
    1,
  ) + '\n',
);
console.log(`wrote test/refs/long-context.json (${models.length} models, ${N} prompt tokens)`);
