// The quant kernels of the WebAssembly SIMD build, under Node: every quant fixture
// (<fixtures>/quants, found by listing it) through llmplayer-core's quant::check::check_fixture,
// and every type's selected (simd128) kernels against the scalar ones on random data through
// quant::check::check_fast_vs_scalar: the same Rust code the native tests run
// (crates/llmplayer-core/tests/quants.rs, src/quant/tests.rs), compiled for wasm32 +simd128 into
// the test-only module wasm-check/llmplayer_wasm_check.wasm (crates/llmplayer-wasm-check, built
// by scripts/build-wasm.sh; not part of the npm package).
// A missing module fails under CI=true (setup builds it) and skips the suite otherwise.
import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixturesRoot, listFixtures } from './helpers/fixtures.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const WASM = join(REPO, 'wasm-check', 'llmplayer_wasm_check.wasm');
const CI = process.env.CI === 'true';
const built = existsSync(WASM);
if (!built && !CI) {
  console.warn(`skipping quant-wasm tests: ${WASM} not found (run scripts/build-wasm.sh)`);
}

/** The module's plain extern "C" exports (crates/llmplayer-wasm-check/src/lib.rs). */
interface CheckExports {
  memory: WebAssembly.Memory;
  alloc(len: number): number;
  free(ptr: number, len: number): void;
  check_fixture(ptr: number, len: number): number;
  check_random(typeId: number, seed: number): number;
  type_info(typeId: number): number;
  message_ptr(): number;
  message_len(): number;
  simd_enabled(): number;
  backend(): number;
  kernel_type_count(): number;
  kernel_type_id(i: number): number;
}

interface TypeInfo {
  type: string;
  id: number;
  vec_dot_type: string;
  backend: string;
  x4: boolean;
  fast_quantizer: boolean;
}

interface FixtureReport {
  type: string;
  vec_dot_type: string;
  rows: number;
  cols: number;
  batch: number;
  backend: string;
  x4: boolean;
  fast_quantizer: boolean;
  negative_zeros: number;
  dots_checked: number;
  max_rel_err: number;
}

interface RandomReport {
  type: string;
  backend: string;
  x4: boolean;
  dots_checked: number;
  quantized_rows_checked: number;
  max_rel_err: number;
}

// Types whose simd128 kernels must be selected in this build (a floor: more is fine).
/** `vec_dot` in simd128: every weight type with a fixture. */
const SIMD128_VEC_DOT = [
  'F32', 'F16', 'BF16', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'Q1_0', 'Q2_0',
  'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K', 'IQ2_XXS', 'IQ2_XS', 'IQ2_S', 'IQ3_XXS', 'IQ3_S',
  'IQ1_S', 'IQ1_M', 'IQ4_NL', 'IQ4_XS', 'MXFP4', 'NVFP4', 'TQ1_0', 'TQ2_0',
];
/** The 1x4 mat-mat micro-kernel `vec_dot_x4`. */
const SIMD128_X4 = [
  'Q8_0', 'Q4_0', 'Q5_0', 'IQ4_NL', 'Q4_1', 'Q5_1', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K', 'IQ4_XS',
  'IQ2_XXS', 'IQ2_XS', 'IQ2_S', 'IQ3_XXS', 'IQ3_S', 'IQ1_S', 'IQ1_M', 'TQ1_0', 'TQ2_0',
];
/** SIMD activation quantizers. */
const SIMD128_QUANTIZERS = ['Q8_0', 'Q8_K'];
/** Activation-only types: they have kernels but no fixture. */
const ACTIVATION_ONLY = ['Q8_1', 'Q8_K'];
const SEEDS = [1, 2, 3, 0x9e3779b9];
const BACKENDS = ['scalar', 'avx2', 'simd128'];

const module = built ? await WebAssembly.compile(readFileSync(WASM)) : null;

/** One instance, replaced after a trap (a Rust panic aborts; its message survives in memory). */
class Checker {
  private ex: CheckExports | null = null;

  private exports(): CheckExports {
    if (this.ex === null) {
      if (module === null) throw new Error(`${WASM} not found: run scripts/build-wasm.sh (scripts/setup.sh does)`);
      this.ex = new WebAssembly.Instance(module, {}).exports as unknown as CheckExports;
    }
    return this.ex;
  }

  private message(ex: CheckExports): string {
    return new TextDecoder().decode(new Uint8Array(ex.memory.buffer, ex.message_ptr(), ex.message_len()));
  }

  /** Runs one status-returning export: { status, message }; a trap throws with the panic message. */
  call(f: (ex: CheckExports) => number): { status: number; message: string } {
    const ex = this.exports();
    try {
      const status = f(ex);
      return { status, message: this.message(ex) };
    } catch (err) {
      const panic = this.message(ex);
      this.ex = null;
      throw new Error(`wasm trap: ${(err as Error).message}; ${panic}`);
    }
  }

