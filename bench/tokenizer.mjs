// Tokenizer benchmark: encode throughput of llmplayer (native and WASM, through the SDK's
// `model.tokenize`, what users get) next to node-llama-cpp's tokenizer on the same vocab file,
// in the same process. Also runs the pure-Rust example (`bench_tokenizer`) when it is built.
//
//   npm run bench:tokenizer [-- --quick] [-- --no-rust]
//
// Corpora: ~1 MB English and ~100 kB CJK, written byte-identically by the Rust example
// (`bench_tokenizer --write-corpus`) into bench/models/corpus/ (gitignored).
// Writes bench/results/tokenizer.json.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { args, bestTime, cargoTarget, fixtures, load, modelsDir, peer, PEER, printHeader, ratio, repo, sdk, table, writeResults } from './lib.mjs';

const { flags } = args();
const quick = flags.has('--quick');
const budget = quick ? 500 : 2000;
const VOCABS = ['ggml-vocab-llama-spm.gguf', 'ggml-vocab-llama-bpe.gguf', 'ggml-vocab-qwen2.gguf'];
// [name, file, chunk]: a chunk size tokenizes the text in calls of that many UTF-16 units (a
// prompt-sized workload: per-call caches start empty each time); the corpus repeats shuffled
// sentences, so one 1 MB call lets a per-call word memo answer most pieces.
const CORPORA = [
  ['english-1MB', 'en.txt', 0],
  ['english-4kB-calls', 'en.txt', 4096],
  ['cjk-100kB', 'cjk.txt', 0],
];

const example = join(cargoTarget, 'release', 'examples', 'bench_tokenizer');

function cargoBuild() {
  // Incremental: seconds when up to date.
  execFileSync('cargo', ['build', '--release', '-q', '-p', 'llmplayer-core', '--example', 'bench_tokenizer'], {
    cwd: repo,
    stdio: 'inherit',
    env: { ...process.env, CARGO_TARGET_DIR: cargoTarget },
  });
}

function corpus() {
  const dir = join(modelsDir, 'corpus');
  if (!existsSync(join(dir, 'en.txt')) || !existsSync(join(dir, 'cjk.txt'))) {
    cargoBuild();
    execFileSync(example, ['--write-corpus', dir], { stdio: 'inherit' });
  }
  return CORPORA.map(([name, file, chunk]) => {
    const text = readFileSync(join(dir, file), 'utf8');
    return { name, file: join(dir, file), text, chunks: chunk ? split(text, chunk) : [text], whole: !chunk };
  });
}

/** `text` in pieces of about `n` UTF-16 units, never splitting a surrogate pair. */
function split(text, n) {
  const out = [];
  for (let i = 0; i < text.length; ) {
    let j = Math.min(i + n, text.length);
    if (j < text.length && /[\uD800-\uDBFF]/.test(text[j - 1])) j--;
    out.push(text.slice(i, j));
    i = j;
  }
  return out;
}

/** Tokenizes every chunk; one id array for the whole text. */
function tokenizeAll(fn, chunks) {
  if (chunks.length === 1) return fn(chunks[0]);
  const ids = [];
  for (const c of chunks) for (const id of fn(c)) ids.push(id);
  return ids;
}

function sameTokens(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

printHeader(`tokenizer benchmark: llmplayer (SDK model.tokenize) vs ${PEER} (tokenize), 1 thread`);
const texts = corpus();
if (!flags.has('--no-rust') && !existsSync(example)) cargoBuild();
const { loadModel } = await sdk();
const { llama } = await peer();

const rows = [];
const results = [];
for (const vocab of VOCABS) {
  const path = join(fixtures, 'vocab', vocab);
  const native = await loadModel(path, { backend: 'native', vocabOnly: true });
  const wasm = await loadModel(path, { backend: 'wasm', vocabOnly: true });
  const ref = await llama.loadModel({ modelPath: path, vocabOnly: true });
  const impls = [
    ['llmplayer native', (t) => native.tokenize(t, { addSpecial: false, special: false })],
    ['llmplayer wasm', (t) => wasm.tokenize(t, { addSpecial: false, special: false })],
    ['llama.cpp', (t) => ref.tokenize(t, false)],
  ];
  for (const { name, file, text, chunks, whole } of texts) {
    const bytes = Buffer.byteLength(text);
    const out = {};
    let refTokens;
    for (const [impl, fn] of impls) {
      // Timed: the calls alone (what a caller pays); the ids are gathered once afterwards.
      let count = 0;
      const s = await bestTime(
        () => {
          count = 0;
          for (const c of chunks) count += fn(c).length;
        },
        { budget },
      );
      const tokens = tokenizeAll(fn, chunks);
      if (tokens.length !== count) throw new Error(`${impl}: ${count} tokens timed, ${tokens.length} gathered`);
      out[impl] = { encode_s: s, tokens: tokens.length, tokens_per_s: tokens.length / s, mb_per_s: bytes / 1e6 / s };
      if (impl === 'llama.cpp') refTokens = tokens;
      else out[impl].tokens_ref = tokens;
    }
    for (const [impl] of impls.slice(0, 2)) {
      out[impl].same_tokens_as_llama_cpp = sameTokens(out[impl].tokens_ref, refTokens);
      delete out[impl].tokens_ref;
    }
    let rust = null;
    if (whole && !flags.has('--no-rust') && existsSync(example)) {
      rust = JSON.parse(execFileSync(example, [path, file], { encoding: 'utf8' }).trim().split('\n').pop());
      out['llmplayer rust'] = { encode_s: rust.encode_s, tokens: rust.tokens, tokens_per_s: rust.tokens_per_s, mb_per_s: rust.mb_per_s };
    }
    const peerTps = out['llama.cpp'].tokens_per_s;
    for (const [impl, r] of Object.entries(out)) {
      r.ratio_vs_llama_cpp = impl === 'llama.cpp' ? 1 : ratio(r.tokens_per_s, peerTps);
      rows.push([
        vocab.replace(/^ggml-vocab-|\.gguf$/g, ''),
        name,
        impl,
        r.tokens,
        r.tokens_per_s / 1e6,
        r.mb_per_s,
        r.ratio_vs_llama_cpp,
        r.same_tokens_as_llama_cpp === undefined ? '' : r.same_tokens_as_llama_cpp ? 'yes' : 'NO',
      ]);
    }
    results.push({ vocab, corpus: name, bytes, calls: chunks.length, load_at_end: load(), impls: out });
    console.log(`  ${vocab} ${name} done (load ${load().join(' ')})`);
  }
  native.dispose();
  wasm.dispose();
  await ref.dispose();
}

console.log();
console.log(
  table(
    [['vocab', 10, 'l'], ['corpus', 17, 'l'], ['impl', 17, 'l'], ['tokens', 8], ['Mtok/s', 8], ['MB/s', 8], ['vs llama.cpp', 12], ['same ids', 8]],
    rows,
  ),
);
console.log(`\nratio = tokens/s over node-llama-cpp's on the same vocab and text (goal >= 1.0); load average ${load().join(' ')}`);
console.log('"llmplayer rust" is the pure-Rust example (no JS boundary); the SDK rows include UTF-8 conversion and the id array.');
writeResults('tokenizer.json', { peer: PEER, threads: 1, budget_ms: budget, results });
