// Times inspect() on the largest vocab fixture, native vs WASM (median of N runs after warm-up).
// Usage: node bench/inspect-time.mjs [file.gguf] [runs]   (run scripts/setup.sh first)
import { readdirSync, statSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect } from '../dist/index.js';

const repo = fileURLToPath(new URL('..', import.meta.url));
const fixtures = process.env.LLMPLAYER_FIXTURES ?? join(repo, '..', 'shared', 'fixtures');
const vocab = join(fixtures, 'vocab');
const largest = readdirSync(vocab)
  .filter((f) => f.endsWith('.gguf'))
  .map((f) => join(vocab, f))
  .sort((a, b) => statSync(b).size - statSync(a).size)[0];
const file = process.argv[2] ?? largest;
const runs = Number(process.argv[3] ?? 20);

async function time(backend) {
  await inspect(file, { backend });
  const ms = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await inspect(file, { backend, tensors: true });
    ms.push(performance.now() - t);
  }
  ms.sort((a, b) => a - b);
  return ms[Math.floor(ms.length / 2)];
}

const native = await time('native');
const wasm = await time('wasm');
const result = { file, bytes: statSync(file).size, runs, nativeMs: native, wasmMs: wasm, wasmOverNative: wasm / native };
console.log(`inspect ${file} (${(result.bytes / 1e6).toFixed(1)} MB), median of ${runs}:`);
console.log(`  native ${native.toFixed(2)} ms   wasm ${wasm.toFixed(2)} ms (includes reading the file)   wasm/native ${(wasm / native).toFixed(2)}x`);
mkdirSync(join(repo, 'bench', 'results'), { recursive: true });
writeFileSync(join(repo, 'bench', 'results', 'inspect.json'), JSON.stringify(result, null, 2) + '\n');
