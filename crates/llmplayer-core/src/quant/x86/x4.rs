//! Register-blocked mat-mat micro-kernels: one weight row against four activation rows.
//!
//! The weight block is unpacked (nibbles, scales, mins) once and used for four tokens, so
//! in prefill each weight byte is loaded and decoded once per 4 tokens instead of per token.

use super::kquants::{bcast16, bcast16_pair, bit_set, iq4xs_scales, k4_mins_and_scales};
use super::{bytes_from_bits_32, fp16, fp16_mul, hsum_ps, lookup16, mul_sum_us8_epi32, nibbles32};
use crate::quant::blocks;
use crate::quant::blocks_k::{BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K};
use crate::quant::blocks_legacy::{BlockQ4_0, BlockQ4_1, BlockQ5_1, BlockQ8_0, BlockQ8_1};
use crate::quant::blocks_nl4::{BlockIq4Nl, BlockIq4Xs};
use crate::quant::grids::KVALUES_IQ4NL;
use crate::quant::QK_K;
use std::arch::x86_64::*;
use std::ptr::addr_of;

#[inline(always)]
unsafe fn hsum4(acc: [__m256; 4]) -> [f32; 4] {
    [hsum_ps(acc[0]), hsum_ps(acc[1]), hsum_ps(acc[2]), hsum_ps(acc[3])]
}

/// Defines `$name(n, w, a)`: one row of `$block` (signed weight bytes `$weights`, scale
/// `$wscale`) against four Q8_0 rows.
macro_rules! dot_q8_0_x4 {
    ($name:ident, $block:ty, |$a:ident| $wscale:expr, $weights:expr) => {
        #[target_feature(enable = "avx2,fma,f16c")]
        pub unsafe fn $name(n: usize, x: &[u8], y: [&[u8]; 4]) -> [f32; 4] {
            let nb = n / 32;
            let xs = blocks::<$block>(x, nb);
            let ys = [
                blocks::<BlockQ8_0>(y[0], nb),
                blocks::<BlockQ8_0>(y[1], nb),
                blocks::<BlockQ8_0>(y[2], nb),
                blocks::<BlockQ8_0>(y[3], nb),
            ];
            let mut acc = [_mm256_setzero_ps(); 4];
            for i in 0..nb {
                let $a = &xs[i];
                let w = $weights;
                let aw = _mm256_sign_epi8(w, w);
                let dw = $wscale;
                for t in 0..4 {
                    let b = &ys[t][i];
                    let qy = _mm256_sign_epi8(_mm256_loadu_si256(b.qs.as_ptr().cast()), w);
                    let p = _mm256_cvtepi32_ps(mul_sum_us8_epi32(aw, qy));
                    acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dw * fp16(b.d)), p, acc[t]);
                }
            }
            hsum4(acc)
        }
    };
}

dot_q8_0_x4!(vec_dot_q8_0_q8_0_x4, BlockQ8_0, |a| fp16(a.d), _mm256_loadu_si256(a.qs.as_ptr().cast()));
dot_q8_0_x4!(vec_dot_q4_0_q8_0_x4, BlockQ4_0, |a| fp16(a.d), _mm256_sub_epi8(nibbles32(a.qs.as_ptr()), _mm256_set1_epi8(8)));
dot_q8_0_x4!(vec_dot_iq4_nl_q8_0_x4, BlockIq4Nl, |a| fp16(a.d), lookup16(&KVALUES_IQ4NL, nibbles32(a.qs.as_ptr())));

