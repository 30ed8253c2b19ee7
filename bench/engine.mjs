// Engine benchmark: prefill of 512 tokens and greedy decode of 128 tokens on random-weight
// GGUFs with real model shapes (bench/gen-models.mjs), for llmplayer native (2 threads),
// llmplayer WASM (1 thread) and node-llama-cpp (2 threads, CPU), on the same file, same
// prompt (token ids 1000..1511, no BOS; --prompt N: 1000..999+N), same context size (1024, or
// more for a longer prompt), in the same run.
//
//   npm run bench [-- --quick] [-- --model NAME] [-- --runs=N] [-- --no-wasm] [-- --threads=N] [-- --out=FILE]
//                 [-- --device opencl[:SELECTOR]]
//
// --device opencl: llmplayer native with every layer's products on the OpenCL device (the
// first GPU, else the first device; `opencl:NAME` picks one), the peer still on the CPU. On a
// CPU OpenCL (PoCL) this only proves the path.
//
// AVX2 against AVX2 on an AVX-512 machine: LLMPLAYER_X86=avx2 for llmplayer, and the peer's
// AVX-512 CPU variants (libggml-cpu-{zen4,skylakex,...}.so) moved out of its bins folder.
//
// One run = a cleared KV cache, then generate(prompt, 128 tokens): prefill tok/s = 512 / time
// to the first token; decode tok/s = 127 / time from the first to the last token (each step
// evaluates the previous token and samples one). End-of-generation tokens are banned on both
// sides so every run decodes the full 128. Best of `runs` per engine, engines interleaved.
// Then, on the CPU, a fresh process (bench/first-token.mjs): llmplayer native's time to the
// first token from process start (16-token prompt, warm page cache) and its peak RSS once the
// context is full, against the file plus the KV cache.
// Writes bench/results/engine.json (or --out).
import { execFileSync } from 'node:child_process';
import { args, load, peer, PEER, printHeader, ratio, sdk, table, writeResults } from './lib.mjs';
import { DEFAULT_MODELS, generate, MODELS } from './gen-models.mjs';

const { flags, values } = args(['model', 'runs', 'threads', 'prompt', 'gen', 'out', 'device']);
const device = values.device;
if (device !== undefined && !/^opencl(:.+)?$/.test(device)) throw new Error(`--device must be opencl or opencl:SELECTOR, got ${device}`);
const offload = device ? { gpuLayers: 'all', device: device.split(':')[1] } : {};
const quick = flags.has('--quick');
const runs = Number(values.runs ?? (quick ? 1 : 3));
const threads = Number(values.threads ?? 2);
const N_PROMPT = Number(values.prompt ?? 512);
const N_GEN = Number(values.gen ?? (quick ? 32 : 128));
// 1024, or the prompt and generation rounded up to 256 when they need more (--prompt 4096).
const CTX = Math.max(1024, Math.ceil((N_PROMPT + N_GEN) / 256) * 256);
const prompt = Array.from({ length: N_PROMPT }, (_, i) => 1000 + i);
// Without --model: every model but the opt-in ones (gpt-oss-20b-mxfp4, 11.8 GB).
const names = values.model ? values.model.split(',') : DEFAULT_MODELS;
for (const n of names) if (!MODELS[n]) throw new Error(`unknown model ${n}; known: ${Object.keys(MODELS).join(', ')}`);
const withWasm = !flags.has('--no-wasm');

printHeader(
  `engine benchmark: llmplayer vs ${PEER}; prompt ${N_PROMPT} tokens, decode ${N_GEN}, context ${CTX}, ` +
    `${threads} threads (WASM 1), best of ${runs}`,
);

const { loadModel } = await sdk();
const { llama } = await peer();
// The prebuilt picks its best CPU variant at run time (AVX-512 / VNNI where the CPU has them),
// as llmplayer does (AVX2 kernels, AVX-512 VNNI mat-mat): print the peer's choice next to the ratios.
const peerCpu = llama.systemInfo.trim();
console.log(`peer ggml CPU features: ${peerCpu}`);

