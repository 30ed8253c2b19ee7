//! simd128 kernels for the codebook types IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S and
//! IQ1_M against Q8_K: grid entries gathered with scalar loads, 16 weights per register,
//! signs applied as `(g ^ m) - m` with `m` = 0 / -1 bytes. All round as ggml's
//! AVX2 dots (see `exact.rs`), one row or four.

use super::exact::{fma_scalar, Acc8};
use super::kquants::klanes;
use crate::quant::blocks_iq1::{iq1m_scale, BlockIq1M, BlockIq1S};
use crate::quant::blocks_iq2::{BlockIq2S, BlockIq2Xs, BlockIq2Xxs, BlockIq3S, BlockIq3Xxs};
use crate::quant::blocks_k::BlockQ8K;
use crate::quant::float::f16_to_f32;
use crate::quant::grids::*;
use crate::quant::{blocks, QK_K};
use core::arch::wasm32::*;

/// Two 8-byte grid entries with two ±1 sign words applied.
#[inline(always)]
fn signed(g0: u64, g1: u64, s0: u64, s1: u64) -> v128 {
    let g = u64x2(g0, g1);
    let m = i8x16_shr(u64x2(s0, s1), 7);
    i8x16_sub(v128_xor(g, m), m)
}

/// Defines `$dot` and `$x4` for a grid type as `ggml_vec_dot_iq*_q8_K` (AVX2) rounds it:
/// ggml's eight lanes of signed grid values times the odd group scales ([`klanes`]), one FMA
/// of `f16(d) * y.d` per super-block, `$factor * hsum_float_8`. `$w` / `$s`: weights and scale
/// of the 16 elements `16 * $k..` of block `$a`.
macro_rules! grid_kernels {
    ($dot:ident, $x4:ident, $block:ty, $factor:expr, |$a:ident, $k:ident| $w:expr, $s:expr) => {
        pub fn $dot(n: usize, x: &[u8], y: &[u8]) -> f32 {
            grid_rows!($block, $factor, |$a, $k| $w, $s, 1, n, x, [y])[0]
        }

        pub fn $x4(n: usize, x: &[u8], y: [&[u8]; 4]) -> [f32; 4] {
            grid_rows!($block, $factor, |$a, $k| $w, $s, 4, n, x, y)
        }
    };
}

macro_rules! grid_rows {
    ($block:ty, $factor:expr, |$a:ident, $k:ident| $w:expr, $s:expr, $r:literal, $n:expr, $x:expr, $ys:expr) => {{
        let nb = $n / QK_K;
        let yb: [&[BlockQ8K]; $r] = core::array::from_fn(|t| blocks::<BlockQ8K>($ys[t], nb));
        let mut acc = [Acc8::new(); $r];
        for (i, $a) in blocks::<$block>($x, nb).iter().enumerate() {
            let y: [&BlockQ8K; $r] = core::array::from_fn(|t| &yb[t][i]);
            let lanes = klanes(y, |$k| $w, |$k| $s);
            let d = f16_to_f32($a.d);
            unroll4!($r, |t| {
                acc[t].fma_cvt(d * y[t].d, lanes[t].0, lanes[t].1);
            });
        }
        let out: [f32; $r] = core::array::from_fn(|t| $factor * acc[t].hsum());
        out
    }};
}

/// The two 32-bit words of IQ2_XXS group `ib`: grid indices, then signs and scale.
#[inline(always)]
fn iq2xxs_aux(qs: &[u16; 32], ib: usize) -> (u32, u32) {
    (qs[4 * ib] as u32 | (qs[4 * ib + 1] as u32) << 16, qs[4 * ib + 2] as u32 | (qs[4 * ib + 3] as u32) << 16)
}

grid_kernels!(vec_dot_iq2_xxs_q8_k, vec_dot_iq2_xxs_q8_k_x4, BlockIq2Xxs, 0.125, |a, k| {
    let qs = a.qs;
    let (a0, a1) = iq2xxs_aux(&qs, k / 2);
    let l = 2 * (k % 2);
    let g = |l: usize| IQ2XXS_GRID[((a0 >> (8 * l)) & 255) as usize];
    let s = |l: usize| SIGNS7_PM1[((a1 >> (7 * l)) & 127) as usize];
    signed(g(l), g(l + 1), s(l), s(l + 1))
}, {
    let qs = a.qs;
    2 * (iq2xxs_aux(&qs, k / 2).1 >> 28) as i32 + 1
});

