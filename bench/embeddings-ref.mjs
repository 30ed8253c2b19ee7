// Writes test/refs/embeddings.json: node-llama-cpp's embeddings (LlamaEmbeddingContext
// getEmbeddingFor) of a few strings for SmolLM2-135M-Instruct Q4_1, with the tokens it fed
// llama.cpp and the pooling llama.cpp used, so test/embeddings.test.ts compares vectors, not
// tokenizers. Run: node bench/embeddings-ref.mjs [model.gguf] (npm ci --prefix bench first).
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';

const here = dirname(fileURLToPath(import.meta.url));
const modelPath = process.argv[2] ?? join(homedir(), '.cache', 'llmplayer', 'models', 'SmolLM2-135M-Instruct.Q4_1.gguf');
const texts = [
  'Hello world',
  'The quick brown fox jumps over the lazy dog.',
  'Embeddings map text to vectors; similar meanings land close together.',
  'Une phrase en français, avec des accents: été, naïve, garçon.',
  'x',
];

const version = JSON.parse(readFileSync(join(here, 'node_modules', 'node-llama-cpp', 'package.json'), 'utf8')).version;
const sha256 = createHash('sha256').update(readFileSync(modelPath)).digest('hex');
const llama = await getLlama({ gpu: false, logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath });
const ctx = await model.createEmbeddingContext({ contextSize: 512, threads: 2 });
const poolingKey = `${model.fileInfo.metadata.general.architecture}.pooling_type`;
const entries = [];
for (const text of texts) {
  // The tokens getEmbeddingFor evaluates: tokenize(text, specialTokens=false), then the BOS/EOS
  // its _prepareInput adds as the vocabulary asks (LlamaEmbeddingContext.js).
  const tokens = model.tokenize(text, false);
  ctx._prepareInput(tokens);
  const e = await ctx.getEmbeddingFor(text);
  entries.push({ text, tokens: [...tokens], embedding: [...e.vector] });
}
const out = {
  format: 'llmplayer-embeddings-ref/1',
  tool: `node-llama-cpp ${version} (its bundled llama.cpp, CPU build, prebuilt binary)`,
  command: `node bench/embeddings-ref.mjs ${modelPath.replace(homedir(), '~')}`,
  model: { file: modelPath.split('/').pop(), sha256 },
  // flashAttention 'auto' (node-llama-cpp's default) lets llama.cpp decide: it turns flash
  // attention on where the device runs it, the CPU included (cparams.auto_fa).
  context: { contextSize: 512, threads: 2, flashAttention: `${ctx._llamaContext.flashAttention} (llama.cpp: on for the CPU)` },
  pooling: {
    modelKey: `${poolingKey} = ${model.fileInfo.metadata[model.fileInfo.metadata.general.architecture]?.pooling_type ?? 'absent'}`,
    used: 'last',
    why:
      'The key is absent, so llama.cpp takes LLAMA_POOLING_TYPE_NONE from the model; node-llama-cpp (AddonContext::GetEmbedding) then reads llama_get_embeddings_ith(ctx, -1): the hidden state of the last token after the output norm, not normalized. That is llmplayer\'s `pooling: "last"` with `normalize: false`.',
  },
  entries,
};
writeFileSync(join(here, '..', 'test', 'refs', 'embeddings.json'), JSON.stringify(out, null, 1) + '\n');
console.log(`wrote ${entries.length} embeddings of ${entries[0].embedding.length} dims`);
await ctx.dispose();
await model.dispose();
await llama.dispose();
