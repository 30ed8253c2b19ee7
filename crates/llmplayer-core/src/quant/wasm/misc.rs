//! simd128 kernels for the ternary types TQ1_0 / TQ2_0 (against Q8_K; rounded as ggml's AVX2
//! dots, see `exact.rs`, one row or four) and for NVFP4, Q1_0 and Q2_0 (against Q8_0; also
//! rounded as ggml's x86 dots).

use super::exact::{dot_pairs_pre, quads, Acc8};
use super::kquants::{klanes, madd_bsums};
use super::{dot_i8, hi4, hsum_i32, load, lo4, lookup16};
use crate::quant::blocks_k::BlockQ8K;
use crate::quant::blocks_legacy::{BlockQ1_0, BlockQ2_0, BlockQ8_0};
use crate::quant::blocks_nl4::{ue4m3_to_f32_half, BlockNvfp4};
use crate::quant::blocks_ternary::{BlockTq1_0, BlockTq2_0};
use crate::quant::float::f16_to_f32;
use crate::quant::grids::KVALUES_FP4;
use crate::quant::{blocks, QK_K};
use core::arch::wasm32::*;

/// 16 bytes of `bytes` at `off` (bounds-checked).
#[inline(always)]
fn at(bytes: &[u8], off: usize) -> v128 {
    assert!(off + 16 <= bytes.len());
    // SAFETY: bounds checked above.
    unsafe { load(bytes.as_ptr().add(off)) }
}

/// The unsigned trits (0, 1, 2) of TQ2_0 elements 16k..16k+16 (element 128j + 32l + m is
/// bits 2l of byte 32j + m).
#[inline(always)]
fn tq2_trits(a: &BlockTq2_0, k: usize) -> v128 {
    let (j, l, h) = (k / 8, (k % 8) / 2, k % 2);
    v128_and(u16x8_shr(at(&a.qs, 32 * j + 16 * h), 2 * l as u32), i8x16_splat(3))
}

/// Trits (0, 1, 2) of bytes already multiplied by 3^n: `(q >= 86) + (q >= 171)`, which is
/// `(3 q) >> 8`, what ggml's `avg` trick computes.
#[inline(always)]
fn trits(q: v128) -> v128 {
    // Comparison masks are -1 where true.
    i8x16_sub(i8x16_sub(i8x16_splat(0), u8x16_ge(q, u8x16_splat(86))), u8x16_ge(q, u8x16_splat(171)))
}

/// Bytes times 3^n (mod 256).
#[inline(always)]
fn times_pow3(mut q: v128, n: usize) -> v128 {
    for _ in 0..n {
        q = i8x16_add(q, i8x16_add(q, q));
    }
    q
}

/// The unsigned trits of TQ1_0 elements 16k..16k+16: trit n of byte m of qs[0..32] is
/// element 32n + m, of qs[32..48] element 160 + 16n + m, of qh[j] element 240 + 4n + j.
#[inline(always)]
fn tq1_trits(a: &BlockTq1_0, k: usize) -> v128 {
    if k < 10 {
        trits(times_pow3(at(&a.qs, 16 * (k % 2)), k / 2))
    } else if k < 15 {
        trits(times_pow3(at(&a.qs, 32), k - 10))
    } else {
        let h = u32::from_le_bytes(a.qh);
        let mul = |v: u32, k: u32| u32::from_le_bytes(v.to_le_bytes().map(|x| x.wrapping_mul(k as u8)));
        trits(u32x4(h, mul(h, 3), mul(h, 9), mul(h, 27)))
    }
}

/// Defines `$dot` and `$x4` for a ternary type as `ggml_vec_dot_tq*_q8_K` (AVX2) rounds it:
/// the unsigned trits in ggml's lanes minus `madd(bsums, 1)`, `sumf = cvt(lanes) * d + sumf`
/// (contracted to an FMA), `hsum_float_8`.
macro_rules! ternary_kernels {
    ($dot:ident, $x4:ident, $block:ty, $trits:ident) => {
        pub fn $dot(n: usize, x: &[u8], y: &[u8]) -> f32 {
            ternary_rows!($block, $trits, 1, n, x, [y])[0]
        }

        pub fn $x4(n: usize, x: &[u8], y: [&[u8]; 4]) -> [f32; 4] {
            ternary_rows!($block, $trits, 4, n, x, y)
        }
    };
}