/// Defines `$name(n, w, a)`: one row of `$block` (unsigned weight bytes `$weights`, scale
/// `d`, offset `m`) against four Q8_1 rows, each token's sum in `vec_dot_q4_1_q8_1`'s order
/// (one vector accumulator of `d * dy * q·y`, the `m * s` terms fused separately, added after
/// the horizontal sum), so a batch rounds as its rows alone do.
macro_rules! dot_q8_1_x4 {
    ($name:ident, $block:ty, |$a:ident| $weights:expr) => {
        #[target_feature(enable = "avx2,fma,f16c")]
        pub unsafe fn $name(n: usize, x: &[u8], y: [&[u8]; 4]) -> [f32; 4] {
            let nb = n / 32;
            let xs = blocks::<$block>(x, nb);
            let ys = [
                blocks::<BlockQ8_1>(y[0], nb),
                blocks::<BlockQ8_1>(y[1], nb),
                blocks::<BlockQ8_1>(y[2], nb),
                blocks::<BlockQ8_1>(y[3], nb),
            ];
            let mut acc = [_mm256_setzero_ps(); 4];
            let mut summs = [_mm_setzero_ps(); 4];
            for i in 0..nb {
                let $a = &xs[i];
                let w = $weights;
                let m = _mm_set_ss(fp16($a.m));
                for t in 0..4 {
                    let b = &ys[t][i];
                    let qy = _mm256_loadu_si256(b.qs.as_ptr().cast());
                    let q = _mm256_cvtepi32_ps(mul_sum_us8_epi32(w, qy));
                    acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(fp16_mul($a.d, b.d)), q, acc[t]);
                    summs[t] = _mm_fmadd_ss(m, _mm_set_ss(fp16(b.s)), summs[t]);
                }
            }
            let h = hsum4(acc);
            [0, 1, 2, 3].map(|t| h[t] + _mm_cvtss_f32(summs[t]))
        }
    };
}

dot_q8_1_x4!(vec_dot_q4_1_q8_1_x4, BlockQ4_1, |a| nibbles32(a.qs.as_ptr()));
dot_q8_1_x4!(
    vec_dot_q5_1_q8_1_x4,
    BlockQ5_1,
    |a| _mm256_or_si256(nibbles32(a.qs.as_ptr()), _mm256_and_si256(bytes_from_bits_32(u32::from_le_bytes(a.qh)), _mm256_set1_epi8(0x10)))
);

