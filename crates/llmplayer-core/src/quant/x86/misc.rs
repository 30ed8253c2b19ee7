//! AVX2 kernels for the ternary types TQ1_0 / TQ2_0 (against Q8_K) and for NVFP4, Q1_0 and
//! Q2_0 (against Q8_0).

use super::{bytes_from_bits_32, fp16, hsum_epi32, hsum_ps, lookup16, mul_sum_i8_epi32};
use crate::quant::blocks_k::BlockQ8K;
use crate::quant::blocks_legacy::{BlockQ1_0, BlockQ2_0, BlockQ8_0};
use crate::quant::blocks_nl4::{ue4m3_to_f32_half, BlockNvfp4};
use crate::quant::blocks_ternary::{BlockTq1_0, BlockTq2_0};
use crate::quant::grids::KVALUES_FP4;
use crate::quant::{blocks, QK_K};
use std::arch::x86_64::*;

/// Sum of `q * y` for unsigned `q` (< 128) and signed `y`, as 8 i32 lanes.
#[inline(always)]
unsafe fn udot(q: __m256i, y: __m256i) -> __m256i {
    _mm256_madd_epi16(_mm256_maddubs_epi16(q, y), _mm256_set1_epi16(1))
}

#[inline(always)]
unsafe fn bsum_total(b: &BlockQ8K) -> i32 {
    let bsums = b.bsums;
    bsums.iter().map(|&s| s as i32).sum()
}

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_tq2_0_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / QK_K;
    let m3 = _mm256_set1_epi8(3);
    let mut sumf = 0.0f32;
    for (a, b) in blocks::<BlockTq2_0>(x, nb).iter().zip(blocks::<BlockQ8K>(y, nb)) {
        let mut sumi = _mm256_setzero_si256();
        for j in 0..2 {
            let bits = _mm256_loadu_si256(a.qs.as_ptr().add(32 * j).cast());
            let y8 = |l: usize| _mm256_loadu_si256(b.qs.as_ptr().add(128 * j + 32 * l).cast());
            sumi = _mm256_add_epi32(sumi, udot(_mm256_and_si256(bits, m3), y8(0)));
            sumi = _mm256_add_epi32(sumi, udot(_mm256_and_si256(_mm256_srli_epi16(bits, 2), m3), y8(1)));
            sumi = _mm256_add_epi32(sumi, udot(_mm256_and_si256(_mm256_srli_epi16(bits, 4), m3), y8(2)));
            sumi = _mm256_add_epi32(sumi, udot(_mm256_and_si256(_mm256_srli_epi16(bits, 6), m3), y8(3)));
        }
        // Weights are q - 1: subtract the activation sum.
        let isum = hsum_epi32(sumi) - bsum_total(b);
        sumf += isum as f32 * (b.d * fp16(a.d));
    }
    sumf
}

/// Trit (0, 1 or 2) of bytes already multiplied by 3^n: `(q * 3) >> 8`, i.e. `q >= 86` plus
/// `q >= 171`, from unsigned compares.
#[inline(always)]
unsafe fn trit_x2(q: __m256i) -> __m256i {
    let ge = |t: i8| {
        let t = _mm256_set1_epi8(t);
        _mm256_cmpeq_epi8(_mm256_max_epu8(q, t), q)
    };
    // Masks are -1 where set: 0 - m1 - m2.
    _mm256_sub_epi8(_mm256_sub_epi8(_mm256_setzero_si256(), ge(86)), ge(171u8 as i8))
}

/// `x * 3` in every byte (mod 256).
#[inline(always)]
unsafe fn times3(x: __m256i) -> __m256i {
    _mm256_add_epi8(x, _mm256_add_epi8(x, x))
}

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_tq1_0_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / QK_K;
    let mut sumf = 0.0f32;
    for (a, b) in blocks::<BlockTq1_0>(x, nb).iter().zip(blocks::<BlockQ8K>(y, nb)) {
        let yq = b.qs.as_ptr();
        let mut sumi = _mm256_setzero_si256();
        // Bytes 0..32: trit n of byte m is element 32n + m.
        let mut q = _mm256_loadu_si256(a.qs.as_ptr().cast());
        for n in 0..5 {
            sumi = _mm256_add_epi32(sumi, udot(trit_x2(q), _mm256_loadu_si256(yq.add(32 * n).cast())));
            q = times3(q);
        }
        // Bytes 32..48: element 160 + 16n + m; two trit planes per register.
        let q16 = _mm_loadu_si128(a.qs.as_ptr().add(32).cast());
        let mut q = _mm256_set_m128i(_mm_add_epi8(q16, _mm_add_epi8(q16, q16)), q16);
        for pair in 0..3 {
            let t = trit_x2(q);
            let y8 = if pair < 2 {
                _mm256_loadu_si256(yq.add(160 + 32 * pair).cast())
            } else {
                _mm256_zextsi128_si256(_mm_loadu_si128(yq.add(224).cast()))
            };
            // The last pair has only trit 4 (low half); its high half is multiplied by zero.
            let t = if pair < 2 { t } else { _mm256_zextsi128_si256(_mm256_castsi256_si128(t)) };
            sumi = _mm256_add_epi32(sumi, udot(t, y8));
            q = times3(times3(q));
        }
        // qh: element 240 + 4n + j is trit n of qh[j], n < 4.
        let h = u32::from_le_bytes(a.qh) as i32;
        let hv = _mm_set1_epi32(h);
        let h3 = _mm_add_epi8(hv, _mm_add_epi8(hv, hv));
        let h9 = _mm_add_epi8(h3, _mm_add_epi8(h3, h3));
        let h27 = _mm_add_epi8(h9, _mm_add_epi8(h9, h9));
        let hq = _mm_blend_epi32(_mm_blend_epi32(hv, h3, 0b0010), _mm_blend_epi32(h9, h27, 0b1000), 0b1100);
        let t = trit_x2(_mm256_zextsi128_si256(hq));
        let y8 = _mm256_zextsi128_si256(_mm_loadu_si128(yq.add(240).cast()));
        let t = _mm256_zextsi128_si256(_mm256_castsi256_si128(t));
        sumi = _mm256_add_epi32(sumi, udot(t, y8));
        let isum = hsum_epi32(sumi) - bsum_total(b);
        sumf += isum as f32 * (fp16(a.d) * b.d);
    }
    sumf
}