grid_kernels!(vec_dot_iq2_xs_q8_k, vec_dot_iq2_xs_q8_k_x4, BlockIq2Xs, 0.125, |a, k| {
    let qs = a.qs;
    let (v0, v1) = (qs[2 * k], qs[2 * k + 1]);
    signed(
        IQ2XS_GRID[(v0 & 511) as usize],
        IQ2XS_GRID[(v1 & 511) as usize],
        SIGNS7_PM1[(v0 >> 9) as usize],
        SIGNS7_PM1[(v1 >> 9) as usize],
    )
}, 2 * ((a.scales[k / 2] >> (4 * (k % 2))) & 0x0f) as i32 + 1);

grid_kernels!(vec_dot_iq2_s_q8_k, vec_dot_iq2_s_q8_k_x4, BlockIq2S, 0.125, |a, k| {
    let (ib, l) = (k / 2, 2 * (k % 2));
    let qh = a.qh[ib] as usize;
    let g = |l: usize| IQ2S_GRID[a.qs[4 * ib + l] as usize | ((qh << (8 - 2 * l)) & 0x300)];
    let s = |l: usize| SIGNS8_PM1[a.qs[32 + 4 * ib + l] as usize];
    signed(g(l), g(l + 1), s(l), s(l + 1))
}, 2 * ((a.scales[k / 2] >> (4 * (k % 2))) & 0x0f) as i32 + 1);

/// Four 4-byte grid entries with two ±1 sign words applied.
#[inline(always)]
fn signed4(g: [u32; 4], s0: u64, s1: u64) -> v128 {
    let g = u32x4(g[0], g[1], g[2], g[3]);
    let m = i8x16_shr(u64x2(s0, s1), 7);
    i8x16_sub(v128_xor(g, m), m)
}

/// The signs-and-scale word of IQ3_XXS group `ib`.
#[inline(always)]
fn iq3xxs_aux(a: &BlockIq3Xxs, ib: usize) -> u32 {
    let o = 64 + 4 * ib;
    u32::from_le_bytes([a.qs[o], a.qs[o + 1], a.qs[o + 2], a.qs[o + 3]])
}

grid_kernels!(vec_dot_iq3_xxs_q8_k, vec_dot_iq3_xxs_q8_k_x4, BlockIq3Xxs, 0.25, |a, k| {
    let (ib, l) = (k / 2, 2 * (k % 2));
    let aux = iq3xxs_aux(a, ib);
    let g: [u32; 4] = core::array::from_fn(|i| IQ3XXS_GRID[a.qs[8 * ib + 2 * l + i] as usize]);
    let s = |l: usize| SIGNS7_PM1[((aux >> (7 * l)) & 127) as usize];
    signed4(g, s(l), s(l + 1))
}, 2 * (iq3xxs_aux(a, k / 2) >> 28) as i32 + 1);

grid_kernels!(vec_dot_iq3_s_q8_k, vec_dot_iq3_s_q8_k_x4, BlockIq3S, 1.0, |a, k| {
    let (ib, l) = (k / 2, 2 * (k % 2));
    let qh = a.qh[ib] as usize;
    let g: [u32; 4] = core::array::from_fn(|i| {
        let j = 2 * l + i;
        IQ3S_GRID[a.qs[8 * ib + j] as usize | (((qh >> j) & 1) << 8)]
    });
    signed4(g, SIGNS8_PM1[a.signs[4 * ib + l] as usize], SIGNS8_PM1[a.signs[4 * ib + l + 1] as usize])
}, 2 * ((a.scales[k / 4] >> (4 * ((k / 2) % 2))) & 0x0f) as i32 + 1);

/// Defines `$dot` and `$x4` from a macro `$rows!(R, n, x, ys)`.
macro_rules! rows_kernels {
    ($dot:ident, $x4:ident, $rows:ident) => {
        pub fn $dot(n: usize, x: &[u8], y: &[u8]) -> f32 {
            $rows!(1, n, x, [y])[0]
        }

        pub fn $x4(n: usize, x: &[u8], y: [&[u8]; 4]) -> [f32; 4] {
            $rows!(4, n, x, y)
        }
    };
}

/// IQ1_S grid values of elements 16k..16k+16.
#[inline(always)]
fn iq1s_grid(a: &BlockIq1S, k: usize) -> v128 {
    let (ib, l) = (k / 2, 2 * (k % 2));
    let qh = a.qh;
    let h = qh[ib] as usize;
    let g = |l: usize| IQ1S_GRID[a.qs[4 * ib + l] as usize | (((h >> (3 * l)) & 7) << 8)];
    u64x2(g(l), g(l + 1))
}