#[inline(always)]
unsafe fn q8k_rows(y: [&[u8]; 4], nb: usize) -> [&[BlockQ8K]; 4] {
    [blocks::<BlockQ8K>(y[0], nb), blocks::<BlockQ8K>(y[1], nb), blocks::<BlockQ8K>(y[2], nb), blocks::<BlockQ8K>(y[3], nb)]
}

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_q4_k_q8_k_x4(n: usize, x: &[u8], y: [&[u8]; 4]) -> [f32; 4] {
    let nb = n / QK_K;
    let xs = blocks::<BlockQ4K>(x, nb);
    let ys = q8k_rows(y, nb);
    let m4 = _mm256_set1_epi8(0x0f);
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut acc_m = [_mm_setzero_ps(); 4];
    for (i, a) in xs.iter().enumerate() {
        let (d, dmin) = (fp16(a.d), fp16(a.dmin));
        let ms = k4_mins_and_scales(&a.scales);
        let mins = _mm256_extracti128_si256(ms, 1);
        let sc = _mm256_permute2x128_si256(ms, ms, 0x00);
        let mut sumi = [_mm256_setzero_si256(); 4];
        for j in 0..4 {
            let bits = _mm256_loadu_si256(a.qs.as_ptr().add(32 * j).cast());
            let lo = _mm256_and_si256(bits, m4);
            let hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
            let s_lo = _mm256_shuffle_epi8(sc, _mm256_set1_epi16((((4 * j + 1) << 8) | (4 * j)) as i16));
            let s_hi = _mm256_shuffle_epi8(sc, _mm256_set1_epi16((((4 * j + 3) << 8) | (4 * j + 2)) as i16));
            for t in 0..4 {
                let q8 = ys[t][i].qs.as_ptr().add(64 * j);
                let p_lo = _mm256_madd_epi16(s_lo, _mm256_maddubs_epi16(lo, _mm256_loadu_si256(q8.cast())));
                let p_hi = _mm256_madd_epi16(s_hi, _mm256_maddubs_epi16(hi, _mm256_loadu_si256(q8.add(32).cast())));
                sumi[t] = _mm256_add_epi32(sumi[t], _mm256_add_epi32(p_lo, p_hi));
            }
        }
        for t in 0..4 {
            let b = &ys[t][i];
            let s = _mm256_loadu_si256(addr_of!(b.bsums).cast());
            let q8s = _mm_hadd_epi16(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
            let prod = _mm_cvtepi32_ps(_mm_madd_epi16(mins, q8s));
            acc_m[t] = _mm_fmadd_ps(_mm_set1_ps(-b.d * dmin), prod, acc_m[t]);
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(b.d * d), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
        }
    }
    let mut out = [0.0f32; 4];
    for t in 0..4 {
        let m = _mm_add_ps(acc_m[t], _mm_movehl_ps(acc_m[t], acc_m[t]));
        out[t] = hsum_ps(acc[t]) + _mm_cvtss_f32(_mm_add_ss(m, _mm_movehdup_ps(m)));
    }
    out
}

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_q6_k_q8_k_x4(n: usize, x: &[u8], y: [&[u8]; 4]) -> [f32; 4] {
    let nb = n / QK_K;
    let xs = blocks::<BlockQ6K>(x, nb);
    let ys = q8k_rows(y, nb);
    let m4 = _mm256_set1_epi8(0x0f);
    let mut acc = [_mm256_setzero_ps(); 4];
    for (i, a) in xs.iter().enumerate() {
        let d = fp16(a.d);
        let scales = _mm_loadu_si128(a.scales.as_ptr().cast());
        let scales16 = _mm256_cvtepi8_epi16(scales);
        let mut sumi = [_mm256_setzero_si256(); 4];
        for t in 0..4 {
            // The -32 offset through the activation sums.
            let bs = _mm256_loadu_si256(addr_of!(ys[t][i].bsums).cast());
            sumi[t] = _mm256_sub_epi32(sumi[t], _mm256_slli_epi32(_mm256_madd_epi16(bs, scales16), 5));
        }
        for j in 0..2 {
            let (ql, qh) = (a.ql.as_ptr().add(64 * j), a.qh.as_ptr().add(32 * j));
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
                let s0 = (8 * j + 2 * k) as u8;
                let shuf = _mm_set_epi64x(i64::from_ne_bytes([s0 + 1; 8]), i64::from_ne_bytes([s0; 8]));
                let sc = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(scales, shuf));
                for t in 0..4 {
                    let y8 = _mm256_loadu_si256(ys[t][i].qs.as_ptr().add(128 * j + 32 * k).cast());
                    sumi[t] = _mm256_add_epi32(sumi[t], _mm256_madd_epi16(sc, _mm256_maddubs_epi16(qk, y8)));
                }
            }
        }
        for t in 0..4 {
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * ys[t][i].d), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
        }
    }
    hsum4(acc)
}

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_iq4_xs_q8_k_x4(n: usize, x: &[u8], y: [&[u8]; 4]) -> [f32; 4] {
    let nb = n / QK_K;
    let xs = blocks::<BlockIq4Xs>(x, nb);
    let ys = q8k_rows(y, nb);
    let mut acc = [_mm256_setzero_ps(); 4];
    for (i, a) in xs.iter().enumerate() {
        let mut sumi = [_mm256_setzero_si256(); 4];
        let sc = iq4xs_scales(a);
        for ib in 0..8 {
            let w = lookup16(&KVALUES_IQ4NL, nibbles32(a.qs.as_ptr().add(16 * ib)));
            let aw = _mm256_sign_epi8(w, w);
            let ls = bcast16(sc, ib as i32);
            for t in 0..4 {
                let y8 = _mm256_sign_epi8(_mm256_loadu_si256(ys[t][i].qs.as_ptr().add(32 * ib).cast()), w);
                sumi[t] = _mm256_add_epi32(sumi[t], _mm256_madd_epi16(_mm256_maddubs_epi16(aw, y8), ls));
            }
        }
        let d = fp16(a.d);
        for t in 0..4 {
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * ys[t][i].d), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
        }
    }
    hsum4(acc)
}

/// `sum_j mins[j] * (bsums[2j] + bsums[2j+1])` as 4 i32 lanes (ggml's Q4_K / Q5_K `prod`).
#[inline(always)]
unsafe fn k4_min_lanes(mins: __m128i, b: &BlockQ8K) -> __m128i {
    let s = _mm256_loadu_si256(addr_of!(b.bsums).cast());
    _mm_madd_epi16(mins, _mm_hadd_epi16(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1)))
}

