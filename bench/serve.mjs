// Serving benchmark: S concurrent streaming completions against llmplayer's OpenAI server
// (`node dist/cli.js serve --parallel S`, a child process) and the same S generations on
// node-llama-cpp (one context with S sequences, which llama.cpp decodes in one batch), on the
// same GGUF, the same prompts (token ids, BOS included) and greedy sampling.
//
//   npm run bench:serve [-- --quick] [-- --model NAME[,NAME]] [-- --streams=1,4,8,16]
//                       [-- --tokens=128] [-- --threads=N] [-- --out=FILE]
//
// Per stream: time to first token (TTFT, request sent -> first content chunk / token) and the
// gaps between successive chunks / tokens (TBT). Aggregate tok/s = all completion tokens / wall
// time from the first send to the last stream's end. End-of-generation is banned on our side
// (logit_bias -100) so every stream decodes exactly TOKENS tokens; the peer cannot ban EOS
// (TokenBias ignores it), so its loop just takes TOKENS tokens whatever they are.
// The engines never run at once (2 cores): per S, our server runs, is killed, then the peer.
// Writes bench/results/serve.json (or --out).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { args, fmt, load, peer, PEER, printHeader, ratio, repo, sdk, table, writeResults } from './lib.mjs';
import { generate, MODELS } from './gen-models.mjs';

// SmolLM2 is a real model (scripts/fetch-models.sh caches it), not one gen-models.mjs knows.
const REAL = { 'smollm2-135m-q4_1': 'SmolLM2-135M-Instruct.Q4_1.gguf' };
const { flags, values } = args(['model', 'streams', 'tokens', 'threads', 'out']);
const quick = flags.has('--quick');
const names = (values.model ?? 'llama-3.2-1b-q4_k_m,smollm2-135m-q4_1').split(',');
const STREAMS = (values.streams ?? (quick ? '1,8' : '1,4,8,16')).split(',').map(Number);
const TOKENS = Number(values.tokens ?? (quick ? 32 : 128));
const THREADS = Number(values.threads ?? 2);
const CTX = 1024; // per stream, both engines (the peer's contextSize is per sequence)
const cli = join(repo, 'dist', 'cli.js');

function fileOf(name) {
  if (REAL[name]) {
    const dir = process.env.LLMPLAYER_MODELS ? resolve(process.env.LLMPLAYER_MODELS) : join(homedir(), '.cache', 'llmplayer', 'models');
    if (!existsSync(join(dir, REAL[name]))) throw new Error(`${join(dir, REAL[name])} not found: run scripts/fetch-models.sh`);
    return join(dir, REAL[name]);
  }
  if (name.endsWith('.gguf')) return name;
  if (!MODELS[name]) throw new Error(`unknown model ${name}; known: ${[...Object.keys(REAL), ...Object.keys(MODELS)].join(', ')}`);
  return generate(name);
}

