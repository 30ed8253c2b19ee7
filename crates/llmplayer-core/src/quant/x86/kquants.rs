//! AVX2 kernels for the K-quants and IQ4_XS against Q8_K, and the Q8_K quantizer.
//!
//! Pattern (as in ggml's x86 kernels): unpack 32 weights per register as unsigned bytes,
//! `maddubs` them with the Q8_K bytes into i16 pairs, `madd` with the sub-block scales into
//! i32, accumulate the super-block in integers, then one FMA per super-block. Constant
//! offsets (Q6_K's -32, the mins of Q2_K/Q4_K/Q5_K) are applied through `bsums`.

use super::{hsum_epi32, hsum_ps, lookup16, mul_add_i8_epi16, nibbles32};
use crate::quant::blocks_k::{BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K};
use crate::quant::blocks_nl4::BlockIq4Xs;
use super::fp16;
use crate::quant::grids::KVALUES_IQ4NL;
use crate::quant::{blocks, blocks_mut, QK_K};
use std::arch::x86_64::*;
use std::ptr::addr_of;

#[inline(always)]
unsafe fn load(p: *const i8) -> __m256i {
    _mm256_loadu_si256(p.cast())
}

#[inline(always)]
unsafe fn bsums(b: &BlockQ8K) -> __m256i {
    _mm256_loadu_si256(addr_of!(b.bsums).cast())
}

/// Broadcasts i16 lane `i` of a 128-bit scale vector (duplicated in both halves).
#[inline(always)]
pub(super) unsafe fn bcast16(scales: __m256i, i: i32) -> __m256i {
    _mm256_shuffle_epi8(scales, _mm256_set1_epi16((((2 * i + 1) << 8) | (2 * i)) as i16))
}

/// i16 lane `2k` in the low 128 bits and lane `2k+1` in the high 128 bits.
#[inline(always)]
pub(super) unsafe fn bcast16_pair(scales: __m256i, k: i32) -> __m256i {
    let lo = _mm_set1_epi16((((4 * k + 1) << 8) | (4 * k)) as i16);
    let hi = _mm_set1_epi16((((4 * k + 3) << 8) | (4 * k + 2)) as i16);
    _mm256_shuffle_epi8(scales, _mm256_set_m128i(hi, lo))
}

/// 0xff in bytes where bit `mask` of `bits` is set.
#[inline(always)]
pub(super) unsafe fn bit_set(bits: __m256i, mask: i8) -> __m256i {
    let m = _mm256_set1_epi8(mask);
    _mm256_cmpeq_epi8(_mm256_and_si256(bits, m), m)
}

/// The 8 scales (bytes 0..8) and 8 mins (bytes 8..16) of Q4_K / Q5_K as 16 u16 lanes.
#[inline(always)]
pub(super) unsafe fn k4_mins_and_scales(s: &[u8; 12]) -> __m256i {
    let u = |i: usize| u32::from_le_bytes([s[4 * i], s[4 * i + 1], s[4 * i + 2], s[4 * i + 3]]);
    let (u0, u1, u2) = (u(0), u(1), u(2));
    let (m1, m2, m3) = (0x3f3f_3f3fu32, 0x0f0f_0f0fu32, 0x0303_0303u32);
    let sc_lo = u0 & m1;
    let sc_hi = (u2 & m2) | (((u0 >> 6) & m3) << 4);
    let mn_lo = u1 & m1;
    let mn_hi = ((u2 >> 4) & m2) | (((u1 >> 6) & m3) << 4);
    _mm256_cvtepu8_epi16(_mm_set_epi32(mn_hi as i32, mn_lo as i32, sc_hi as i32, sc_lo as i32))
}