/// Q5_K's min terms of one super-block for the four tokens, lane `t` for token `t`: ggml's
/// scalar `summs += dmin * isum` (`isum`: the 4 min products summed in integers, see
/// `kquants::k5_min_sum`), one fma per token, here four at once.
#[inline(always)]
unsafe fn k5_min_terms(mins: __m128i, b: [&BlockQ8K; 4], dmin: f32, summs: __m128) -> __m128 {
    let (p0, p1) = (k4_min_lanes(mins, b[0]), k4_min_lanes(mins, b[1]));
    let (p2, p3) = (k4_min_lanes(mins, b[2]), k4_min_lanes(mins, b[3]));
    // Lane t: the 4 lanes of `p_t` summed (exact in integers, in any order).
    let isum = _mm_hadd_epi32(_mm_hadd_epi32(p0, p1), _mm_hadd_epi32(p2, p3));
    // `-y.d * dmin` as ggml forms it (negating either factor rounds the same).
    let dm = _mm_mul_ps(_mm_setr_ps(b[0].d, b[1].d, b[2].d, b[3].d), _mm_set1_ps(-dmin));
    _mm_fmadd_ps(dm, _mm_cvtepi32_ps(isum), summs)
}

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_q5_k_q8_k_x4(n: usize, x: &[u8], y: [&[u8]; 4]) -> [f32; 4] {
    let nb = n / QK_K;
    let xs = blocks::<BlockQ5K>(x, nb);
    let ys = q8k_rows(y, nb);
    let (m4, m16) = (_mm256_set1_epi8(0x0f), _mm256_set1_epi8(0x10));
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut summs = _mm_setzero_ps();
    for (i, a) in xs.iter().enumerate() {
        let (d, dmin) = (fp16(a.d), fp16(a.dmin));
        let ms = k4_mins_and_scales(&a.scales);
        let mins = _mm256_extracti128_si256(ms, 1);
        let sc = _mm256_permute2x128_si256(ms, ms, 0x00);
        let hbits = _mm256_loadu_si256(a.qh.as_ptr().cast());
        let mut sumi = [_mm256_setzero_si256(); 4];
        for j in 0..4 {
            let bits = _mm256_loadu_si256(a.qs.as_ptr().add(32 * j).cast());
            let h0 = _mm256_and_si256(bit_set(hbits, 1 << (2 * j)), m16);
            let h1 = _mm256_and_si256(bit_set(hbits, (1u8 << (2 * j + 1)) as i8), m16);
            let lo = _mm256_or_si256(_mm256_and_si256(bits, m4), h0);
            let hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bits, 4), m4), h1);
            let s_lo = _mm256_shuffle_epi8(sc, _mm256_set1_epi16((((4 * j + 1) << 8) | (4 * j)) as i16));
            let s_hi = _mm256_shuffle_epi8(sc, _mm256_set1_epi16((((4 * j + 3) << 8) | (4 * j + 2)) as i16));
            for t in 0..4 {
                let q8 = ys[t][i].qs.as_ptr().add(64 * j);
                let p_lo = _mm256_madd_epi16(s_lo, _mm256_maddubs_epi16(lo, _mm256_loadu_si256(q8.cast())));
                let p_hi = _mm256_madd_epi16(s_hi, _mm256_maddubs_epi16(hi, _mm256_loadu_si256(q8.add(32).cast())));
                sumi[t] = _mm256_add_epi32(sumi[t], _mm256_add_epi32(p_lo, p_hi));
            }
        }
        summs = k5_min_terms(mins, [&ys[0][i], &ys[1][i], &ys[2][i], &ys[3][i]], dmin, summs);
        for t in 0..4 {
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(ys[t][i].d * d), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
        }
    }
    let mut m = [0.0f32; 4];
    _mm_storeu_ps(m.as_mut_ptr(), summs);
    let h = hsum4(acc);
    [h[0] + m[0], h[1] + m[1], h[2] + m[2], h[3] + m[3]]
}

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_q2_k_q8_k_x4(n: usize, x: &[u8], y: [&[u8]; 4]) -> [f32; 4] {
    let nb = n / QK_K;
    let xs = blocks::<BlockQ2K>(x, nb);
    let ys = q8k_rows(y, nb);
    let m3 = _mm256_set1_epi8(3);
    let mut acc = [_mm256_setzero_ps(); 4];
    for (i, a) in xs.iter().enumerate() {
        let (d, dmin) = (fp16(a.d), fp16(a.dmin));
        let ms = _mm_loadu_si128(a.scales.as_ptr().cast());
        let m4 = _mm_set1_epi8(0x0f);
        let mins = _mm256_cvtepi8_epi16(_mm_and_si128(_mm_srli_epi16(ms, 4), m4));
        let all = _mm256_cvtepi8_epi16(_mm_and_si128(ms, m4));
        let scales = [_mm256_permute2x128_si256(all, all, 0x00), _mm256_permute2x128_si256(all, all, 0x11)];
        let mut sumi = [_mm256_setzero_si256(); 4];
        for j in 0..2 {
            let bits = _mm256_loadu_si256(a.qs.as_ptr().add(32 * j).cast());
            let q = [
                _mm256_and_si256(bits, m3),
                _mm256_and_si256(_mm256_srli_epi16(bits, 2), m3),
                _mm256_and_si256(_mm256_srli_epi16(bits, 4), m3),
                _mm256_and_si256(_mm256_srli_epi16(bits, 6), m3),
            ];
            for (k, &qk) in q.iter().enumerate() {
                let sc = bcast16_pair(scales[j], k as i32);
                for t in 0..4 {
                    let y8 = _mm256_loadu_si256(ys[t][i].qs.as_ptr().add(128 * j + 32 * k).cast());
                    sumi[t] = _mm256_add_epi32(sumi[t], _mm256_madd_epi16(sc, _mm256_maddubs_epi16(qk, y8)));
                }
            }
        }
        for t in 0..4 {
            let b = &ys[t][i];
            let prod = _mm256_madd_epi16(mins, _mm256_loadu_si256(addr_of!(b.bsums).cast()));
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(-b.d * dmin), _mm256_cvtepi32_ps(prod), acc[t]);
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(b.d * d), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
        }
    }
    hsum4(acc)
}

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_q3_k_q8_k_x4(n: usize, x: &[u8], y: [&[u8]; 4]) -> [f32; 4] {
    let nb = n / QK_K;
    let xs = blocks::<BlockQ3K>(x, nb);
    let ys = q8k_rows(y, nb);
    let (m3, m4) = (_mm256_set1_epi8(3), _mm256_set1_epi8(4));
    let mut acc = [_mm256_setzero_ps(); 4];
    for (i, a) in xs.iter().enumerate() {
        let d = fp16(a.d);
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
        let mut sumi = [_mm256_setzero_si256(); 4];
        for j in 0..2 {
            let bits = _mm256_loadu_si256(a.qs.as_ptr().add(32 * j).cast());
            let low = [
                _mm256_and_si256(bits, m3),
                _mm256_and_si256(_mm256_srli_epi16(bits, 2), m3),
                _mm256_and_si256(_mm256_srli_epi16(bits, 4), m3),
                _mm256_and_si256(_mm256_srli_epi16(bits, 6), m3),
            ];
            for (k, &ql) in low.iter().enumerate() {
                let h = _mm256_andnot_si256(bit_set(hbits, (1u8 << (4 * j + k)) as i8), m4);
                let sc = bcast16_pair(scales[j], k as i32);
                for t in 0..4 {
                    let y8 = _mm256_loadu_si256(ys[t][i].qs.as_ptr().add(128 * j + 32 * k).cast());
                    let p = _mm256_sub_epi16(_mm256_maddubs_epi16(ql, y8), _mm256_maddubs_epi16(h, y8));
                    sumi[t] = _mm256_add_epi32(sumi[t], _mm256_madd_epi16(sc, p));
                }
            }
        }
        for t in 0..4 {
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * ys[t][i].d), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
        }
    }
    hsum4(acc)
}
