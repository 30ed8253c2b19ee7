//! [`check_fast_vs_scalar`]: the selected kernels of one type against the scalar oracle on
//! random data (see the module docs of `check`).

use crate::quant::float::{f32_to_bf16, f32_to_f16};
use crate::quant::{matmul_q, row_bytes, traits, QuantTraits, QuantizedActs};
use crate::GgmlType;
use super::exact::{bitwise_mismatch, float_dot, float_held, held_bitwise, mat_mat_batched, Path};
use super::{abs_dot, dequant, has_fast_quantizer, kernels, within, Failures, RandomReport, FAST_VS_SCALAR_TOL};

/// xorshift64*: tiny, deterministic.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in [-1, 1).
    fn f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    fn fill(&mut self, b: &mut [u8]) {
        for x in b {
            *x = self.next_u64() as u8;
        }
    }
}

fn put_f16(b: &mut [u8], off: usize, v: f32) {
    b[off..off + 2].copy_from_slice(&f32_to_f16(v).to_le_bytes());
}

/// One random, finite block of `ty`: random quant bytes, scale fields set to small values.
/// `ty` must have kernels.
fn random_block(ty: GgmlType, rng: &mut Rng) -> Vec<u8> {
    use GgmlType::*;
    let mut b = vec![0u8; ty.type_size() as usize];
    rng.fill(&mut b);
    let mut scale = || 0.01 + 0.02 * rng.f32().abs();
    match ty {
        F32 => b.copy_from_slice(&rng.f32().to_le_bytes()),
        F16 => b.copy_from_slice(&f32_to_f16(rng.f32()).to_le_bytes()),
        BF16 => b.copy_from_slice(&f32_to_bf16(rng.f32()).to_le_bytes()),
        Q4_0 | Q5_0 | Q8_0 | IQ4_NL | Q1_0 | Q2_0 | IQ2_XXS | IQ2_XS | IQ2_S | IQ3_XXS | IQ3_S | IQ1_S | IQ4_XS => {
            put_f16(&mut b, 0, scale())
        }
        Q4_1 | Q5_1 | Q4_K | Q5_K => {
            put_f16(&mut b, 0, scale());
            put_f16(&mut b, 2, scale());
        }
        Q2_K => {
            put_f16(&mut b, 80, scale());
            put_f16(&mut b, 82, scale());
        }
        Q3_K => put_f16(&mut b, 108, scale()),
        Q6_K => put_f16(&mut b, 208, scale()),
        TQ1_0 => put_f16(&mut b, 52, scale()),
        TQ2_0 => put_f16(&mut b, 64, scale()),
        IQ1_M => {
            // The f16 scale is spread over the high nibbles of the four scale words.
            let h = f32_to_f16(scale());
            for k in 0..4 {
                b[48 + 2 * k + 1] = (b[48 + 2 * k + 1] & 0x0f) | ((((h >> (4 * k)) & 0xf) as u8) << 4);
            }
        }
        MXFP4 => b[0] = 110 + (rng.next_u64() % 24) as u8,
        Q8_1 => {
            put_f16(&mut b, 0, scale());
            put_f16(&mut b, 2, scale());
        }
        Q8_K => {
            let d = scale();
            b[..4].copy_from_slice(&d.to_le_bytes());
        }
        // UE4M3 scale bytes: every pattern decodes to a finite value (0x7f reads as 0).
        NVFP4 => {}
        I8 | I16 | I32 | I64 | F64 => unreachable!("{ty} has no kernels"),
    }
    b
}

fn random_row(ty: GgmlType, n: usize, rng: &mut Rng) -> Vec<u8> {
    (0..n / ty.block_size() as usize).flat_map(|_| random_block(ty, rng)).collect()
}

/// Random f32 activations shaped like real hidden states: mostly small, with a few outliers
/// 50-100x the rest (real models' massive activations; uniform data never makes a block's
/// scale come from one element while the others round to a few levels).
fn hidden_states(n: usize, rng: &mut Rng) -> Vec<f32> {
    let mut x: Vec<f32> = (0..n).map(|_| rng.f32()).collect();
    for _ in 0..n.div_ceil(97) {
        let i = (rng.next_u64() % n as u64) as usize;
        x[i] = (50.0 + 50.0 * rng.f32().abs()) * if rng.f32() < 0.0 { -1.0 } else { 1.0 };
    }
    x
}