// Distinct openings (no shared prefix beyond BOS), ~30-60 tokens each; stream i takes PROMPTS[i % 16].
const PROMPTS = [
  'The lighthouse keeper counted the ships passing through the narrow strait every night, writing each name in a leather notebook that his grandfather had given him before the storm of that terrible winter.',
  'Photosynthesis converts light energy into chemical energy stored in glucose, and the process takes place mostly inside the chloroplasts of leaf cells, where chlorophyll absorbs red and blue wavelengths.',
  'In 1869 the transcontinental railroad joined the eastern and western networks of the United States at Promontory Summit, cutting the journey across the continent from months to about a week.',
  'My grandmother kept a jar of buttons on the kitchen shelf, and on rainy afternoons we sorted them by colour and size while she told stories about the tailor shop she ran in her twenties.',
  'A binary search tree stores keys so that every node is greater than all keys in its left subtree and smaller than all keys in its right subtree, which makes lookups logarithmic when balanced.',
  'Volcanic islands form when magma rises through cracks in the ocean floor, cools into basalt, and slowly builds a mountain whose peak may one day break the surface of the sea.',
  'Quarterly revenue grew by twelve percent, driven mainly by subscriptions in Europe, although the hardware division reported weaker margins because component prices rose sharply in the spring.',
  'To bake sourdough bread, feed the starter the night before, mix flour, water and salt in the morning, fold the dough every half hour, then let it rise slowly in the refrigerator.',
  'The orchestra tuned to the oboe, the conductor raised her baton, and the first quiet notes of the symphony drifted over an audience that had waited nearly two years for this concert.',
  'Glaciers carve U-shaped valleys as they move, dragging boulders that scrape the bedrock and leave long grooves that geologists use to reconstruct the direction of ancient ice flows.',
  'When the router drops packets, TCP reduces its congestion window, retransmits the missing segments, and slowly probes for more bandwidth until losses appear again on the path.',
  'Under the old oak tree in the village square, children traded marbles and comic books every Saturday, while their parents bargained with farmers over baskets of apples and fresh eggs.',
  'Medieval scribes copied manuscripts by candlelight, grinding their own pigments from minerals and plants, and sometimes left small jokes or complaints about the cold in the margins.',
  'Electric vehicles recover energy through regenerative braking, turning the motor into a generator that charges the battery whenever the driver lifts off the accelerator pedal downhill.',
  'Honeybees communicate the location of flowers with a waggle dance, in which the angle of the run points toward the food source and its duration encodes the distance from the hive.',
  'The detective studied the muddy footprints near the greenhouse door, noticed that the left heel was worn unevenly, and quietly asked the gardener where he had been on Tuesday night.',
];

// Warm-up request (pages the weights in, JITs the server): shares no prefix with PROMPTS, so no
// slot's cache gives a measured stream a head start.
const WARMUP = 'Warm-up: hello there.';