/// `sum_j mins[j] * (bsums[2j] + bsums[2j+1])` as 4 i32 lanes.
#[inline(always)]
pub(super) unsafe fn k4_min_products(mins_and_scales: __m256i, b: &BlockQ8K) -> __m128i {
    let s = bsums(b);
    let q8s = _mm_hadd_epi16(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    _mm_madd_epi16(_mm256_extracti128_si256(mins_and_scales, 1), q8s)
}

/// Q5_K's min term of one super-block: unlike Q4_K (4 f32 lanes, [`k4_min_products`]), ggml's
/// `ggml_vec_dot_q5_K_q8_K` sums the 4 products in integers (`hadd`) and keeps a scalar
/// `summs += dmin * isum` (an fma once contracted), added after `hsum_float_8`.
#[inline(always)]
pub(super) unsafe fn k5_min_sum(mins_and_scales: __m256i, b: &BlockQ8K) -> i32 {
    let p = k4_min_products(mins_and_scales, b);
    let p = _mm_add_epi32(p, _mm_shuffle_epi32(p, 0b01_00_11_10));
    _mm_cvtsi128_si32(_mm_add_epi32(p, _mm_shuffle_epi32(p, 0b10_11_00_01)))
}

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_q4_k_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / QK_K;
    let m4 = _mm256_set1_epi8(0x0f);
    let mut acc = _mm256_setzero_ps();
    let mut acc_m = _mm_setzero_ps();
    for (a, b) in blocks::<BlockQ4K>(x, nb).iter().zip(blocks::<BlockQ8K>(y, nb)) {
        let d = b.d * fp16(a.d);
        let dmin = -b.d * fp16(a.dmin);
        let ms = k4_mins_and_scales(&a.scales);
        acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(k4_min_products(ms, b)), acc_m);
        let sc = _mm256_permute2x128_si256(ms, ms, 0x00);
        let (q4, q8) = (a.qs.as_ptr(), b.qs.as_ptr());
        let mut sumi = _mm256_setzero_si256();
        for j in 0..4 {
            let bits = _mm256_loadu_si256(q4.add(32 * j).cast());
            let lo = _mm256_maddubs_epi16(_mm256_and_si256(bits, m4), load(q8.add(64 * j)));
            let hi = _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(bits, 4), m4), load(q8.add(64 * j + 32)));
            let lo = _mm256_madd_epi16(bcast16(sc, 2 * j as i32), lo);
            let hi = _mm256_madd_epi16(bcast16(sc, 2 * j as i32 + 1), hi);
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(lo, hi));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    let m = _mm_add_ps(acc_m, _mm_movehl_ps(acc_m, acc_m));
    let m = _mm_add_ss(m, _mm_movehdup_ps(m));
    hsum_ps(acc) + _mm_cvtss_f32(m)
}

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_q5_k_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / QK_K;
    let m4 = _mm256_set1_epi8(0x0f);
    let m16 = _mm256_set1_epi8(0x10);
    let mut acc = _mm256_setzero_ps();
    let mut summs = 0.0f32;
    for (a, b) in blocks::<BlockQ5K>(x, nb).iter().zip(blocks::<BlockQ8K>(y, nb)) {
        let d = b.d * fp16(a.d);
        let dmin = -b.d * fp16(a.dmin);
        let ms = k4_mins_and_scales(&a.scales);
        summs = dmin.mul_add(k5_min_sum(ms, b) as f32, summs);
        let sc = _mm256_permute2x128_si256(ms, ms, 0x00);
        let hbits = _mm256_loadu_si256(a.qh.as_ptr().cast());
        let (q5, q8) = (a.qs.as_ptr(), b.qs.as_ptr());
        let mut sumi = _mm256_setzero_si256();
        for j in 0..4 {
            let bits = _mm256_loadu_si256(q5.add(32 * j).cast());
            let h0 = _mm256_and_si256(bit_set(hbits, 1 << (2 * j)), m16);
            let h1 = _mm256_and_si256(bit_set(hbits, (1u8 << (2 * j + 1)) as i8), m16);
            let q0 = _mm256_or_si256(_mm256_and_si256(bits, m4), h0);
            let q1 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bits, 4), m4), h1);
            let lo = _mm256_madd_epi16(bcast16(sc, 2 * j as i32), _mm256_maddubs_epi16(q0, load(q8.add(64 * j))));
            let hi = _mm256_madd_epi16(bcast16(sc, 2 * j as i32 + 1), _mm256_maddubs_epi16(q1, load(q8.add(64 * j + 32))));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(lo, hi));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    hsum_ps(acc) + summs
}

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_q6_k_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / QK_K;
    let m4 = _mm256_set1_epi8(0x0f);
    let mut acc = _mm256_setzero_ps();
    for (a, b) in blocks::<BlockQ6K>(x, nb).iter().zip(blocks::<BlockQ8K>(y, nb)) {
        let d = b.d * fp16(a.d);
        let scales = _mm_loadu_si128(a.scales.as_ptr().cast());
        // The -32 offset of every weight, through the activation sums: 32 * sum_k sc_k * bsum_k.
        let offset = _mm256_slli_epi32(_mm256_madd_epi16(bsums(b), _mm256_cvtepi8_epi16(scales)), 5);
        let mut sumi = _mm256_setzero_si256();
        for j in 0..2 {
            let (ql, qh, q8) = (a.ql.as_ptr().add(64 * j), a.qh.as_ptr().add(32 * j), b.qs.as_ptr().add(128 * j));
            let b1 = _mm256_loadu_si256(ql.cast());
            let b2 = _mm256_loadu_si256(ql.add(32).cast());
            let bh = _mm256_loadu_si256(qh.cast());
            let q = [
                _mm256_or_si256(_mm256_and_si256(b1, m4), _mm256_slli_epi16(_mm256_and_si256(bh, _mm256_set1_epi8(0x03)), 4)),
                _mm256_or_si256(_mm256_and_si256(b2, m4), _mm256_slli_epi16(_mm256_and_si256(bh, _mm256_set1_epi8(0x0c)), 2)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b1, 4), m4), _mm256_and_si256(bh, _mm256_set1_epi8(0x30))),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16(b2, 4), m4),
                    _mm256_srli_epi16(_mm256_and_si256(bh, _mm256_set1_epi8(0xc0u8 as i8)), 2),
                ),
            ];
            for (k, &qk) in q.iter().enumerate() {
                let p = _mm256_maddubs_epi16(qk, load(q8.add(32 * k)));
                // Sub-blocks 8j+2k (low 16 elements) and 8j+2k+1 (high 16).
                let s0 = (8 * j + 2 * k) as u8;
                let shuf = _mm_set_epi64x(i64::from_ne_bytes([s0 + 1; 8]), i64::from_ne_bytes([s0; 8]));
                let sc = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(scales, shuf));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(sc, p));
            }
        }
        sumi = _mm256_sub_epi32(sumi, offset);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    hsum_ps(acc)
}

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_q2_k_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / QK_K;
    let m3 = _mm256_set1_epi8(3);
    let mut acc = _mm256_setzero_ps();
    for (a, b) in blocks::<BlockQ2K>(x, nb).iter().zip(blocks::<BlockQ8K>(y, nb)) {
        let d = b.d * fp16(a.d);
        let dmin = -b.d * fp16(a.dmin);
        let ms = _mm_loadu_si128(a.scales.as_ptr().cast());
        let m4 = _mm_set1_epi8(0x0f);
        let mins = _mm256_cvtepi8_epi16(_mm_and_si128(_mm_srli_epi16(ms, 4), m4));
        let prod = _mm256_madd_epi16(mins, bsums(b));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(prod), acc);
        let all = _mm256_cvtepi8_epi16(_mm_and_si128(ms, m4));
        let scales = [_mm256_permute2x128_si256(all, all, 0x00), _mm256_permute2x128_si256(all, all, 0x11)];
        let mut sumi = _mm256_setzero_si256();
        for (j, &sc) in scales.iter().enumerate() {
            let bits = _mm256_loadu_si256(a.qs.as_ptr().add(32 * j).cast());
            let q8 = b.qs.as_ptr().add(128 * j);
            let q = [
                _mm256_and_si256(bits, m3),
                _mm256_and_si256(_mm256_srli_epi16(bits, 2), m3),
                _mm256_and_si256(_mm256_srli_epi16(bits, 4), m3),
                _mm256_and_si256(_mm256_srli_epi16(bits, 6), m3),
            ];
            for (k, &qk) in q.iter().enumerate() {
                let p = _mm256_maddubs_epi16(qk, load(q8.add(32 * k)));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(bcast16_pair(sc, k as i32), p));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    hsum_ps(acc)
}

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_q3_k_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / QK_K;
    let m3 = _mm256_set1_epi8(3);
    let m4 = _mm256_set1_epi8(4);
    let mut acc = _mm256_setzero_ps();
    for (a, b) in blocks::<BlockQ3K>(x, nb).iter().zip(blocks::<BlockQ8K>(y, nb)) {
        let d = b.d * fp16(a.d);
        let s = &a.scales;
        let u = |i: usize| u32::from_le_bytes([s[4 * i], s[4 * i + 1], s[4 * i + 2], s[4 * i + 3]]);
        let (a0, a1, a2) = (u(0), u(1), u(2));
        let (k1, k2) = (0x0303_0303u32, 0x0f0f_0f0fu32);
        let sc128 = _mm_set_epi32(
            (((a1 >> 4) & k2) | (((a2 >> 6) & k1) << 4)) as i32,
            (((a0 >> 4) & k2) | (((a2 >> 4) & k1) << 4)) as i32,
            ((a1 & k2) | (((a2 >> 2) & k1) << 4)) as i32,
            ((a0 & k2) | ((a2 & k1) << 4)) as i32,
        );
        let all = _mm256_cvtepi8_epi16(_mm_sub_epi8(sc128, _mm_set1_epi8(32)));
        let scales = [_mm256_permute2x128_si256(all, all, 0x00), _mm256_permute2x128_si256(all, all, 0x11)];
        let hbits = _mm256_loadu_si256(a.hmask.as_ptr().cast());
        let mut sumi = _mm256_setzero_si256();
        for (j, &sc) in scales.iter().enumerate() {
            let bits = _mm256_loadu_si256(a.qs.as_ptr().add(32 * j).cast());
            let q8 = b.qs.as_ptr().add(128 * j);
            let low = [
                _mm256_and_si256(bits, m3),
                _mm256_and_si256(_mm256_srli_epi16(bits, 2), m3),
                _mm256_and_si256(_mm256_srli_epi16(bits, 4), m3),
                _mm256_and_si256(_mm256_srli_epi16(bits, 6), m3),
            ];
            for (k, &ql) in low.iter().enumerate() {
                let y8 = load(q8.add(32 * k));
                // 4 where the high bit is clear: q = low - 4 * !high.
                let h = _mm256_andnot_si256(bit_set(hbits, (1u8 << (4 * j + k)) as i8), m4);
                let p = _mm256_sub_epi16(_mm256_maddubs_epi16(ql, y8), _mm256_maddubs_epi16(h, y8));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(bcast16_pair(sc, k as i32), p));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    hsum_ps(acc)
}

/// The eight unbiased 6-bit scales of an IQ4_XS block as i16 lanes, duplicated in both 128-bit
/// halves (for [`bcast16`]).
#[inline(always)]
pub(super) unsafe fn iq4xs_scales(a: &BlockIq4Xs) -> __m256i {
    let l = _mm_cvtsi32_si128(u32::from_le_bytes(a.scales_l) as i32);
    let m4 = _mm_set1_epi8(0x0f);
    // Nibble ib of scales_l (low nibble first) as byte ib.
    let lo = _mm_cvtepu8_epi16(_mm_unpacklo_epi8(_mm_and_si128(l, m4), _mm_and_si128(_mm_srli_epi16(l, 4), m4)));
    // Bits 2ib..2ib+2 of scales_h.
    let h = _mm256_srlv_epi32(_mm256_set1_epi32(a.scales_h as i32), _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14));
    let h = _mm256_and_si256(h, _mm256_set1_epi32(3));
    let h = _mm_packs_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
    let ls = _mm_sub_epi16(_mm_or_si128(lo, _mm_slli_epi16(h, 4)), _mm_set1_epi16(32));
    _mm256_set_m128i(ls, ls)
}

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_iq4_xs_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / QK_K;
    let mut acc = _mm256_setzero_ps();
    for (a, b) in blocks::<BlockIq4Xs>(x, nb).iter().zip(blocks::<BlockQ8K>(y, nb)) {
        let (qs, q8) = (a.qs.as_ptr(), b.qs.as_ptr());
        let sc = iq4xs_scales(a);
        let mut sumi = [_mm256_setzero_si256(), _mm256_setzero_si256()];
        for ib in 0..8 {
            let q4 = lookup16(&KVALUES_IQ4NL, nibbles32(qs.add(16 * ib)));
            let dot = mul_add_i8_epi16(q4, load(q8.add(32 * ib)));
            let p = _mm256_madd_epi16(dot, bcast16(sc, ib as i32));
            sumi[ib & 1] = _mm256_add_epi32(sumi[ib & 1], p);
        }
        let d = fp16(a.d) * b.d;
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(_mm256_add_epi32(sumi[0], sumi[1])), acc);
    }
    hsum_ps(acc)
}