/// Random activations converted by the scalar quantizer of `ty`: uniform, or with outliers
/// ([`hidden_states`]) when `outliers`.
fn random_acts_with(ty: GgmlType, n: usize, rng: &mut Rng, outliers: bool) -> Vec<u8> {
    let x: Vec<f32> = if outliers { hidden_states(n, rng) } else { (0..n).map(|_| rng.f32() * 3.0).collect() };
    let mut q = vec![0u8; row_bytes(ty, n)];
    (traits(ty).unwrap().quantize_row_scalar.unwrap())(&x, &mut q);
    q
}

fn random_acts(ty: GgmlType, n: usize, rng: &mut Rng) -> Vec<u8> {
    random_acts_with(ty, n, rng, false)
}

/// Q4_1 / Q5_1: against Q8_1 activations a weight block's min `m` meets the block sum `s = d * sum(q)`
/// stored as f16 (ggml's format), not the exact sum: `sum_b m_b * (s_b - d_b * sum(q_b))`,
/// the part of the dot product that an f64 product of the dequantized rows leaves out.
/// Outliers make it visible (a block's `s` is large). 0 for other activation types.
fn q8_1_s_rounding(t: &QuantTraits, w: &[u8], a: &[u8], n: usize) -> f64 {
    if !matches!(t.ty, GgmlType::Q4_1 | GgmlType::Q5_1) {
        return 0.0;
    }
    let f16 = |b: &[u8], at: usize| crate::quant::float::f16_to_f32(u16::from_le_bytes([b[at], b[at + 1]])) as f64;
    let wb = t.type_size;
    (0..n / 32)
        .map(|i| {
            let (wk, ak) = (&w[i * wb..], &a[i * 36..]);
            let sum_q: i32 = ak[4..36].iter().map(|&q| q as i8 as i32).sum();
            f16(wk, 2) * (f16(ak, 2) - f16(ak, 0) * sum_q as f64)
        })
        .sum()
}

/// Comparisons of selected kernels with the scalar oracle.
struct RandomChecker {
    fails: Failures,
    max_rel_err: f64,
    dots_checked: usize,
}

impl RandomChecker {
    /// `fast` against `scalar` for weight row `w` and activation row `a`.
    #[allow(clippy::too_many_arguments)]
    fn dot(&mut self, t: &QuantTraits, what: &str, n: usize, w: &[u8], a: &[u8], fast: f32, scalar: f32) {
        let (wd, ad) = (dequant(t.ty, w, n), dequant(t.vec_dot_type, a, n));
        let scale = abs_dot(&wd, &ad);
        let tol = FAST_VS_SCALAR_TOL * scale + 1e-30;
        let diff = ((fast - scalar) as f64).abs();
        self.dots_checked += 1;
        if scale > 0.0 {
            self.max_rel_err = self.max_rel_err.max(diff / scale);
        }
        if !within(diff, tol) {
            self.fails.push(format!("{what} n={n}: fast {fast} scalar {scalar} (scale {scale:e})"));
        }
    }

    /// `got` against `check::ggml_dot` bit for bit where the build's kernels are held to it
    /// (`batched`: llama.cpp's batch path rather than its one-token one).
    #[allow(clippy::too_many_arguments)]
    fn exact(&mut self, t: &QuantTraits, path: Path, what: &str, n: usize, w: &[u8], a: &[u8], batched: bool, got: f32) {
        if held_bitwise(t, path) {
            if let Some(m) = bitwise_mismatch(t.ty, n, w, a, batched, got) {
                self.fails.push(format!("{what} n={n} (bit for bit): {m}"));
            }
        }
        if float_held(t) {
            let want = float_dot(t.ty, n, w, a).unwrap();
            if got.to_bits() != want.to_bits() {
                self.fails.push(format!("{what} n={n} (bit for bit): got {got:e}, AVX2 order {want:e}"));
            }
        }
    }
}

