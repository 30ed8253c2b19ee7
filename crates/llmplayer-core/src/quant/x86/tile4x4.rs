//! Mat-mat micro-kernels of four weight rows by four activation rows (`vec_dot_4x4`) for the
//! 32-element types against Q8_0: AVX-512 VNNI ones, selected with
//! [`super::vnni::available`], and AVX2 ones for the other CPUs.
//!
//! Why a 4×4 tile rather than the one-row `vec_dot_x4`: the per-block work of these types is
//! not the integer product (one `vpdpbusd` per 32 weights and token) but the float side — the
//! block's i32 sums converted and scaled by `d_w * d_y` — and the scale itself. Here every pair
//! costs `vpdpbusd` + `vcvtdq2ps` + `vfmadd` with the scale broadcast from memory; the 16 scale
//! products of a block are one 512-bit multiply, and each weight and activation vector is
//! loaded and prepared once for four partners.
//!
//! `vpdpbusd` multiplies unsigned by signed bytes. The activations are made unsigned by
//! flipping their sign bit (`y + 128`), and each weight row's `128 * sum(w)` per 4-byte group
//! (one `vpdpbusd` with a vector of 128s) is subtracted by starting every pair's accumulator
//! at its negation, so the integer sums are exact.

use super::{lookup16, nibbles32};
use crate::quant::blocks;
use crate::quant::blocks_legacy::{BlockQ4_0, BlockQ8_0};
use crate::quant::blocks_nl4::BlockIq4Nl;
use crate::quant::grids::KVALUES_IQ4NL;
use std::arch::x86_64::*;

/// A 64-byte aligned scratch row for the 16 scale products of one block.
#[repr(C, align(64))]
struct Scales([f32; 16]);

/// The four f16 values as one 64-bit word (lane k = `h[k]`).
#[inline(always)]
fn pack4(h: [u16; 4]) -> i64 {
    (h[0] as u64 | (h[1] as u64) << 16 | (h[2] as u64) << 32 | (h[3] as u64) << 48) as i64
}

/// Sums of the 16 accumulators, `out[r][t]`, each in `hsum_float_8`'s order (as tinyBLAS's
/// `hsum`, which is llama.cpp's prefill for these types): the two 128-bit halves added, then
/// lanes `(0 + 2) + (1 + 3)`; four tokens at once after a 4x4 transpose.
#[inline(always)]
unsafe fn hsum_4x4(acc: &[[__m256; 4]; 4]) -> [[f32; 4]; 4] {
    let mut out = [[0.0f32; 4]; 4];
    for (o, a) in out.iter_mut().zip(acc) {
        // (No closures: they do not inherit the target features.)
        let mut v = [_mm_setzero_ps(); 4];
        for (v, &a) in v.iter_mut().zip(a) {
            *v = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
        }
        let (t0, t1) = (_mm_unpacklo_ps(v[0], v[1]), _mm_unpackhi_ps(v[0], v[1]));
        let (t2, t3) = (_mm_unpacklo_ps(v[2], v[3]), _mm_unpackhi_ps(v[2], v[3]));
        // Lane t of `c[j]` is lane j of `v[t]`.
        let c = [_mm_movelh_ps(t0, t2), _mm_movehl_ps(t2, t0), _mm_movelh_ps(t1, t3), _mm_movehl_ps(t3, t1)];
        _mm_storeu_ps(o.as_mut_ptr(), _mm_add_ps(_mm_add_ps(c[0], c[2]), _mm_add_ps(c[1], c[3])));
    }
    out
}

/// Defines `$name(n, w, y)`: four rows of `$block` (signed weight bytes `$weights` of block
/// `$a`, f16 scale field `$d`) against four Q8_0 rows; `out[r][t] = w[r] · y[t]`.
macro_rules! dot_q8_0_4x4 {
    ($name:ident, $block:ty, |$a:ident| $weights:expr) => {
        #[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")]
        pub unsafe fn $name(n: usize, w: [&[u8]; 4], y: [&[u8]; 4]) -> [[f32; 4]; 4] {
            let nb = n / 32;
            let ws: [&[$block]; 4] = std::array::from_fn(|r| blocks::<$block>(w[r], nb));
            let ys: [&[BlockQ8_0]; 4] = std::array::from_fn(|t| blocks::<BlockQ8_0>(y[t], nb));
            let flip = _mm256_set1_epi8(0x80u8 as i8);
            // Lane i of the 512-bit products is d_w[i / 4] * d_y[i % 4].
            let w_idx = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
            let y_idx = _mm512_set_epi32(7, 6, 5, 4, 7, 6, 5, 4, 7, 6, 5, 4, 7, 6, 5, 4);
            let mut sc = Scales([0.0; 16]);
            let mut acc = [[_mm256_setzero_ps(); 4]; 4];
            for i in 0..nb {
                let dw = pack4([ws[0][i].d, ws[1][i].d, ws[2][i].d, ws[3][i].d]);
                let dy = pack4([ys[0][i].d, ys[1][i].d, ys[2][i].d, ys[3][i].d]);
                let d8 = _mm512_castps256_ps512(_mm256_cvtph_ps(_mm_set_epi64x(dy, dw)));
                let prod = _mm512_mul_ps(
                    _mm512_permutexvar_ps(w_idx, d8),
                    _mm512_permutexvar_ps(y_idx, d8),
                );
                _mm512_store_ps(sc.0.as_mut_ptr(), prod);
                // Read back through memory: each pair's scale is a broadcast load folded into
                // its fma, not a shuffle competing with the float work.
                let sc = std::hint::black_box(&sc);
                let yu = [
                    _mm256_xor_si256(_mm256_loadu_si256(ys[0][i].qs.as_ptr().cast()), flip),
                    _mm256_xor_si256(_mm256_loadu_si256(ys[1][i].qs.as_ptr().cast()), flip),
                    _mm256_xor_si256(_mm256_loadu_si256(ys[2][i].qs.as_ptr().cast()), flip),
                    _mm256_xor_si256(_mm256_loadu_si256(ys[3][i].qs.as_ptr().cast()), flip),
                ];
                for r in 0..4 {
                    let $a = &ws[r][i];
                    let wq: __m256i = $weights;
                    let bias = _mm256_sub_epi32(
                        _mm256_setzero_si256(),
                        _mm256_dpbusd_epi32(_mm256_setzero_si256(), flip, wq),
                    );
                    for t in 0..4 {
                        let p = _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(bias, yu[t], wq));
                        acc[r][t] =
                            _mm256_fmadd_ps(p, _mm256_broadcast_ss(&sc.0[4 * r + t]), acc[r][t]);
                    }
                }
            }
            hsum_4x4(&acc)
        }
    };
}

