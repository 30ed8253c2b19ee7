//! AVX2 kernels for the codebook types IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S and
//! IQ1_M against Q8_K.
//!
//! Per 32 weights: four 8-byte (or eight 4-byte) grid entries are gathered with scalar
//! table loads into one register, the sign bits become ±1 bytes ([`SIGNS8_PM1`]) applied to
//! the activations with `vpsignb`, then `maddubs` / `madd` with the sub-block scale.

use super::{fp16, hsum_epi32, hsum_ps, mul_add_i8_epi16};
use crate::quant::blocks_iq1::{iq1m_scale, BlockIq1M, BlockIq1S};
use crate::quant::blocks_iq2::{BlockIq2S, BlockIq2Xs, BlockIq2Xxs, BlockIq3S, BlockIq3Xxs};
use crate::quant::blocks_k::BlockQ8K;
use crate::quant::grids::*;
use crate::quant::{blocks, QK_K};
use std::arch::x86_64::*;

#[inline(always)]
unsafe fn q8(b: &BlockQ8K, ib: usize) -> __m256i {
    _mm256_loadu_si256(b.qs.as_ptr().add(32 * ib).cast())
}

#[inline(always)]
unsafe fn set4(e: [u64; 4]) -> __m256i {
    _mm256_set_epi64x(e[3] as i64, e[2] as i64, e[1] as i64, e[0] as i64)
}

/// Scale `lo` for the first 16 weights of a 32-group, `hi` for the last 16, as i16 lanes.
#[inline(always)]
unsafe fn scales_16(lo: i32, hi: i32) -> __m256i {
    _mm256_set_m128i(_mm_set1_epi16(hi as i16), _mm_set1_epi16(lo as i16))
}

/// `grid · (signs ⊙ y)` in i16 pairs, times the scale lanes, as i32 lanes.
#[inline(always)]
unsafe fn grid_dot(grid: __m256i, signs: __m256i, y: __m256i, scales: __m256i) -> __m256i {
    _mm256_madd_epi16(_mm256_maddubs_epi16(grid, _mm256_sign_epi8(y, signs)), scales)
}

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_iq2_xxs_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / QK_K;
    let mut acc = _mm256_setzero_ps();
    for (a, b) in blocks::<BlockIq2Xxs>(x, nb).iter().zip(blocks::<BlockQ8K>(y, nb)) {
        let qs = a.qs;
        let mut sumi = _mm256_setzero_si256();
        for ib in 0..8 {
            let a0 = qs[4 * ib] as u32 | (qs[4 * ib + 1] as u32) << 16;
            let a1 = qs[4 * ib + 2] as u32 | (qs[4 * ib + 3] as u32) << 16;
            let grid = set4(std::array::from_fn(|l| IQ2XXS_GRID[((a0 >> (8 * l)) & 255) as usize]));
            let signs = set4(std::array::from_fn(|l| SIGNS7_PM1[((a1 >> (7 * l)) & 127) as usize]));
            let ls = 2 * (a1 >> 28) as i32 + 1;
            sumi = _mm256_add_epi32(sumi, grid_dot(grid, signs, q8(b, ib), _mm256_set1_epi16(ls as i16)));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(fp16(a.d) * b.d), _mm256_cvtepi32_ps(sumi), acc);
    }
    0.125 * hsum_ps(acc)
}

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_iq2_xs_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / QK_K;
    let mut acc = _mm256_setzero_ps();
    for (a, b) in blocks::<BlockIq2Xs>(x, nb).iter().zip(blocks::<BlockQ8K>(y, nb)) {
        let qs = a.qs;
        let mut sumi = _mm256_setzero_si256();
        for ib in 0..8 {
            let g: [u16; 4] = [qs[4 * ib], qs[4 * ib + 1], qs[4 * ib + 2], qs[4 * ib + 3]];
            let grid = set4(std::array::from_fn(|l| IQ2XS_GRID[(g[l] & 511) as usize]));
            let signs = set4(std::array::from_fn(|l| SIGNS7_PM1[(g[l] >> 9) as usize]));
            let sc = a.scales[ib] as i32;
            let scales = scales_16(2 * (sc & 0x0f) + 1, 2 * (sc >> 4) + 1);
            sumi = _mm256_add_epi32(sumi, grid_dot(grid, signs, q8(b, ib), scales));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(fp16(a.d) * b.d), _mm256_cvtepi32_ps(sumi), acc);
    }
    0.125 * hsum_ps(acc)
}

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_iq2_s_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / QK_K;
    let mut acc = _mm256_setzero_ps();
    for (a, b) in blocks::<BlockIq2S>(x, nb).iter().zip(blocks::<BlockQ8K>(y, nb)) {
        let mut sumi = _mm256_setzero_si256();
        for ib in 0..8 {
            let qh = a.qh[ib] as usize;
            let grid = set4(std::array::from_fn(|l| IQ2S_GRID[a.qs[4 * ib + l] as usize | ((qh << (8 - 2 * l)) & 0x300)]));
            let signs = set4(std::array::from_fn(|l| SIGNS8_PM1[a.qs[32 + 4 * ib + l] as usize]));
            let sc = a.scales[ib] as i32;
            let scales = scales_16(2 * (sc & 0x0f) + 1, 2 * (sc >> 4) + 1);
            sumi = _mm256_add_epi32(sumi, grid_dot(grid, signs, q8(b, ib), scales));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(fp16(a.d) * b.d), _mm256_cvtepi32_ps(sumi), acc);
    }
    0.125 * hsum_ps(acc)
}