macro_rules! ternary_rows {
    ($block:ty, $trits:ident, $r:literal, $n:expr, $x:expr, $ys:expr) => {{
        let nb = $n / QK_K;
        let yb: [&[BlockQ8K]; $r] = core::array::from_fn(|t| blocks::<BlockQ8K>($ys[t], nb));
        let mut acc = [Acc8::new(); $r];
        let ones = (i16x8_splat(1), i16x8_splat(1));
        for (i, a) in blocks::<$block>($x, nb).iter().enumerate() {
            let y: [&BlockQ8K; $r] = core::array::from_fn(|t| &yb[t][i]);
            let lanes = klanes(y, |k| $trits(a, k), |_| 1);
            let d = f16_to_f32(a.d);
            unroll4!($r, |t| {
                let off = madd_bsums(ones, y[t]);
                let (lo, hi) = (i32x4_sub(lanes[t].0, off.0), i32x4_sub(lanes[t].1, off.1));
                acc[t].fma_cvt(y[t].d * d, lo, hi);
            });
        }
        let out: [f32; $r] = core::array::from_fn(|t| acc[t].hsum());
        out
    }};
}

ternary_kernels!(vec_dot_tq1_0_q8_k, vec_dot_tq1_0_q8_k_x4, BlockTq1_0, tq1_trits);
ternary_kernels!(vec_dot_tq2_0_q8_k, vec_dot_tq2_0_q8_k_x4, BlockTq2_0, tq2_trits);

#[inline(always)]
fn q8_0_halves(b: &BlockQ8_0) -> (v128, v128) {
    // SAFETY: a Q8_0 block holds 32 quant bytes.
    unsafe { (load(b.qs.as_ptr().cast()), load(b.qs.as_ptr().add(16).cast())) }
}

/// ggml's 8 lanes (elements 4k..4k+4) of two 16-byte halves against a Q8_0 block.
#[inline(always)]
fn q8_0_lanes(w0: v128, w1: v128, b: &BlockQ8_0) -> (v128, v128) {
    let (y0, y1) = q8_0_halves(b);
    let widen = |v: v128| (i16x8_extend_low_i8x16(v), i16x8_extend_high_i8x16(v));
    (quads(dot_pairs_pre(widen(w0), y0)), quads(dot_pairs_pre(widen(w1), y1)))
}

/// `ggml_vec_dot_nvfp4_q8_0` (AVX2): one NVFP4 block (four UE4M3-scaled sub-blocks of 16)
/// spans two Q8_0 blocks; per Q8_0 block one FMA, lanes 0..4 scaled by the first sub-block's
/// `ue4m3 / 2 * d_y`, lanes 4..8 by the second's.
pub fn vec_dot_nvfp4_q8_0(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / 64;
    let ys = blocks::<BlockQ8_0>(y, 2 * nb);
    let mut acc = Acc8::new();
    for (a, yb) in blocks::<BlockNvfp4>(x, nb).iter().zip(ys.chunks_exact(2)) {
        for (k, b) in yb.iter().enumerate() {
            // Sub-blocks 2k, 2k+1 = bytes 16k..16k+16: 8 bytes each, low nibbles then high.
            let v = at(&a.qs, 16 * k);
            let (lo, hi) = (lo4(v), hi4(v));
            let w0 = lookup16(&KVALUES_FP4, i64x2_shuffle::<0, 2>(lo, hi));
            let w1 = lookup16(&KVALUES_FP4, i64x2_shuffle::<1, 3>(lo, hi));
            let (l0, l1) = q8_0_lanes(w0, w1, b);
            let dy = f16_to_f32(b.d);
            acc.fma2(ue4m3_to_f32_half(a.d[2 * k]) * dy, ue4m3_to_f32_half(a.d[2 * k + 1]) * dy, l0, l1);
        }
    }
    acc.hsum()
}