/// `ggml_vec_dot_iq1_s_q8_K` (AVX2): the grid values in ggml's lanes times the group scales,
/// one FMA of `d = y.d * f16(x.d)` per super-block; the delta terms summed in integers into a
/// scalar (`accum1 += d * sumi1`, contracted to an FMA); `hsum + IQ1S_DELTA * accum1`.
macro_rules! iq1s_rows {
    ($r:literal, $n:expr, $x:expr, $ys:expr) => {{
        let nb = $n / QK_K;
        let yb: [&[BlockQ8K]; $r] = core::array::from_fn(|t| blocks::<BlockQ8K>($ys[t], nb));
        let (mut acc, mut accum1) = ([Acc8::new(); $r], [0f32; $r]);
        for (i, a) in blocks::<BlockIq1S>($x, nb).iter().enumerate() {
            let y: [&BlockQ8K; $r] = core::array::from_fn(|t| &yb[t][i]);
            let qh = a.qh;
            let ls = |ib: usize| 2 * ((qh[ib] >> 12) & 7) as i32 + 1;
            let lanes = klanes(y, |k| iq1s_grid(a, k), |k| ls(k / 2));
            let d = f16_to_f32(a.d);
            unroll4!($r, |t| {
                let bsums = y[t].bsums;
                let sumi1: i32 = (0..8)
                    .map(|ib| {
                        let delta = if qh[ib] & 0x8000 != 0 { -1 } else { 1 };
                        ls(ib) * delta * (bsums[2 * ib] as i32 + bsums[2 * ib + 1] as i32)
                    })
                    .sum();
                let dt = y[t].d * d;
                acc[t].fma_cvt(dt, lanes[t].0, lanes[t].1);
                accum1[t] = fma_scalar(dt, sumi1 as f32, accum1[t]);
            });
        }
        let out: [f32; $r] = core::array::from_fn(|t| acc[t].hsum() + IQ1S_DELTA * accum1[t]);
        out
    }};
}

rows_kernels!(vec_dot_iq1_s_q8_k, vec_dot_iq1_s_q8_k_x4, iq1s_rows);

/// `ggml_vec_dot_iq1_m_q8_K` (AVX2): the grid values and the delta signs (±1), each times the
/// scales of their 16-element groups, in two 8-lane accumulators with one FMA each of
/// `d = y.d * f16(scale)` per super-block; `hsum(acc1) + IQ1M_DELTA * hsum(acc2)`.
macro_rules! iq1m_rows {
    ($r:literal, $n:expr, $x:expr, $ys:expr) => {{
        let nb = $n / QK_K;
        let yb: [&[BlockQ8K]; $r] = core::array::from_fn(|t| blocks::<BlockQ8K>($ys[t], nb));
        let (mut acc1, mut acc2) = ([Acc8::new(); $r], [Acc8::new(); $r]);
        for (i, a) in blocks::<BlockIq1M>($x, nb).iter().enumerate() {
            let y: [&BlockQ8K; $r] = core::array::from_fn(|t| &yb[t][i]);
            let sc: [u16; 4] = core::array::from_fn(|k| u16::from_le_bytes([a.scales[2 * k], a.scales[2 * k + 1]]));
            // Group k of 16 = 8-groups 2k, 2k+1; its nibble byte is qh[k].
            let ls = |k: usize| {
                let ib = k / 2;
                2 * ((sc[ib / 2] >> (6 * (ib % 2) + 3 * (k % 2))) & 7) as i32 + 1
            };
            let grid = |k: usize| {
                let h = a.qh[k] as usize;
                u64x2(IQ1S_GRID[a.qs[2 * k] as usize | ((h & 7) << 8)], IQ1S_GRID[a.qs[2 * k + 1] as usize | (((h >> 4) & 7) << 8)])
            };
            let delta = |k: usize| {
                let d = |bit: u8| if a.qh[k] & bit != 0 { u64::MAX } else { 0x0101_0101_0101_0101 };
                u64x2(d(0x08), d(0x80))
            };
            let (l1, l2) = (klanes(y, grid, ls), klanes(y, delta, ls));
            let d = iq1m_scale(a);
            unroll4!($r, |t| {
                acc1[t].fma_cvt(y[t].d * d, l1[t].0, l1[t].1);
                acc2[t].fma_cvt(y[t].d * d, l2[t].0, l2[t].1);
            });
        }
        let out: [f32; $r] = core::array::from_fn(|t| acc1[t].hsum() + IQ1S_DELTA * acc2[t].hsum());
        out
    }};
}

rows_kernels!(vec_dot_iq1_m_q8_k, vec_dot_iq1_m_q8_k_x4, iq1m_rows);