function timingsOf(t0, stamps) {
  const first = stamps[0] - t0;
  const rest = stamps.at(-1) - stamps[0];
  return {
    prefill_ms: first,
    prefill_tps: (N_PROMPT * 1000) / first,
    decode_ms: rest,
    decode_tps: ((stamps.length - 1) * 1000) / rest,
  };
}

/** llmplayer through the SDK's session.generate (what users get). */
async function llmplayerEngine(path, backend) {
  const t = performance.now();
  const model = await loadModel(path, { backend, threads: backend === 'native' ? threads : undefined, contextSize: CTX, ...(backend === 'native' ? offload : {}) });
  const loadMs = performance.now() - t;
  if (model.offload) {
    if (model.offload.error) throw new Error(`--device ${device}: ${model.offload.error}`);
    console.log(`  offload: ${model.offload.layers} layers + output on ${model.offload.device}, ${model.offload.tensors} matrices`);
  }
  const banned = {};
  for (let id = 0; id < model.nVocab; id++) if (model.isEndOfGeneration(id)) banned[id] = -Infinity;
  const session = model.createSession({ contextSize: CTX });
  return {
    loadMs,
    async run() {
      session.clear();
      const stamps = [];
      const tokens = [];
      const t0 = performance.now();
      for await (const item of session.generate(prompt, { maxTokens: N_GEN, temperature: 0, logitBias: banned })) {
        if (item.finishReason !== undefined) break;
        stamps.push(performance.now());
        tokens.push(item.token);
      }
      return { ...timingsOf(t0, stamps), tokens };
    },
    async dispose() {
      session.dispose();
      model.dispose();
    },
  };
}

/** node-llama-cpp: a sequence's evaluate() generator, greedy. */
async function llamaCppEngine(path) {
  const t = performance.now();
  const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
  const context = await model.createContext({ contextSize: CTX, batchSize: 512, threads: { ideal: threads, min: threads } });
  const loadMs = performance.now() - t;
  const sequence = context.getSequence();
  const eog = new Set([model.tokens.eos, model.tokens.eot].filter((x) => x != null));
  return {
    loadMs,
    flashAttention: context.flashAttention,
    async run() {
      await sequence.clearHistory();
      const stamps = [];
      const tokens = [];
      const t0 = performance.now();
      for await (const token of sequence.evaluate(prompt, { temperature: 0 })) {
        stamps.push(performance.now());
        tokens.push(token);
        if (tokens.length >= N_GEN) break;
      }
      return { ...timingsOf(t0, stamps), tokens, eog_in_output: tokens.some((x) => eog.has(x)) };
    },
    async dispose() {
      await context.dispose();
      await model.dispose();
    },
  };
}

function best(results) {
  return {
    prefill_tps: Math.max(...results.map((r) => r.prefill_tps)),
    decode_tps: Math.max(...results.map((r) => r.decode_tps)),
    runs: results.map(({ tokens, ...r }) => r),
    generated: results[0].tokens.length,
  };
}