  value(f: (ex: CheckExports) => number): number {
    return f(this.exports());
  }

  /** The fixture file's bytes copied into the module's memory, then check_fixture. */
  fixture(bytes: Uint8Array): { status: number; message: string } {
    return this.call((ex) => {
      const ptr = ex.alloc(bytes.length);
      new Uint8Array(ex.memory.buffer, ptr, bytes.length).set(bytes);
      try {
        return ex.check_fixture(ptr, bytes.length);
      } finally {
        ex.free(ptr, bytes.length);
      }
    });
  }
}

const checker = new Checker();

/** The kernel types of the module (empty when it is missing). */
function kernelTypes(): TypeInfo[] {
  if (module === null) return [];
  const n = checker.value((ex) => ex.kernel_type_count());
  return Array.from({ length: n }, (_, i) => {
    const id = checker.value((ex) => ex.kernel_type_id(i));
    const r = checker.call((ex) => ex.type_info(id));
    if (r.status !== 0) throw new Error(r.message);
    return JSON.parse(r.message) as TypeInfo;
  });
}

const types = kernelTypes();
const root = fixturesRoot();
const fixtures = listFixtures('quants', 'gguf');

describe.skipIf(!built && !CI)('quant kernels in the WASM SIMD build (wasm-check module)', () => {
  beforeAll(() => {
    if (!built) throw new Error(`${WASM} not found: run scripts/build-wasm.sh (scripts/setup.sh does)`);
  });

  it('was built with simd128 and selects the simd128 backend', () => {
    expect(checker.value((ex) => ex.simd_enabled())).toBe(1);
    expect(BACKENDS[checker.value((ex) => ex.backend())]).toBe('simd128');
  });

  it('selects the simd128 kernels of every type that has them', () => {
    const byName = new Map(types.map((t) => [t.type, t]));
    expect(types.length).toBeGreaterThanOrEqual(SIMD128_VEC_DOT.length + ACTIVATION_ONLY.length);
    for (const name of SIMD128_VEC_DOT) expect(byName.get(name)?.backend, name).toBe('simd128');
    for (const name of SIMD128_X4) expect(byName.get(name)?.x4, name).toBe(true);
    for (const name of SIMD128_QUANTIZERS) expect(byName.get(name)?.fast_quantizer, name).toBe(true);
    for (const t of types) expect(['scalar', 'simd128'], t.type).toContain(t.backend);
  });

  it('refuses unknown types and malformed fixture bytes without trapping', () => {
    expect(checker.call((ex) => ex.check_random(24, 1)).message).toMatch(/no kernels for I8/);
    expect(checker.call((ex) => ex.check_random(9999, 1)).status).toBe(1);
    const r = checker.fixture(new TextEncoder().encode('not a gguf file'));
    expect(r.status).toBe(1);
    expect(r.message).toMatch(/not a GGUF file/);
  });

  describe('fast vs scalar on random data', () => {
    for (const t of types) {
      it(`${t.type} (${t.backend}${t.x4 ? ' + x4' : ''}), seeds ${SEEDS.join(', ')}`, () => {
        for (const seed of SEEDS) {
          const r = checker.call((ex) => ex.check_random(t.id, seed));
          expect(r.status, r.message).toBe(0);
          const report = JSON.parse(r.message) as RandomReport;
          expect(report.type).toBe(t.type);
          expect(report.dots_checked).toBeGreaterThan(0);
          expect(report.quantized_rows_checked > 0).toBe(t.type === 'F32' || t.type === 'F16' || t.type === 'BF16' || /^Q8_/.test(t.type));
        }
      });
    }
  });

  describe.skipIf(root === null)('golden fixtures (<fixtures>/quants)', () => {
    const reports = new Map<string, FixtureReport>();

    it('finds the quant fixtures', () => expect(fixtures.length).toBeGreaterThan(0));

    for (const file of fixtures) {
      const name = basename(file);
      it(name, () => {
        const r = checker.fixture(readFileSync(file));
        expect(r.status, r.message).toBe(0);
        const report = JSON.parse(r.message) as FixtureReport;
        expect(name).toBe(`quant-${report.type.toLowerCase()}.gguf`);
        expect(report.dots_checked).toBeGreaterThan(0);
        if (SIMD128_VEC_DOT.includes(report.type)) expect(report.backend).toBe('simd128');
        reports.set(report.type, report);
      });
    }

    it('has a passing fixture for every weight type with kernels', () => {
      const missing = types.map((t) => t.type).filter((n) => !ACTIVATION_ONLY.includes(n) && !reports.has(n));
      expect(missing).toEqual([]);
      // The README's -0.0 types: the bit-exact comparison saw them.
      for (const n of ['Q4_0', 'Q5_0', 'Q3_K', 'Q6_K', 'IQ4_XS']) expect(reports.get(n)?.negative_zeros, n).toBeGreaterThan(0);
    });
  });
});