/// One NVFP4 block (64 elements, four UE4M3-scaled sub-blocks of 16) spans two Q8_0 blocks.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_nvfp4_q8_0(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / 64;
    let ys = blocks::<BlockQ8_0>(y, 2 * nb);
    let m4 = _mm_set1_epi8(0x0f);
    let mut acc = _mm256_setzero_ps();
    for (a, yb) in blocks::<BlockNvfp4>(x, nb).iter().zip(ys.chunks_exact(2)) {
        for (k, b) in yb.iter().enumerate() {
            // Sub-blocks 2k and 2k+1: bytes 16k..16k+16, each 8 bytes = low nibbles (elements
            // 0..8) then high nibbles (8..16).
            let v = _mm_loadu_si128(a.qs.as_ptr().add(16 * k).cast());
            let (lo, hi) = (_mm_and_si128(v, m4), _mm_and_si128(_mm_srli_epi16(v, 4), m4));
            let idx = _mm256_set_m128i(_mm_unpackhi_epi64(lo, hi), _mm_unpacklo_epi64(lo, hi));
            let w = lookup16(&KVALUES_FP4, idx);
            let qy = _mm256_loadu_si256(b.qs.as_ptr().cast());
            let dot = _mm256_cvtepi32_ps(mul_sum_i8_epi32(w, qy));
            let dy = fp16(b.d);
            let (s0, s1) = (ue4m3_to_f32_half(a.d[2 * k]), ue4m3_to_f32_half(a.d[2 * k + 1]));
            let scale = _mm256_set_m128(_mm_set1_ps(dy * s1), _mm_set1_ps(dy * s0));
            acc = _mm256_fmadd_ps(scale, dot, acc);
        }
    }
    hsum_ps(acc)
}

/// One Q1_0 block (128 sign bits) spans four Q8_0 blocks.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_q1_0_q8_0(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / 128;
    let ys = blocks::<BlockQ8_0>(y, 4 * nb);
    let mut acc = _mm256_setzero_ps();
    for (a, yb) in blocks::<BlockQ1_0>(x, nb).iter().zip(ys.chunks_exact(4)) {
        let d = fp16(a.d);
        for (k, b) in yb.iter().enumerate() {
            let bits = u32::from_le_bytes([a.qs[4 * k], a.qs[4 * k + 1], a.qs[4 * k + 2], a.qs[4 * k + 3]]);
            // +1 where the bit is set, -1 elsewhere.
            let w = _mm256_or_si256(_mm256_andnot_si256(bytes_from_bits_32(bits), _mm256_set1_epi8(-1)), _mm256_set1_epi8(1));
            let qy = _mm256_loadu_si256(b.qs.as_ptr().cast());
            let dot = _mm256_cvtepi32_ps(mul_sum_i8_epi32(w, qy));
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * fp16(b.d)), dot, acc);
        }
    }
    hsum_ps(acc)
}

/// One Q2_0 block (64 two-bit values, element j at bits 2*(j%4) of byte j/4) spans two Q8_0
/// blocks.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_q2_0_q8_0(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / 64;
    let ys = blocks::<BlockQ8_0>(y, 2 * nb);
    // Byte j of the 32 takes byte j/4 of the 8; bit masks pick bits 2*(j%4) and 2*(j%4)+1.
    let spread = _mm256_setr_epi8(
        0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7,
    );
    let b0 = _mm256_set1_epi32(0x4010_0401);
    let b1 = _mm256_set1_epi32(0x8020_0802u32 as i32);
    let mut acc = _mm256_setzero_ps();
    for (a, yb) in blocks::<BlockQ2_0>(x, nb).iter().zip(ys.chunks_exact(2)) {
        let d = fp16(a.d);
        for (k, b) in yb.iter().enumerate() {
            let q = u64::from_le_bytes(a.qs[8 * k..8 * k + 8].try_into().unwrap());
            let v = _mm256_shuffle_epi8(_mm256_set1_epi64x(q as i64), spread);
            let m0 = _mm256_cmpeq_epi8(_mm256_and_si256(v, b0), b0);
            let m1 = _mm256_cmpeq_epi8(_mm256_and_si256(v, b1), b1);
            // q - 1 = 2*bit1 + bit0 - 1 (masks are -1 where set).
            let w = _mm256_sub_epi8(
                _mm256_sub_epi8(_mm256_set1_epi8(-1), m0),
                _mm256_add_epi8(m1, m1),
            );
            let qy = _mm256_loadu_si256(b.qs.as_ptr().cast());
            let dot = _mm256_cvtepi32_ps(mul_sum_i8_epi32(w, qy));
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * fp16(b.d)), dot, acc);
        }
    }
    hsum_ps(acc)
}
