//! AVX2 kernels for the 32-element types (weights against Q8_0 / Q8_1) and the Q8_0 / Q8_1
//! activation quantizers.

use super::{bytes_from_bits_32, fp16_mul, hsum_epi32, hsum_ps, lookup16, mul_sum_i8_epi32, mul_sum_us8_epi32, nibbles32};
use crate::quant::blocks;
use crate::quant::blocks_legacy::{BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, BlockQ8_1};
use crate::quant::blocks_nl4::{e8m0_to_f32_half, BlockIq4Nl, BlockMxfp4};
use super::fp16;
use crate::quant::float::f32_to_f16;
use crate::quant::grids::{KVALUES_FP4, KVALUES_IQ4NL};
use crate::quant::blocks_mut;
use std::arch::x86_64::*;

// The loops are macros rather than generic functions taking closures: closures do not
// inherit `#[target_feature]`, and an out-of-line closure call would pass vectors through
// memory.

/// Defines `$name(n, x, y)`: `sum_b $scale * sum_i w_b[i] * y_b[i]` over blocks of `$block`
/// against Q8_0, where `$scale` is `d_w * d_y` (`$yd`: the Q8_0 scale bits) and `$weights`
/// the 32 signed weight bytes of block `$a`. `$acc` is ggml's accumulator layout for the type:
/// `one` (Q8_0 / Q4_0 / Q5_0) or `two` (IQ4_NL / MXFP4).
macro_rules! dot_q8_0 {
    // One accumulator, blocks in order, then hsum_float_8's reduction: ggml's AVX2
    // `ggml_vec_dot_*_q8_0` bit for bit (llama.cpp's decode path; on real activations a
    // different rounding order flips 8-bit activations a few layers later).
    (@body one, $nb:ident, $step:ident, $lanes:ident) => {{
        let mut acc = _mm256_setzero_ps();
        for i in 0..$nb {
            $step!(i, acc);
        }
        hsum_ps(acc)
    }};
    // ggml's IQ4_NL / MXFP4 loop: two blocks per iteration, even blocks into one accumulator
    // and odd ones into another, added before hsum_float_8; an odd last block then goes
    // through ggml's scalar tail, `sumf += d * sumi` (contracted to an fma).
    (@body two, $nb:ident, $step:ident, $lanes:ident) => {{
        let (mut acc0, mut acc1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
        let mut i = 0;
        while i + 1 < $nb {
            $step!(i, acc0);
            $step!(i + 1, acc1);
            i += 2;
        }
        let mut sum = hsum_ps(_mm256_add_ps(acc0, acc1));
        if i < $nb {
            let (d, q) = $lanes!(i);
            sum = d.mul_add(hsum_epi32(q) as f32, sum);
        }
        sum
    }};
    ($name:ident, $acc:ident, $block:ty, |$a:ident, $yd:ident| $scale:expr, $weights:expr) => {
        #[target_feature(enable = "avx2,fma,f16c")]
        pub unsafe fn $name(n: usize, x: &[u8], y: &[u8]) -> f32 {
            let nb = n / 32;
            let (xs, ys) = (blocks::<$block>(x, nb), blocks::<BlockQ8_0>(y, nb));
            macro_rules! lanes {
                ($i:expr) => {{
                    let ($a, b) = (&xs[$i], &ys[$i]);
                    let $yd = b.d;
                    let qy = _mm256_loadu_si256(b.qs.as_ptr().cast());
                    ($scale, mul_sum_i8_epi32($weights, qy))
                }};
            }
            macro_rules! step {
                ($i:expr, $acc_v:ident) => {{
                    let (d, q) = lanes!($i);
                    $acc_v = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(q), $acc_v);
                }};
            }
            dot_q8_0!(@body $acc, nb, step, lanes)
        }
    };
}

/// As [`dot_q8_0!`] for unsigned weights against Q8_1, plus `m * s` per block.
macro_rules! dot_q8_1 {
    ($name:ident, $block:ty, |$a:ident| $weights:expr) => {
        #[target_feature(enable = "avx2,fma,f16c")]
        pub unsafe fn $name(n: usize, x: &[u8], y: &[u8]) -> f32 {
            let nb = n / 32;
            let (xs, ys) = (blocks::<$block>(x, nb), blocks::<BlockQ8_1>(y, nb));
            macro_rules! step {
                ($i:expr, $acc:ident, $accm:ident) => {{
                    let ($a, b) = (&xs[$i], &ys[$i]);
                    let qy = _mm256_loadu_si256(b.qs.as_ptr().cast());
                    let q = _mm256_cvtepi32_ps(mul_sum_us8_epi32($weights, qy));
                    $acc = _mm256_fmadd_ps(_mm256_set1_ps(fp16_mul($a.d, b.d)), q, $acc);
                    $accm = _mm_fmadd_ss(_mm_set_ss(fp16($a.m)), _mm_set_ss(fp16(b.s)), $accm);
                }};
            }
            // ggml's AVX2 order: one vector accumulator for `d * dy * q·y`, the `m * s` terms
            // summed separately in block order (fused, as compilers contract `summs += m * s`),
            // added after the horizontal sum.
            let mut acc = _mm256_setzero_ps();
            let mut summs = _mm_setzero_ps();
            for i in 0..nb {
                step!(i, acc, summs);
            }
            hsum_ps(acc) + _mm_cvtss_f32(summs)
        }
    };
}

