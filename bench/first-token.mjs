// Child process of bench/engine.mjs: time to the first token from process start, and peak
// memory, for llmplayer native on one model with a warm page cache.
//
//   node bench/first-token.mjs MODEL.gguf CONTEXT THREADS PROMPT_TOKENS
//
// 1. From process start (Node's time origin): import the SDK, load the model, create a session
//    of CONTEXT positions and generate one token after a 16-token prompt: `ttft_ms`.
// 2. Then the same session takes the bench's PROMPT_TOKENS prompt and decodes to the end of its
//    context, so every weight and every KV row has been touched: `max_rss_bytes` (the process's
//    peak resident set) against the file's size plus the KV cache of CONTEXT positions.
// Prints one JSON line.
import { statSync } from 'node:fs';
import { join } from 'node:path';

const [path, ctxArg, threadsArg, promptArg] = process.argv.slice(2);
const contextSize = Number(ctxArg);
const threads = Number(threadsArg);
const nPrompt = Number(promptArg);
const { loadModel } = await import(join(import.meta.dirname, '..', 'dist', 'index.js'));
const importMs = performance.now();
const model = await loadModel(path, { backend: 'native', threads, contextSize });
const loadMs = performance.now() - importMs;
const banned = {};
for (let id = 0; id < model.nVocab; id++) if (model.isEndOfGeneration(id)) banned[id] = -Infinity;
const session = model.createSession({ contextSize });
let ttft = null;
for await (const item of session.generate(Array.from({ length: 16 }, (_, i) => 1000 + i), { maxTokens: 1, temperature: 0, logitBias: banned })) {
  ttft ??= performance.now();
  if (item.finishReason !== undefined) break;
}
session.clear();
const prompt = Array.from({ length: nPrompt }, (_, i) => 1000 + i);
let generated = 0;
for await (const item of session.generate(prompt, { maxTokens: contextSize - nPrompt, temperature: 0, logitBias: banned })) {
  if (item.finishReason !== undefined) break;
  generated++;
}
const kvBytes = session.kvBytesPerToken * contextSize;
const fileBytes = statSync(path).size;
const maxRss = process.resourceUsage().maxRSS * 1024;
console.log(
  JSON.stringify({
    ttft_ms: ttft,
    import_ms: importMs,
    load_ms: loadMs,
    positions_used: nPrompt + generated,
    file_bytes: fileBytes,
    kv_bytes: kvBytes,
    max_rss_bytes: maxRss,
    rss_over_file_and_kv: maxRss / (fileBytes + kvBytes) - 1,
  }),
);
session.dispose();
model.dispose();