dot_q8_0_4x4!(vec_dot_q8_0_q8_0_4x4, BlockQ8_0, |a| _mm256_loadu_si256(
    a.qs.as_ptr().cast()
));
dot_q8_0_4x4!(vec_dot_q4_0_q8_0_4x4, BlockQ4_0, |a| _mm256_sub_epi8(
    nibbles32(a.qs.as_ptr()),
    _mm256_set1_epi8(8)
));
dot_q8_0_4x4!(vec_dot_iq4_nl_q8_0_4x4, BlockIq4Nl, |a| lookup16(
    &KVALUES_IQ4NL,
    nibbles32(a.qs.as_ptr())
));

/// Defines `$name(n, w, y)`: the AVX2 (no VNNI) version of the 4×4 tile, as two passes of
/// four weight rows by two activation rows (16 ymm registers cannot hold 16 accumulators).
/// Products use the sign trick (`|w| * sign(y, w)` through `vpmaddubsw`, exact because Q8_0
/// activations are never -128); the 8 scale products of a block are one multiply, each read
/// back as a broadcast folded into its fma.
macro_rules! dot_q8_0_4x4_avx2 {
    ($name:ident, $block:ty, |$a:ident| $weights:expr) => {
        #[target_feature(enable = "avx2,fma,f16c")]
        pub unsafe fn $name(n: usize, w: [&[u8]; 4], y: [&[u8]; 4]) -> [[f32; 4]; 4] {
            let nb = n / 32;
            let ws: [&[$block]; 4] = std::array::from_fn(|r| blocks::<$block>(w[r], nb));
            let ones = _mm256_set1_epi16(1);
            // Lane i of the products is d_w[i / 2] * d_y[i % 2].
            let (w_idx, y_idx) = (_mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3), _mm256_setr_epi32(4, 5, 4, 5, 4, 5, 4, 5));
            let mut sc = Scales([0.0; 16]);
            let mut out = [[0.0f32; 4]; 4];
            for half in 0..2 {
                let ys = [blocks::<BlockQ8_0>(y[2 * half], nb), blocks::<BlockQ8_0>(y[2 * half + 1], nb)];
                let mut acc = [[_mm256_setzero_ps(); 2]; 4];
                for i in 0..nb {
                    let dw = pack4([ws[0][i].d, ws[1][i].d, ws[2][i].d, ws[3][i].d]);
                    let dy = pack4([ys[0][i].d, ys[1][i].d, 0, 0]);
                    let d8 = _mm256_cvtph_ps(_mm_set_epi64x(dy, dw));
                    let prod = _mm256_mul_ps(_mm256_permutevar8x32_ps(d8, w_idx), _mm256_permutevar8x32_ps(d8, y_idx));
                    _mm256_store_ps(sc.0.as_mut_ptr(), prod);
                    let sc = std::hint::black_box(&sc);
                    let yv = [
                        _mm256_loadu_si256(ys[0][i].qs.as_ptr().cast()),
                        _mm256_loadu_si256(ys[1][i].qs.as_ptr().cast()),
                    ];
                    for r in 0..4 {
                        let $a = &ws[r][i];
                        let wq: __m256i = $weights;
                        let aw = _mm256_sign_epi8(wq, wq);
                        for t in 0..2 {
                            let p = _mm256_madd_epi16(_mm256_maddubs_epi16(aw, _mm256_sign_epi8(yv[t], wq)), ones);
                            acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_broadcast_ss(&sc.0[2 * r + t]), acc[r][t]);
                        }
                    }
                }
                for r in 0..4 {
                    for t in 0..2 {
                        out[r][2 * half + t] = super::hsum_ps(acc[r][t]);
                    }
                }
            }
            out
        }
    };
}

dot_q8_0_4x4_avx2!(vec_dot_q8_0_q8_0_4x4_avx2, BlockQ8_0, |a| _mm256_loadu_si256(a.qs.as_ptr().cast()));
dot_q8_0_4x4_avx2!(vec_dot_q4_0_q8_0_4x4_avx2, BlockQ4_0, |a| _mm256_sub_epi8(
    nibbles32(a.qs.as_ptr()),
    _mm256_set1_epi8(8)
));
dot_q8_0_4x4_avx2!(vec_dot_iq4_nl_q8_0_4x4_avx2, BlockIq4Nl, |a| lookup16(&KVALUES_IQ4NL, nibbles32(a.qs.as_ptr())));
