// Kernel benchmark, native and WASM side by side: mat-vec GB/s (weight bytes, the decode
// bound) and mat-mat GFLOP/s (batch 64, prefill) per quant type, single thread.
//
//   npm run bench:kernels [-- --quick] [-- TYPE ...] [-- --no-native]
//
// Native: the core's example `bench_kernels` (1 and 2 threads; writes
// bench/results/kernels-native.json). WASM: bench/wasm-kernels, a separate wasm32 + simd128
// build of the same calls on the same matrices, run here under Node (the production module
// carries no benchmark code). Writes bench/results/kernels.json with WASM / native (1 thread).
// No peer runs here: llama.cpp's kernels are compared through `npm run bench`.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { args, cargoTarget, fixtures, load, printHeader, ratio, repo, resultsDir, table, writeResults } from './lib.mjs';

const { flags, positional: picked } = args();
const quick = flags.has('--quick');
const budget = quick ? 150 : 400; // as the native example

printHeader('kernel benchmark: llmplayer native (AVX2, AVX-512 VNNI mat-mat where available) vs WASM SIMD128 under Node, 1 thread');

function run(cmd, cmdArgs, env = {}) {
  execFileSync(cmd, cmdArgs, { cwd: repo, stdio: 'inherit', env: { ...process.env, ...env } });
}

// ---- native -------------------------------------------------------------------------------
// LLMPLAYER_X86=avx2: the AVX2 kernels only (the example then writes kernels-native-avx2.json).
const nativeJson = join(resultsDir, process.env.LLMPLAYER_X86 === 'avx2' ? 'kernels-native-avx2.json' : 'kernels-native.json');
if (!flags.has('--no-native')) {
  run('cargo', ['build', '--release', '-q', '-p', 'llmplayer-core', '--example', 'bench_kernels'], { CARGO_TARGET_DIR: cargoTarget });
  console.log(`\n-- native (load ${load().join(' ')})`);
  run(join(cargoTarget, 'release', 'examples', 'bench_kernels'), [...(quick ? ['--quick'] : []), ...picked]);
}
if (!existsSync(nativeJson)) throw new Error(`${nativeJson} is missing: run without --no-native`);
const native = JSON.parse(readFileSync(nativeJson, 'utf8'));

// ---- WASM ---------------------------------------------------------------------------------
/** Builds bench/wasm-kernels with scripts/build-wasm.sh's toolchain recipe. */
function buildWasm() {
  const dir = join(repo, 'bench', 'wasm-kernels');
  const target = join(cargoTarget, 'bench-wasm-kernels');
  const flagsSimd = '-Ctarget-feature=+simd128';
  let rustup = '';
  try {
    rustup = execFileSync('rustup', ['target', 'list', '--installed'], { encoding: 'utf8' });
  } catch {}
  const manifest = ['--manifest-path', join(dir, 'Cargo.toml'), '--release', '-q', '--target', 'wasm32-unknown-unknown'];
  if (rustup.split('\n').includes('wasm32-unknown-unknown')) {
    run('cargo', ['build', ...manifest], { CARGO_TARGET_DIR: target, RUSTFLAGS: flagsSimd });
  } else if (existsSync('/usr/bin/cargo') && existsSync('/usr/bin/rustc')) {
    run('/usr/bin/cargo', ['build', ...manifest, '-Zbuild-std=std,panic_abort'], {
      CARGO_TARGET_DIR: target,
      RUSTC: '/usr/bin/rustc',
      RUSTC_BOOTSTRAP: '1',
      RUSTFLAGS: `${flagsSimd} -Clinker=wasm-ld-19`,
    });
  } else {
    throw new Error('no wasm32 toolchain (rustup target or Debian rustc-web + lld-19): run scripts/setup.sh');
  }
  return join(target, 'wasm32-unknown-unknown', 'release', 'llmplayer_bench_wasm_kernels.wasm');
}

function bestTime(fn) {
  fn();
  const start = performance.now();
  let best = Infinity;
  for (let reps = 0; reps < 3 || (performance.now() - start < budget && reps < 50); reps++) {
    const t = performance.now();
    fn();
    best = Math.min(best, performance.now() - t);
  }
  return best / 1e3;
}