/// `ggml_vec_dot_q1_0_q8_0` (AVX2): one Q1_0 block (128 sign bits) spans four Q8_0 blocks,
/// whose lanes are combined as `d_y0 * s0`, then `+= d_yk * sk` (exact products: 11 + 9
/// bits, so plain f32 multiply-adds), and the result goes into the accumulator with one FMA
/// of `d_w`.
pub fn vec_dot_q1_0_q8_0(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / 128;
    let ys = blocks::<BlockQ8_0>(y, 4 * nb);
    let mut acc = Acc8::new();
    for (a, yb) in blocks::<BlockQ1_0>(x, nb).iter().zip(ys.chunks_exact(4)) {
        let mut blk = (f32x4_splat(0.0), f32x4_splat(0.0));
        for (k, b) in yb.iter().enumerate() {
            let bits = |o: usize| u16::from_le_bytes([a.qs[4 * k + o], a.qs[4 * k + o + 1]]);
            // +1 where the bit is set, -1 elsewhere: (mask & 2) - 1.
            let pm = |m: v128| i8x16_sub(v128_and(m, i8x16_splat(2)), i8x16_splat(1));
            let (l0, l1) = q8_0_lanes(pm(super::legacy::bits16(bits(0))), pm(super::legacy::bits16(bits(2))), b);
            let dy = f32x4_splat(f16_to_f32(b.d));
            let (p0, p1) = (f32x4_mul(dy, f32x4_convert_i32x4(l0)), f32x4_mul(dy, f32x4_convert_i32x4(l1)));
            blk = if k == 0 { (p0, p1) } else { (f32x4_add(p0, blk.0), f32x4_add(p1, blk.1)) };
        }
        acc.fma_f32_scalar(f16_to_f32(a.d), blk);
    }
    acc.hsum()
}

/// One Q2_0 block (element j at bits 2*(j%4) of byte j/4) spans two Q8_0 blocks. x86 has no
/// SIMD Q2_0 dot, so this rounds as `ggml_vec_dot_q2_0_q8_0_generic`: `sumi += d_y * isum`
/// per Q8_0 block (exact products), `sumf += d_w * sumi` per Q2_0 block, in scalar f32.
pub fn vec_dot_q2_0_q8_0(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / 64;
    let ys = blocks::<BlockQ8_0>(y, 2 * nb);
    let spread0 = i8x16(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    let spread1 = i8x16(4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7);
    // Per byte of a group of 4: shift right by 0, 2, 4, 6 = multiply-free via masks.
    let m0 = u8x16(0x03, 0x0c, 0x30, 0xc0, 0x03, 0x0c, 0x30, 0xc0, 0x03, 0x0c, 0x30, 0xc0, 0x03, 0x0c, 0x30, 0xc0);
    let mut sumf = 0f32;
    for (a, yb) in blocks::<BlockQ2_0>(x, nb).iter().zip(ys.chunks_exact(2)) {
        let mut sumi = 0f32;
        for (k, b) in yb.iter().enumerate() {
            let q = u64::from_le_bytes(a.qs[8 * k..8 * k + 8].try_into().unwrap());
            let v = u64x2_splat(q);
            let unpack = |spread: v128| {
                let t = v128_and(i8x16_swizzle(v, spread), m0);
                // Bring each 2-bit field down: the field sits at bits 2*(j%4), so compare
                // against its possible values scaled by the same shift.
                let f1 = i8x16_eq(t, v128_and(u8x16_splat(0x55), m0));
                let f2 = i8x16_eq(t, v128_and(u8x16_splat(0xaa), m0));
                let f3 = i8x16_eq(t, m0);
                // q - 1 for q = 0..3: -1 + f1*1 + f2*2 + f3*3 (masks are -1 where set).
                let one = i8x16_splat(1);
                let q = i8x16_add(v128_and(f1, one), i8x16_add(v128_and(f2, i8x16_splat(2)), v128_and(f3, i8x16_splat(3))));
                i8x16_sub(q, one)
            };
            let (w0, w1) = (unpack(spread0), unpack(spread1));
            let (y0, y1) = q8_0_halves(b);
            let isum = hsum_i32(i32x4_add(dot_i8(w0, y0), dot_i8(w1, y1)));
            sumi += f16_to_f32(b.d) * isum as f32;
        }
        sumf += f16_to_f32(a.d) * sumi;
    }
    sumf
}