const summary = [];
const rows = [];
for (const name of names) {
  const path = generate(name);
  console.log(`\n== ${name} (${path})  load ${load().join(' ')}`);
  const engines = [
    ['llmplayer native', () => llmplayerEngine(path, 'native'), runs],
    ['llama.cpp', () => llamaCppEngine(path), runs],
  ];
  const loaded = [];
  for (const [label, make] of engines) loaded.push([label, await make()]);
  const res = Object.fromEntries(loaded.map(([l]) => [l, []]));
  for (let r = 0; r < runs; r++) {
    for (const [label, e] of loaded) {
      const out = await e.run();
      res[label].push(out);
      console.log(`  ${label.padEnd(17)} run ${r + 1}: prefill ${out.prefill_tps.toFixed(1)} tok/s, decode ${out.decode_tps.toFixed(2)} tok/s (load ${load()[0]})`);
    }
  }
  const info = Object.fromEntries(loaded.map(([l, e]) => [l, { load_ms: e.loadMs, flash_attention: e.flashAttention }]));
  for (const [, e] of loaded) await e.dispose();
  if (withWasm) {
    // One run: single-threaded WASM is the slowest by far.
    const e = await llmplayerEngine(path, 'wasm');
    const out = await e.run();
    console.log(`  ${'llmplayer wasm'.padEnd(17)} run 1: prefill ${out.prefill_tps.toFixed(1)} tok/s, decode ${out.decode_tps.toFixed(2)} tok/s (load ${load()[0]})`);
    res['llmplayer wasm'] = [out];
    info['llmplayer wasm'] = { load_ms: e.loadMs };
    await e.dispose();
  }
  // A fresh process: time to the first token from its start, and its peak RSS against the file
  // plus the KV cache (bench/first-token.mjs); native CPU only.
  let coldStart = null;
  if (!device) {
    coldStart = JSON.parse(execFileSync(process.execPath, [new URL('first-token.mjs', import.meta.url).pathname, path, String(CTX), String(threads), String(N_PROMPT)], { encoding: 'utf8' }));
    const mb = (b) => `${(b / 1e6).toFixed(0)} MB`;
    console.log(
      `  llmplayer native  first token ${coldStart.ttft_ms.toFixed(0)} ms from process start; peak RSS ${mb(coldStart.max_rss_bytes)} = ` +
        `file ${mb(coldStart.file_bytes)} + KV ${mb(coldStart.kv_bytes)} + ${(coldStart.rss_over_file_and_kv * 100).toFixed(1)}%`,
    );
  }
  const ref = best(res['llama.cpp']);
  const refTokens = res['llama.cpp'][0].tokens;
  const entry = { model: name, file: path, load_at_end: load(), engines: {} };
  for (const [label, list] of Object.entries(res)) {
    const b = best(list);
    const same = label === 'llama.cpp' ? null : list[0].tokens.length === refTokens.length && list[0].tokens.every((t, i) => t === refTokens[i]);
    let agree = 0;
    while (agree < refTokens.length && list[0].tokens[agree] === refTokens[agree]) agree++;
    entry.engines[label] = {
      threads: label === 'llmplayer wasm' ? 1 : threads,
      ...info[label],
      ...b,
      prefill_ratio_vs_llama_cpp: ratio(b.prefill_tps, ref.prefill_tps),
      decode_ratio_vs_llama_cpp: ratio(b.decode_tps, ref.decode_tps),
      same_greedy_tokens_as_llama_cpp: same,
      tokens_agreeing_with_llama_cpp: label === 'llama.cpp' ? null : agree,
      ...(label === 'llmplayer native' && coldStart ? { cold_start: coldStart } : {}),
    };
    rows.push([
      name,
      label,
      String(entry.engines[label].threads),
      b.prefill_tps,
      entry.engines[label].prefill_ratio_vs_llama_cpp,
      b.decode_tps,
      entry.engines[label].decode_ratio_vs_llama_cpp,
      label === 'llama.cpp' ? '' : `${agree}/${refTokens.length}`,
    ]);
  }
  summary.push(entry);
}

console.log();
console.log(
  table(
    [['model', 20, 'l'], ['engine', 17, 'l'], ['thr', 3], ['prefill t/s', 11], ['vs l.cpp', 8], ['decode t/s', 10], ['vs l.cpp', 8], ['same ids', 8]],
    rows,
  ),
);
console.log(`\ngoal: native decode >= 0.9x llama.cpp, prefill >= 0.7x; "same ids": greedy tokens equal to llama.cpp's, from the first`);
console.log(`load average ${load().join(' ')} (numbers taken on a busy machine are noisy: rerun on a quiet one)`);
writeResults(values.out ?? 'engine.json', {
  peer: PEER,
  peer_cpu_features: peerCpu,
  settings: { device: device ?? 'cpu', prompt_tokens: N_PROMPT, prompt: `ids ${prompt[0]}..${prompt.at(-1)}, no BOS`, decode_tokens: N_GEN, context: CTX, threads, runs, llmplayer_x86: process.env.LLMPLAYER_X86 ?? 'auto', sampling: 'greedy, EOG tokens banned (llmplayer)' },
  results: summary,
});