const wasmPath = buildWasm();
const { instance } = await WebAssembly.instantiate(readFileSync(wasmPath));
const w = instance.exports;
const utf8 = new TextDecoder();

function put(bytes) {
  const p = w.alloc(bytes.length);
  new Uint8Array(w.memory.buffer, p, bytes.length).set(bytes);
  return p;
}

console.log(`\n-- wasm (${wasmPath}; load ${load().join(' ')})`);
const types = native.types.map((t) => t.type).filter((t) => !picked.length || picked.includes(t));
const rows = [];
const out = [];
for (const type of types) {
  const nat = native.types.find((t) => t.type === type);
  const gguf = readFileSync(join(fixtures, 'quants', `quant-${type.toLowerCase()}.gguf`));
  const name = Buffer.from(type);
  const np = put(name);
  const gp = put(gguf);
  const { cols, weight_bytes_target } = native.matvec;
  const { rows: mmRows, batch } = native.matmul;
  const bytes = w.setup(np, name.length, gp, gguf.length, cols, weight_bytes_target, mmRows, batch);
  w.dealloc(np, name.length);
  w.dealloc(gp, gguf.length);
  if (!bytes) throw new Error(`wasm setup failed for ${type}`);
  const len = w.kernel_name();
  const kernel = utf8.decode(new Uint8Array(w.memory.buffer, w.text_ptr(), len));
  const mvGbs = bytes / bestTime(() => w.matvec()) / 1e9;
  const mmGflops = (2 * mmRows * cols * batch) / bestTime(() => w.matmul()) / 1e9;
  const r = {
    type,
    native: { kernel: nat.kernel, mat_mat_kernel: nat.mat_mat_kernel, matvec_gbs: nat.matvec_gbs['1'], matmul_gflops: nat.matmul_gflops['1'] },
    wasm: { kernel, matvec_gbs: Number(mvGbs.toFixed(2)), matmul_gflops: Number(mmGflops.toFixed(2)) },
  };
  r.wasm_over_native = { matvec: ratio(mvGbs, nat.matvec_gbs['1']), matmul: ratio(mmGflops, nat.matmul_gflops['1']) };
  out.push(r);
  rows.push([
    type, `${nat.kernel}/${nat.mat_mat_kernel}`, kernel,
    nat.matvec_gbs['1'], mvGbs, r.wasm_over_native.matvec,
    nat.matmul_gflops['1'], mmGflops, r.wasm_over_native.matmul,
    r.wasm_over_native.matvec >= 0.4 && r.wasm_over_native.matmul >= 0.4 ? '' : '< 40%',
  ]);
  console.log(`  ${type.padEnd(8)} ${kernel.padEnd(8)} mv ${mvGbs.toFixed(2)} GB/s, mm ${mmGflops.toFixed(2)} GFLOP/s (load ${load()[0]})`);
}

console.log();
console.log(
  table(
    [['type', 8, 'l'], ['native', 12, 'l'], ['wasm', 7, 'l'], ['mv nat', 7], ['mv wasm', 7], ['wasm/n', 6], ['mm nat', 7], ['mm wasm', 7], ['wasm/n', 6], ['', 6, 'l']],
    rows,
  ),
);
const { cols, weight_bytes_target } = native.matvec;
console.log(
  `mv = mat-vec GB/s of weights (${cols} cols, ~${weight_bytes_target >> 20} MiB); ` +
    `mm = mat-mat GFLOP/s (${native.matmul.rows}x${cols} by ${cols}x${native.matmul.batch}); 1 thread each`,
);
console.log(`goal: WASM >= 40% of native; native memory read bandwidth 1 thread ${native.read_bandwidth_gbs['1']} GB/s; load average ${load().join(' ')}`);
writeResults('kernels.json', {
  native_backend: native.backend,
  read_bandwidth_gbs: native.read_bandwidth_gbs,
  matvec: native.matvec,
  matmul: native.matmul,
  threads: 1,
  types: out,
});
