//! The selected (SIMD) kernels against the scalar oracle on random data.
//!
//! Weight rows are random bytes with their scale fields overwritten by sane values, so every
//! bit pattern of the quants is exercised; activations are random floats converted by the
//! scalar quantizer.

use super::float::{f32_to_bf16, f32_to_f16};
use super::{row_bytes, traits};
use crate::ggml_type::TYPE_TABLE;
use crate::GgmlType;

/// xorshift64*: tiny, deterministic.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in [-1, 1).
    pub(crate) fn f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    pub(crate) fn fill(&mut self, b: &mut [u8]) {
        for x in b {
            *x = self.next_u64() as u8;
        }
    }
}

fn put_f16(b: &mut [u8], off: usize, v: f32) {
    b[off..off + 2].copy_from_slice(&f32_to_f16(v).to_le_bytes());
}

/// One random, finite block of `ty`: random quant bytes, scale fields set to small values.
pub(crate) fn random_block(ty: GgmlType, rng: &mut Rng) -> Vec<u8> {
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
        TQ1_0 => {
            // Base-3 bytes hold at most 3^5 - 1 (or 3^4 - 1) trits' worth, scaled to 256.
            put_f16(&mut b, 52, scale())
        }
        TQ2_0 => put_f16(&mut b, 64, scale()),
        IQ1_M => {
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
        NVFP4 => {}
        I8 | I16 | I32 | I64 | F64 => unreachable!(),
    }
    b
}

fn random_row(ty: GgmlType, n: usize, rng: &mut Rng) -> Vec<u8> {
    (0..n / ty.block_size() as usize).flat_map(|_| random_block(ty, rng)).collect()
}

fn random_acts(ty: GgmlType, n: usize, rng: &mut Rng) -> (Vec<f32>, Vec<u8>) {
    let x: Vec<f32> = (0..n).map(|_| rng.f32() * 3.0).collect();
    let mut q = vec![0u8; row_bytes(ty, n)];
    (traits(ty).unwrap().quantize_row_scalar.unwrap())(&x, &mut q);
    (x, q)
}

fn dequant(ty: GgmlType, b: &[u8], n: usize) -> Vec<f32> {
    let mut y = vec![0.0; n];
    (traits(ty).unwrap().dequantize_row)(b, &mut y);
    y
}

#[test]
fn selected_vec_dot_matches_scalar_on_random_rows() {
    let mut rng = Rng::new(42);
    for info in TYPE_TABLE {
        let Some(t) = traits(info.ty) else { continue };
        // 256 is a multiple of every block size; up to a 4096-element row.
        for n in [256usize, 768, 4096] {
            for _ in 0..4 {
                let w = random_row(t.ty, n, &mut rng);
                let (_, a) = random_acts(t.vec_dot_type, n, &mut rng);
                let fast = (t.vec_dot)(n, &w, &a);
                let slow = (t.vec_dot_scalar)(n, &w, &a);
                let (wd, ad) = (dequant(t.ty, &w, n), dequant(t.vec_dot_type, &a, n));
                let scale: f64 = wd.iter().zip(&ad).map(|(p, q)| (*p as f64 * *q as f64).abs()).sum();
                let exact: f64 = wd.iter().zip(&ad).map(|(p, q)| *p as f64 * *q as f64).sum();
                let tol = 2e-5 * scale + 1e-30;
                assert!(
                    ((fast - slow) as f64).abs() <= tol,
                    "{} n={n} ({:?}): fast {fast} scalar {slow} (scale {scale:e})",
                    t.ty,
                    t.vec_dot_backend
                );
                assert!(((slow as f64) - exact).abs() <= tol, "{} n={n}: scalar {slow} exact {exact}", t.ty);
            }
        }
    }
}

#[test]
fn x4_kernels_match_four_scalar_dots() {
    let mut rng = Rng::new(11);
    for info in TYPE_TABLE {
        let Some(t) = traits(info.ty) else { continue };
        let Some(x4) = t.vec_dot_x4 else { continue };
        for n in [256usize, 4096] {
            let w = random_row(t.ty, n, &mut rng);
            let acts: Vec<Vec<u8>> = (0..4).map(|_| random_acts(t.vec_dot_type, n, &mut rng).1).collect();
            let got = x4(n, &w, [&acts[0], &acts[1], &acts[2], &acts[3]]);
            for (k, a) in acts.iter().enumerate() {
                let want = (t.vec_dot_scalar)(n, &w, a);
                let (wd, ad) = (dequant(t.ty, &w, n), dequant(t.vec_dot_type, a, n));
                let scale: f64 = wd.iter().zip(&ad).map(|(p, q)| (*p as f64 * *q as f64).abs()).sum();
                assert!(((got[k] - want) as f64).abs() <= 2e-5 * scale, "{} n={n} row {k}: x4 {} scalar {want}", t.ty, got[k]);
            }
        }
    }
}

#[test]
fn selected_quantizers_match_scalar_bytes() {
    let mut rng = Rng::new(7);
    for ty in [GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q8_1, GgmlType::Q8_K] {
        let t = traits(ty).unwrap();
        for n in [256usize, 1024, 4096] {
            for case in 0..6 {
                let mut x: Vec<f32> = (0..n).map(|_| rng.f32() * 10f32.powi(case - 3)).collect();
                if case == 0 {
                    // Exact ties for the rounding rules: multiples of amax/254.
                    for (i, v) in x.iter_mut().enumerate() {
                        *v = ((i % 255) as f32 - 127.0) * 0.5;
                    }
                }
                if case == 1 {
                    x[..256].fill(0.0); // all-zero blocks
                }
                let mut fast = vec![0u8; row_bytes(ty, n)];
                let mut slow = vec![0u8; row_bytes(ty, n)];
                (t.quantize_row.unwrap())(&x, &mut fast);
                (t.quantize_row_scalar.unwrap())(&x, &mut slow);
                assert!(fast == slow, "{ty} n={n} case {case}: SIMD quantizer differs from scalar");
            }
        }
    }
}

#[test]
fn dequantize_rows_are_finite_on_random_blocks() {
    let mut rng = Rng::new(3);
    for info in TYPE_TABLE {
        let Some(t) = traits(info.ty) else { continue };
        let n = t.block_size * 8;
        let w = random_row(t.ty, n, &mut rng);
        assert!(dequant(t.ty, &w, n).iter().all(|v| v.is_finite()), "{}", t.ty);
    }
}