/// Checks the selected kernels of `ty` against the scalar ones on random data from `seed`
/// (see the module docs): `vec_dot` (and the scalar `vec_dot` against the exact f64 product),
/// `vec_dot_x4`, mat-mat through [`QuantizedActs`] (x4 groups, tails, row ranges), the
/// selected quantizer byte for byte (activation types), and finite dequantization.
/// `Err` for a type without kernels.
pub fn check_fast_vs_scalar(ty: GgmlType, seed: u64) -> Result<RandomReport, String> {
    let t = kernels(ty)?;
    let mut rng = Rng::new(seed ^ ((ty.id() as u64) << 40));
    let mut c = RandomChecker { fails: Failures::new(), max_rel_err: 0.0, dots_checked: 0 };
    let backend = t.vec_dot_isa.name();

    // Single dot products; 256 is a multiple of every block size. 7 blocks (of the weight or
    // activation type, whichever is larger): an odd count, for the kernels that take blocks in
    // pairs and end with a scalar block (IQ4_NL, MXFP4), as ggml does.
    let odd = 7 * t.block_size.max(kernels(t.vec_dot_type)?.block_size);
    let sizes: &[usize] = if float_held(t) { &[256, 768, 4096, 8, 24, 45, 100] } else { &[256, 768, 4096, odd] };
    for &n in sizes {
        for k in 0..6 {
            let w = random_row(ty, n, &mut rng);
            let a = random_acts_with(t.vec_dot_type, n, &mut rng, k >= 4);
            let fast = (t.vec_dot)(n, &w, &a);
            let slow = (t.vec_dot_scalar)(n, &w, &a);
            c.dot(t, &format!("vec_dot ({backend})"), n, &w, &a, fast, slow);
            c.exact(t, Path::VecDot, &format!("vec_dot ({backend})"), n, &w, &a, false, fast);
            let (wd, ad) = (dequant(ty, &w, n), dequant(t.vec_dot_type, &a, n));
            let exact: f64 = wd.iter().zip(&ad).map(|(p, q)| *p as f64 * *q as f64).sum::<f64>() + q8_1_s_rounding(t, &w, &a, n);
            let tol = FAST_VS_SCALAR_TOL * abs_dot(&wd, &ad) + 1e-30;
            if !within(((slow as f64) - exact).abs(), tol) {
                c.fails.push(format!("vec_dot_scalar n={n}: {slow}, exact {exact}"));
            }
        }
    }

    // An FMA whose f64 sum lies exactly on an f32 midpoint without being exact (the case an
    // emulation through f64 must settle): acc = 1 + 2^-23, then + 2^-24 (1 + 2^-23)(1 - 2^-23)
    // = 2^-24 - 2^-70, just below the midpoint, so the FMA keeps 1 + 2^-23 where rounding the
    // f64 sum (1 + 2^-23 + 2^-24, ties to even) would give 1 + 2^-22.
    if ty == GgmlType::F32 && float_held(t) {
        let (mut x, mut y) = (vec![0f32; 64], vec![0f32; 64]);
        (x[0], y[0]) = (1.0 + f32::EPSILON, 1.0);
        (x[32], y[32]) = ((1.0 + f32::EPSILON) / 16_777_216.0, 1.0 - f32::EPSILON);
        let bytes = |v: &[f32]| v.iter().flat_map(|f| f.to_le_bytes()).collect::<Vec<u8>>();
        let (xb, yb) = (bytes(&x), bytes(&y));
        let got = (t.vec_dot)(64, &xb, &yb);
        if got != 1.0 + f32::EPSILON || float_dot(ty, 64, &xb, &yb) != Some(got) {
            c.fails.push(format!("vec_dot ({backend}) on an inexact f32 midpoint: {got:e}, want {:e}", 1.0 + f32::EPSILON));
        }
    }

    // The x4 micro-kernel against four scalar dots.
    if let Some(x4) = t.vec_dot_x4 {
        for n in [256usize, 4096] {
            let w = random_row(ty, n, &mut rng);
            let acts: Vec<Vec<u8>> = (0..4).map(|k| random_acts_with(t.vec_dot_type, n, &mut rng, k >= 2)).collect();
            let got = x4(n, &w, [&acts[0], &acts[1], &acts[2], &acts[3]]);
            for (k, a) in acts.iter().enumerate() {
                let want = (t.vec_dot_scalar)(n, &w, a);
                c.dot(t, &format!("vec_dot_x4 ({backend}) act {k}"), n, &w, a, got[k], want);
                c.exact(t, Path::X4, &format!("vec_dot_x4 ({backend}) act {k}"), n, &w, a, true, got[k]);
            }
        }
    }

    // The 4x4 micro-kernel against sixteen scalar dots.
    if let Some(k44) = t.vec_dot_4x4 {
        let n = 1024;
        let w: Vec<Vec<u8>> = (0..4).map(|_| random_row(ty, n, &mut rng)).collect();
        let acts: Vec<Vec<u8>> = (0..4).map(|_| random_acts(t.vec_dot_type, n, &mut rng)).collect();
        let got = k44(n, [&w[0], &w[1], &w[2], &w[3]], [&acts[0], &acts[1], &acts[2], &acts[3]]);
        for (r, wr) in w.iter().enumerate() {
            for (k, a) in acts.iter().enumerate() {
                let want = (t.vec_dot_scalar)(n, wr, a);
                c.dot(t, &format!("vec_dot_4x4 ({backend}) row {r} act {k}"), n, wr, a, got[r][k], want);
                c.exact(t, Path::Tile4x4, &format!("vec_dot_4x4 ({backend}) row {r} act {k}"), n, wr, a, true, got[r][k]);
            }
        }
    }

    // Mat-mat through the selected quantizer: token tiles, 4x4 and x4 groups and their tails,
    // panels (16 rows, batches from 10 up) and row ranges; each output against the scalar dot
    // on the same converted activations.
    let (rows, cols) = (39usize, 512usize);
    let wrb = row_bytes(ty, cols);
    let w: Vec<u8> = (0..rows).flat_map(|_| random_row(ty, cols, &mut rng)).collect();
    for (case, batch) in [1usize, 4, 5, 11, 16, 19, 40, 1, 12, 40].into_iter().enumerate() {
        let x: Vec<f32> = if case >= 7 { hidden_states(batch * cols, &mut rng) } else { (0..batch * cols).map(|_| rng.f32() * 3.0).collect() };
        let mut acts = QuantizedActs::new();
        acts.quantize_for(ty, &x, cols);
        let mut out = vec![f32::NAN; batch * rows];
        matmul_q(&w, ty, rows, cols, &acts, 0..3, &mut out);
        matmul_q(&w, ty, rows, cols, &acts, 3..rows, &mut out);
        for j in 0..batch {
            for r in 0..rows {
                let wr = &w[r * wrb..(r + 1) * wrb];
                let want = (t.vec_dot_scalar)(cols, wr, acts.row(j));
                c.dot(
                    t,
                    &format!("matmul_q batch {batch} act {j} row {r}"),
                    cols,
                    wr,
                    acts.row(j),
                    out[j * rows + r],
                    want,
                );
                let what = format!("matmul_q batch {batch} act {j} row {r}");
                c.exact(t, Path::MatMul, &what, cols, wr, acts.row(j), mat_mat_batched(ty, j, batch), out[j * rows + r]);
            }
        }
    }

    // Activation quantizers: selected against scalar, byte for byte.
    let mut quantized_rows_checked = 0;
    if let (Some(fast), Some(scalar)) = (t.quantize_row, t.quantize_row_scalar) {
        for n in [256usize, 1024, 4096] {
            for case in 0..7 {
                let mut x: Vec<f32> = if case == 6 { hidden_states(n, &mut rng) } else { (0..n).map(|_| rng.f32() * 10f32.powi(case - 3)).collect() };
                if case == 0 {
                    // Exact ties for the rounding rules: multiples of amax/254.
                    for (i, v) in x.iter_mut().enumerate() {
                        *v = ((i % 255) as f32 - 127.0) * 0.5;
                    }
                }
                if case == 1 {
                    x[..256].fill(0.0); // all-zero blocks
                }
                let mut a = vec![0u8; row_bytes(ty, n)];
                let mut b = vec![0u8; row_bytes(ty, n)];
                fast(&x, &mut a);
                scalar(&x, &mut b);
                quantized_rows_checked += 1;
                if a != b {
                    c.fails.push(format!("quantize_row n={n} case {case}: selected quantizer differs from scalar"));
                }
            }
        }
    }

    // Dequantization of random blocks stays finite.
    let n = t.block_size * 8;
    let w = random_row(ty, n, &mut rng);
    if let Some(v) = dequant(ty, &w, n).into_iter().find(|v| !v.is_finite()) {
        c.fails.push(format!("dequantize: non-finite {v} from a random block"));
    }

    let report = RandomReport {
        ty,
        backend: t.vec_dot_isa,
        has_x4: t.vec_dot_x4.is_some(),
        fast_quantizer: has_fast_quantizer(t),
        dots_checked: c.dots_checked,
        quantized_rows_checked,
        max_rel_err: c.max_rel_err,
    };
    c.fails.into_result(&format!("{ty} ({backend}) fast vs scalar, seed {seed}"), report)
}