dot_q8_0!(vec_dot_q8_0_q8_0, one, BlockQ8_0, |a, yd| fp16_mul(a.d, yd), _mm256_loadu_si256(a.qs.as_ptr().cast()));
dot_q8_0!(vec_dot_q4_0_q8_0, one, BlockQ4_0, |a, yd| fp16_mul(a.d, yd), _mm256_sub_epi8(nibbles32(a.qs.as_ptr()), _mm256_set1_epi8(8)));
// Q5_0: q - 16 = the nibble where the 5th bit is set, else the nibble with the top 4 bits set.
dot_q8_0!(
    vec_dot_q5_0_q8_0,
    one,
    BlockQ5_0,
    |a, yd| fp16_mul(a.d, yd),
    _mm256_or_si256(
        nibbles32(a.qs.as_ptr()),
        _mm256_andnot_si256(bytes_from_bits_32(u32::from_le_bytes(a.qh)), _mm256_set1_epi8(0xf0u8 as i8))
    )
);
dot_q8_0!(vec_dot_iq4_nl_q8_0, two, BlockIq4Nl, |a, yd| fp16_mul(a.d, yd), lookup16(&KVALUES_IQ4NL, nibbles32(a.qs.as_ptr())));
dot_q8_0!(vec_dot_mxfp4_q8_0, two, BlockMxfp4, |a, yd| e8m0_to_f32_half(a.e) * fp16(yd), lookup16(&KVALUES_FP4, nibbles32(a.qs.as_ptr())));
dot_q8_1!(vec_dot_q4_1_q8_1, BlockQ4_1, |a| nibbles32(a.qs.as_ptr()));
dot_q8_1!(
    vec_dot_q5_1_q8_1,
    BlockQ5_1,
    |a| _mm256_or_si256(
        nibbles32(a.qs.as_ptr()),
        _mm256_and_si256(bytes_from_bits_32(u32::from_le_bytes(a.qh)), _mm256_set1_epi8(0x10))
    )
);

// ---------------------------------------------------------------- activation quantizers

/// Max |x| over 32 floats.
#[inline(always)]
unsafe fn amax32(v: &[__m256; 4]) -> f32 {
    let sign = _mm256_set1_ps(-0.0);
    let m = v.iter().fold(_mm256_setzero_ps(), |m, &x| _mm256_max_ps(m, _mm256_andnot_ps(sign, x)));
    let m = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    let m = _mm_max_ss(m, _mm_movehdup_ps(m));
    _mm_cvtss_f32(m)
}

/// Packs 4 × 8 i32 (each within i8 range) into 32 bytes in order.
#[inline(always)]
unsafe fn pack_i8(q: [__m256i; 4]) -> __m256i {
    let a = _mm256_packs_epi32(q[0], q[1]);
    let b = _mm256_packs_epi32(q[2], q[3]);
    let p = _mm256_packs_epi16(a, b);
    // packs interleave 128-bit lanes; restore element order.
    _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7))
}

/// Quantizes one block of 32; returns (d, q lanes).
#[inline(always)]
unsafe fn q8_block(x: &[f32]) -> (f32, [__m256i; 4]) {
    // (No array::map / from_fn here: closures do not inherit the target features.)
    let p = x.as_ptr();
    let v = [_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8)), _mm256_loadu_ps(p.add(16)), _mm256_loadu_ps(p.add(24))];
    let amax = amax32(&v);
    let d = amax / 127.0;
    let id = _mm256_set1_ps(if amax != 0.0 { 127.0 / amax } else { 0.0 });
    // cvtps rounds half to even (the default MXCSR mode), as ggml's x86 quantizer does.
    let q = [
        _mm256_cvtps_epi32(_mm256_mul_ps(v[0], id)),
        _mm256_cvtps_epi32(_mm256_mul_ps(v[1], id)),
        _mm256_cvtps_epi32(_mm256_mul_ps(v[2], id)),
        _mm256_cvtps_epi32(_mm256_mul_ps(v[3], id)),
    ];
    (d, q)
}

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn quantize_row_q8_0(x: &[f32], y: &mut [u8]) {
    for (b, x) in blocks_mut::<BlockQ8_0>(y, x.len() / 32).iter_mut().zip(x.chunks_exact(32)) {
        let (d, q) = q8_block(x);
        b.d = f32_to_f16(d);
        _mm256_storeu_si256(b.qs.as_mut_ptr().cast(), pack_i8(q));
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn quantize_row_q8_1(x: &[f32], y: &mut [u8]) {
    for (b, x) in blocks_mut::<BlockQ8_1>(y, x.len() / 32).iter_mut().zip(x.chunks_exact(32)) {
        let (d, q) = q8_block(x);
        let sum = super::hsum_epi32(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
        b.d = f32_to_f16(d);
        b.s = f32_to_f16(sum as f32 * d);
        _mm256_storeu_si256(b.qs.as_mut_ptr().cast(), pack_i8(q));
    }
}