const pct = (xs, p) => {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

/** Per-stream stamps -> the figures of one S (ms, tok/s). */
function summarize(t0, streams) {
  const end = Math.max(...streams.map((s) => s.end));
  const tokens = streams.reduce((n, s) => n + s.tokens, 0);
  const gaps = streams.flatMap((s) => s.stamps.slice(1).map((t, i) => t - s.stamps[i]));
  const ttft = streams.map((s) => s.stamps[0] - s.sent);
  return {
    agg_tps: (tokens * 1000) / (end - t0),
    wall_ms: end - t0,
    tokens,
    chunks: streams.reduce((n, s) => n + s.stamps.length, 0),
    ttft_p50_ms: pct(ttft, 50),
    ttft_max_ms: Math.max(...ttft),
    tbt_p50_ms: pct(gaps, 50),
    tbt_p99_ms: pct(gaps, 99),
    // Steady-state decode rate, free of the prefill in the wall time (a large share at --quick):
    // every stream gets a token per median gap.
    decode_agg_tps: (streams.length * 1000) / pct(gaps, 50),
    per_stream_tps: streams.map((s) => ((s.tokens - 1) * 1000) / (s.end - s.stamps[0])),
  };
}

async function freePort() {
  const srv = createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

async function startServer(file, parallel) {
  const port = await freePort();
  const args = ['serve', '-m', file, '--port', String(port), '--parallel', String(parallel), '--threads', String(THREADS), '--ctx', String(CTX)];
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`server exited (${child.exitCode}): ${stderr}`);
    const status = await fetch(`${base}/health`).then((r) => r.json().then((j) => j.status), () => null);
    if (status === 'ready') {
      const stop = async () => {
        const exited = child.exitCode === null ? once(child, 'exit') : null;
        child.kill('SIGTERM');
        await exited;
      };
      return { base, stop };
    }
    if (status === 'error') break;
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new Error(`server did not become ready: ${stderr}`);
}

/** One streaming /v1/completions request; stamps = arrival of each chunk carrying text. */
async function stream(base, prompt, maxTokens, bias) {
  const sent = performance.now();
  const res = await fetch(`${base}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt, max_tokens: maxTokens, temperature: 0, stream: true, stream_options: { include_usage: true }, logit_bias: bias }),
  });
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  const stamps = [];
  let tokens = 0;
  let finish = null;
  let buf = '';
  const decoder = new TextDecoder();
  for await (const bytes of res.body) {
    const now = performance.now();
    buf += decoder.decode(bytes, { stream: true });
    let cut;
    while ((cut = buf.indexOf('\n\n')) >= 0) {
      const event = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      const data = event.split('\n').find((l) => l.startsWith('data: '))?.slice(6); // skips ': keep-alive'
      if (!data || data === '[DONE]') continue;
      const chunk = JSON.parse(data);
      if (chunk.error) throw new Error(JSON.stringify(chunk.error));
      if (chunk.choices?.[0]?.text) stamps.push(now);
      finish = chunk.choices?.[0]?.finish_reason ?? finish;
      if (chunk.usage) tokens = chunk.usage.completion_tokens;
    }
  }
  // A chunk may carry several tokens (a piece ending inside a UTF-8 character is held back).
  return { sent, stamps, tokens, finish, end: performance.now() };
}

async function runOurs(file, S, prompts, warmup, bias) {
  const server = await startServer(file, S);
  try {
    await stream(server.base, warmup, 8, bias);
    const t0 = performance.now();
    const streams = await Promise.all(prompts.slice(0, S).map((p) => stream(server.base, p, TOKENS, bias)));
    const short = streams.filter((s) => s.tokens !== TOKENS);
    if (short.length) console.log(`  warning: ${short.length} stream(s) ended early (${short.map((s) => `${s.tokens} ${s.finish}`).join(', ')})`);
    return summarize(t0, streams);
  } finally {
    await server.stop();
  }
}

async function runPeer(model, S, prompts, warmup) {
  const context = await model.createContext({ contextSize: CTX, sequences: S, batchSize: 512, threads: { ideal: THREADS, min: THREADS } });
  try {
    const seqs = Array.from({ length: S }, () => context.getSequence());
    const gen = async (seq, prompt, n) => {
      const sent = performance.now();
      const stamps = [];
      for await (const _ of seq.evaluate(prompt, { temperature: 0 })) {
        stamps.push(performance.now());
        if (stamps.length >= n) break; // EOS included: the peer does not let it be banned
      }
      return { sent, stamps, tokens: stamps.length, end: performance.now() };
    };
    await gen(seqs[0], warmup, 8);
    await seqs[0].clearHistory();
    const t0 = performance.now();
    return summarize(t0, await Promise.all(seqs.map((seq, i) => gen(seq, prompts[i], TOKENS))));
  } finally {
    await context.dispose();
  }
}

printHeader(`serving benchmark: llmplayer serve --parallel S vs ${PEER} (S sequences, one context); ${TOKENS} tokens per stream, context ${CTX} per stream, ${THREADS} threads, streams ${STREAMS.join(',')}`);
if (!existsSync(cli)) throw new Error('dist/cli.js is missing: run `npm run build:ts`');
const { loadModel } = await sdk();
const { llama } = await peer();

const results = [];
for (const name of names) {
  const file = fileOf(name);
  // Prompts as token ids (BOS included) from our tokenizer, so both engines see the same input.
  const vocab = await loadModel(file, { vocabOnly: true });
  const prompts = Array.from({ length: Math.max(...STREAMS) }, (_, i) => vocab.tokenize(PROMPTS[i % PROMPTS.length], { special: true, addSpecial: true }));
  const warmup = vocab.tokenize(WARMUP, { special: true, addSpecial: true });
  const bias = {};
  for (let id = 0; id < vocab.nVocab; id++) if (id === vocab.eos || vocab.isEndOfGeneration(id)) bias[id] = -100;
  vocab.dispose();
  console.log(`\n== ${name} (${file}): prompts ${Math.min(...prompts.map((p) => p.length))}-${Math.max(...prompts.map((p) => p.length))} tokens; banned EOG ids ${Object.keys(bias).join(',')}`);
  const peerModel = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
  const runs = [];
  for (const S of STREAMS) {
    const ours = await runOurs(file, S, prompts, warmup, bias);
    const theirs = await runPeer(peerModel, S, prompts, warmup);
    runs.push({ streams: S, ours, peer: theirs, load: load() });
    console.log(`  S=${String(S).padStart(2)}: ours ${fmt(ours.agg_tps)} tok/s (TBT p50 ${fmt(ours.tbt_p50_ms)} ms, ${ours.chunks}/${ours.tokens} chunks/tokens), peer ${fmt(theirs.agg_tps)} tok/s (TBT p50 ${fmt(theirs.tbt_p50_ms)} ms)  load ${load()[0]}`);
  }
  await peerModel.dispose();

  const one = runs.find((r) => r.streams === 1);
  const at8 = runs.find((r) => r.streams === 8);
  const rows = runs.map(({ streams: S, ours, peer: p }) => [
    String(S), ours.agg_tps, p.agg_tps, ratio(ours.agg_tps, p.agg_tps), ours.decode_agg_tps, p.decode_agg_tps, ours.ttft_p50_ms, p.ttft_p50_ms,
    `${fmt(ours.tbt_p50_ms)}/${fmt(ours.tbt_p99_ms)}`, `${fmt(p.tbt_p50_ms)}/${fmt(p.tbt_p99_ms)}`,
    one ? ratio(ours.agg_tps, one.ours.agg_tps) : '', one ? ratio(ours.tbt_p50_ms, one.ours.tbt_p50_ms) : '',
    one ? ratio(p.agg_tps, one.peer.agg_tps) : '',
  ]);
  console.log(`\n${name}: aggregate tok/s (wall, and decode = S x 1000 / TBT p50), TTFT p50 ms, TBT (gap between chunks) p50/p99 ms; scaling vs S=1`);
  console.log(table([['S', 3], ['ours t/s', 9], ['peer t/s', 9], ['ratio', 6], ['ours dec', 8], ['peer dec', 8], ['TTFT ours', 9], ['TTFT peer', 9], ['TBT ours', 13], ['TBT peer', 13], ['agg xS1', 7], ['TBT xS1', 7], ['peer xS1', 8]], rows));
  // The issue's goals; null where the run lacks S=1 or S=8.
  const goals = {
    agg8_ge_4x_single: one && at8 ? at8.ours.agg_tps >= 4 * one.ours.agg_tps : null,
    tbt8_le_2x_single: one && at8 ? at8.ours.tbt_p50_ms <= 2 * one.ours.tbt_p50_ms : null,
    agg8_ge_peer: at8 ? at8.ours.agg_tps >= at8.peer.agg_tps : null,
  };
  const mark = (v) => (v === null ? 'n/a' : v ? 'yes' : 'NO');
  console.log(`goals: 8 streams >= 4x single-stream aggregate: ${mark(goals.agg8_ge_4x_single)}` +
    (one && at8 ? ` (${fmt(at8.ours.agg_tps / one.ours.agg_tps)}x)` : '') +
    `; TBT p50 at 8 <= 2x single: ${mark(goals.tbt8_le_2x_single)}` +
    (one && at8 ? ` (${fmt(at8.ours.tbt_p50_ms / one.ours.tbt_p50_ms)}x)` : '') +
    `; ours >= peer at 8: ${mark(goals.agg8_ge_peer)}` + (at8 ? ` (${fmt(at8.ours.agg_tps / at8.peer.agg_tps)}x)` : ''));
  results.push({ model: name, file, prompt_tokens: prompts.slice(0, Math.max(...STREAMS)).map((p) => p.length), goals, runs });
}

console.log(`\nload average ${load().join(' ')} (numbers taken on a busy machine are noisy: rerun on a quiet one)`);
writeResults(values.out ?? 'serve.json', {
  peer: PEER,
  peer_cpu_features: llama.systemInfo.trim(),
  settings: { streams: STREAMS, tokens: TOKENS, context_per_stream: CTX, threads: THREADS, endpoint: '/v1/completions (token-id prompt, stream, include_usage)', sampling: 'greedy; EOG banned on ours (logit_bias -100), not bannable on the peer', tbt: 'gaps between text chunks (ours) / tokens (peer), pooled over streams' },
  results,
});
