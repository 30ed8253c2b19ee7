// Shared helpers of the benchmark scripts: paths, the peer (node-llama-cpp), timing, tables,
// results JSON. Every script prints the load average: the numbers mean little on a busy machine.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repo = fileURLToPath(new URL('..', import.meta.url));
export const benchDir = join(repo, 'bench');
export const resultsDir = join(benchDir, 'results');
export const modelsDir = join(benchDir, 'models');
export const fixtures = process.env.LLMPLAYER_FIXTURES ?? join(repo, '..', 'shared', 'fixtures');
export const cargoTarget = process.env.CARGO_TARGET_DIR ?? join(repo, 'target');

/** Pinned peer version (bench/package.json). */
export const PEER = 'node-llama-cpp@3.21.1';

/** `--flag`, `--key=value`, and `--key value` for the keys in `valued`; the rest positional. */
export function args(valued = [], argv = process.argv.slice(2)) {
  const flags = new Set();
  const values = {};
  const positional = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) positional.push(a);
    else if (a.includes('=')) {
      const [k, v] = a.slice(2).split('=', 2);
      values[k] = v;
    } else if (valued.includes(a.slice(2)) && i + 1 < argv.length) values[a.slice(2)] = argv[++i];
    else flags.add(a);
  }
  return { flags, values, positional };
}

export function load() {
  return loadavg().map((x) => Number(x.toFixed(2)));
}

export function machine() {
  const c = cpus();
  return { cpu: c[0]?.model ?? 'unknown', cores: c.length, node: process.version, loadavg: load() };
}

export function printHeader(title) {
  const m = machine();
  console.log(`${title}`);
  console.log(`machine: ${m.cpu}, ${m.cores} cores, node ${m.node}; load average ${m.loadavg.join(' ')}`);
  if (m.loadavg[0] > m.cores * 0.5) {
    console.log(`warning: load average ${m.loadavg[0]} on ${m.cores} cores: other work is running, numbers are noisy`);
  }
}

/** The SDK as users get it (dist/), failing with the build command when it is missing. */
export async function sdk() {
  const entry = join(repo, 'dist', 'index.js');
  if (!existsSync(entry)) {
    throw new Error('dist/ is missing: run `npm run build:native && npm run build:wasm && npm run build:ts` first');
  }
  return import(entry);
}

let llamaPromise;
/** node-llama-cpp's prebuilt CPU binaries: no GPU, never a source build, nothing downloaded. */
export async function peer() {
  const entry = join(benchDir, 'node_modules', 'node-llama-cpp', 'dist', 'index.js');
  if (!existsSync(entry)) throw new Error(`${PEER} is not installed: run \`npm ci --prefix bench\` first`);
  llamaPromise ??= import(entry).then(async (m) => {
    const llama = await m.getLlama({
      gpu: false,
      build: 'never',
      progressLogs: false,
      logLevel: m.LlamaLogLevel.error,
      // A vocab-only load first tries (and fails) to size the weights: not an error here.
      logger: (level, message) => {
        if (!/missing tensor|failed to load model|Failed simulating/.test(message)) console.error(`[llama.cpp ${level}] ${message.trimEnd()}`);
      },
    });
    return { llama, mod: m };
  });
  return llamaPromise;
}

/** Best wall time (seconds) of `fn` over at least `min` runs, more while `budget` ms last. */
export async function bestTime(fn, { budget = 2000, min = 3, max = 100 } = {}) {
  await fn(); // warm-up
  const start = performance.now();
  let best = Infinity;
  for (let reps = 0; reps < min || (performance.now() - start < budget && reps < max); reps++) {
    const t = performance.now();
    await fn();
    best = Math.min(best, performance.now() - t);
  }
  return best / 1e3;
}

/** Fixed-width table: `cols` is [header, width, align?]; rows are arrays of cells. */
export function table(cols, rows) {
  const cell = (v, [, w, align]) => {
    const s = typeof v === 'number' ? fmt(v) : String(v ?? '');
    return align === 'l' ? s.padEnd(w) : s.padStart(w);
  };
  const lines = [cols.map((c) => cell(c[0], c)).join(' '), cols.map(([, w]) => '-'.repeat(w)).join(' ')];
  for (const r of rows) lines.push(r.map((v, i) => cell(v, cols[i])).join(' '));
  return lines.join('\n');
}

export function fmt(v) {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a >= 1000 ? v.toFixed(0) : a >= 100 ? v.toFixed(1) : a >= 10 ? v.toFixed(2) : v.toFixed(3);
}

export function ratio(a, b) {
  return a && b ? Number((a / b).toFixed(3)) : null;
}

export function writeResults(name, data) {
  mkdirSync(resultsDir, { recursive: true });
  const path = join(resultsDir, name);
  writeFileSync(path, JSON.stringify({ date: new Date().toISOString(), machine: machine(), ...data }, null, 2) + '\n');
  console.log(`wrote ${path}`);
  return path;
}