/// Eight 4-byte grid entries in order.
#[inline(always)]
unsafe fn set8(e: [u32; 8]) -> __m256i {
    _mm256_setr_epi32(e[0] as i32, e[1] as i32, e[2] as i32, e[3] as i32, e[4] as i32, e[5] as i32, e[6] as i32, e[7] as i32)
}

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_iq3_xxs_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / QK_K;
    let mut acc = _mm256_setzero_ps();
    for (a, b) in blocks::<BlockIq3Xxs>(x, nb).iter().zip(blocks::<BlockQ8K>(y, nb)) {
        let mut sumi = _mm256_setzero_si256();
        for ib in 0..8 {
            let grid = set8(std::array::from_fn(|k| IQ3XXS_GRID[a.qs[8 * ib + k] as usize]));
            let o = 64 + 4 * ib;
            let aux = u32::from_le_bytes([a.qs[o], a.qs[o + 1], a.qs[o + 2], a.qs[o + 3]]);
            let signs = set4(std::array::from_fn(|l| SIGNS7_PM1[((aux >> (7 * l)) & 127) as usize]));
            let ls = 2 * (aux >> 28) as i32 + 1;
            sumi = _mm256_add_epi32(sumi, grid_dot(grid, signs, q8(b, ib), _mm256_set1_epi16(ls as i16)));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(fp16(a.d) * b.d), _mm256_cvtepi32_ps(sumi), acc);
    }
    0.25 * hsum_ps(acc)
}

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_iq3_s_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / QK_K;
    let mut acc = _mm256_setzero_ps();
    for (a, b) in blocks::<BlockIq3S>(x, nb).iter().zip(blocks::<BlockQ8K>(y, nb)) {
        let mut sumi = _mm256_setzero_si256();
        for ib in 0..8 {
            let qh = a.qh[ib] as usize;
            let grid = set8(std::array::from_fn(|k| IQ3S_GRID[a.qs[8 * ib + k] as usize | (((qh >> k) & 1) << 8)]));
            let signs = set4(std::array::from_fn(|l| SIGNS8_PM1[a.signs[4 * ib + l] as usize]));
            let ls = 2 * ((a.scales[ib / 2] >> (4 * (ib % 2))) & 0x0f) as i32 + 1;
            sumi = _mm256_add_epi32(sumi, grid_dot(grid, signs, q8(b, ib), _mm256_set1_epi16(ls as i16)));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(fp16(a.d) * b.d), _mm256_cvtepi32_ps(sumi), acc);
    }
    hsum_ps(acc)
}

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_iq1_s_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / QK_K;
    let mut sumf = 0.0f32;
    for (a, b) in blocks::<BlockIq1S>(x, nb).iter().zip(blocks::<BlockQ8K>(y, nb)) {
        let (qh, bsums) = (a.qh, b.bsums);
        let mut sumi = _mm256_setzero_si256();
        let mut sumd = 0i32;
        for ib in 0..8 {
            let h = qh[ib] as usize;
            let grid = set4(std::array::from_fn(|l| IQ1S_GRID[a.qs[4 * ib + l] as usize | (((h >> (3 * l)) & 7) << 8)]));
            let ls = 2 * ((h >> 12) & 7) as i32 + 1;
            let dot = mul_add_i8_epi16(grid, q8(b, ib));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(dot, _mm256_set1_epi16(ls as i16)));
            let delta = if h & 0x8000 != 0 { -1 } else { 1 };
            sumd += ls * delta * (bsums[2 * ib] as i32 + bsums[2 * ib + 1] as i32);
        }
        sumf += fp16(a.d) * b.d * (hsum_epi32(sumi) as f32 + IQ1S_DELTA * sumd as f32);
    }
    sumf
}

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_iq1_m_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / QK_K;
    let mut sumf = 0.0f32;
    for (a, b) in blocks::<BlockIq1M>(x, nb).iter().zip(blocks::<BlockQ8K>(y, nb)) {
        let sc: [u16; 4] = std::array::from_fn(|k| u16::from_le_bytes([a.scales[2 * k], a.scales[2 * k + 1]]));
        let mut sumi = _mm256_setzero_si256();
        let mut sumd = _mm256_setzero_si256();
        for ib in 0..8 {
            let nib = |l: usize| (a.qh[2 * ib + l / 2] >> (4 * (l % 2))) & 0x0f;
            let grid = set4(std::array::from_fn(|l| IQ1S_GRID[a.qs[4 * ib + l] as usize | (((nib(l) & 7) as usize) << 8)]));
            let delta = set4(std::array::from_fn(|l| if nib(l) & 8 != 0 { u64::MAX } else { 0x0101_0101_0101_0101 }));
            let s = sc[ib / 2] >> (6 * (ib % 2));
            let scales = scales_16(2 * (s & 7) as i32 + 1, 2 * ((s >> 3) & 7) as i32 + 1);
            let y8 = q8(b, ib);
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(mul_add_i8_epi16(grid, y8), scales));
            sumd = _mm256_add_epi32(sumd, _mm256_madd_epi16(mul_add_i8_epi16(delta, y8), scales));
        }
        let (si, sd) = (hsum_epi32(sumi), hsum_epi32(sumd));
        sumf += iq1m_scale(a) * b.d * (si as f32 + IQ1S_DELTA * sd as f32);
    }
    sumf
}