/// Q8_K quantizer, byte-exact with the scalar reference: `iscale = -127 / max` (max keeps
/// its sign, first occurrence), round half to even, clamp to 127.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn quantize_row_q8_k(x: &[f32], y: &mut [u8]) {
    let sign = _mm256_set1_ps(-0.0);
    for (b, x) in blocks_mut::<BlockQ8K>(y, x.len() / QK_K).iter_mut().zip(x.chunks_exact(QK_K)) {
        let p = x.as_ptr();
        let mut m = _mm256_setzero_ps();
        for i in (0..QK_K).step_by(8) {
            m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(p.add(i))));
        }
        let m = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        let amax = _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
        if amax == 0.0 {
            *b = BlockQ8K { d: 0.0, qs: [0; QK_K], bsums: [0; 16] };
            continue;
        }
        let max = *x.iter().find(|v| v.abs() == amax).unwrap();
        let iscale = -127.0 / max;
        let vs = _mm256_set1_ps(iscale);
        let mut qs = [0i8; QK_K];
        let mut sums = [0i16; 16];
        for k in 0..8 {
            let mut q = [_mm256_setzero_si256(); 4];
            for (v, q) in q.iter_mut().enumerate() {
                let t = _mm256_mul_ps(vs, _mm256_loadu_ps(p.add(32 * k + 8 * v)));
                let r = _mm256_round_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                *q = _mm256_min_epi32(_mm256_cvtps_epi32(r), _mm256_set1_epi32(127));
            }
            sums[2 * k] = hsum_epi32(_mm256_add_epi32(q[0], q[1])) as i16;
            sums[2 * k + 1] = hsum_epi32(_mm256_add_epi32(q[2], q[3])) as i16;
            let a = _mm256_packs_epi32(q[0], q[1]);
            let c = _mm256_packs_epi32(q[2], q[3]);
            let packed = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(a, c), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            _mm256_storeu_si256(qs.as_mut_ptr().add(32 * k).cast(), packed);
        }
        *b = BlockQ8K { d: 1.0 / iscale, qs, bsums: sums };
    }
}
