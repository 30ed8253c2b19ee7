//! simd128 kernels for the ternary types TQ1_0 / TQ2_0 (against Q8_K) and for NVFP4, Q1_0
//! and Q2_0 (against Q8_0).

use super::{dot_i8, hi4, hsum_f32, hsum_i32, load, lo4, lookup16};
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

#[inline(always)]
fn y16(b: &BlockQ8K, k: usize) -> v128 {
    assert!(k < 16);
    // SAFETY: 256 quant bytes, k < 16.
    unsafe { load(b.qs.as_ptr().add(16 * k).cast()) }
}

#[inline(always)]
fn bsum_total(b: &BlockQ8K) -> i32 {
    let bsums = b.bsums;
    bsums.iter().map(|&s| s as i32).sum()
}

pub fn vec_dot_tq2_0_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / QK_K;
    let mut sumf = 0.0f32;
    for (a, b) in blocks::<BlockTq2_0>(x, nb).iter().zip(blocks::<BlockQ8K>(y, nb)) {
        let mut acc = i32x4_splat(0);
        for k in 0..16 {
            // Element 128j + 32l + m is bits 2l of byte 32j + m.
            let (j, l, h) = (k / 8, (k % 8) / 2, k % 2);
            let q = v128_and(u8x16_shr(at(&a.qs, 32 * j + 16 * h), 2 * l as u32), i8x16_splat(3));
            acc = i32x4_add(acc, dot_i8(q, y16(b, k)));
        }
        // Weights are q - 1: subtract the activation sum.
        let isum = hsum_i32(acc) - bsum_total(b);
        sumf += isum as f32 * (b.d * f16_to_f32(a.d));
    }
    sumf
}

/// Trits (0, 1, 2) of bytes already multiplied by 3^n: `(q >= 86) + (q >= 171)`.
#[inline(always)]
fn trits(q: v128) -> v128 {
    // Comparison masks are -1 where true.
    i8x16_sub(i8x16_sub(i8x16_splat(0), u8x16_ge(q, u8x16_splat(86))), u8x16_ge(q, u8x16_splat(171)))
}

#[inline(always)]
fn times3(q: v128) -> v128 {
    i8x16_add(q, i8x16_add(q, q))
}

pub fn vec_dot_tq1_0_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / QK_K;
    let mut sumf = 0.0f32;
    for (a, b) in blocks::<BlockTq1_0>(x, nb).iter().zip(blocks::<BlockQ8K>(y, nb)) {
        let mut acc = i32x4_splat(0);
        // Bytes 0..32: trit n of byte m is element 32n + m.
        let (mut q0, mut q1) = (at(&a.qs, 0), at(&a.qs, 16));
        for n in 0..5 {
            acc = i32x4_add(acc, dot_i8(trits(q0), y16(b, 2 * n)));
            acc = i32x4_add(acc, dot_i8(trits(q1), y16(b, 2 * n + 1)));
            (q0, q1) = (times3(q0), times3(q1));
        }
        // Bytes 32..48: element 160 + 16n + m.
        let mut q = at(&a.qs, 32);
        for n in 0..5 {
            acc = i32x4_add(acc, dot_i8(trits(q), y16(b, 10 + n)));
            q = times3(q);
        }
        // qh: element 240 + 4n + j is trit n of qh[j] (n < 4).
        let h = u32::from_le_bytes(a.qh);
        let mul = |v: u32, k: u32| {
            let b = v.to_le_bytes().map(|x| x.wrapping_mul(k as u8));
            u32::from_le_bytes(b)
        };
        let hq = u32x4(h, mul(h, 3), mul(h, 9), mul(h, 27));
        acc = i32x4_add(acc, dot_i8(trits(hq), y16(b, 15)));
        let isum = hsum_i32(acc) - bsum_total(b);
        sumf += isum as f32 * (f16_to_f32(a.d) * b.d);
    }
    sumf
}

#[inline(always)]
fn q8_0_halves(b: &BlockQ8_0) -> (v128, v128) {
    // SAFETY: a Q8_0 block holds 32 quant bytes.
    unsafe { (load(b.qs.as_ptr().cast()), load(b.qs.as_ptr().add(16).cast())) }
}

/// One NVFP4 block (four UE4M3-scaled sub-blocks of 16) spans two Q8_0 blocks.
pub fn vec_dot_nvfp4_q8_0(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / 64;
    let ys = blocks::<BlockQ8_0>(y, 2 * nb);
    let mut acc = f32x4_splat(0.0);
    for (a, yb) in blocks::<BlockNvfp4>(x, nb).iter().zip(ys.chunks_exact(2)) {
        for (k, b) in yb.iter().enumerate() {
            // Sub-blocks 2k, 2k+1 = bytes 16k..16k+16: 8 bytes each, low nibbles then high.
            let v = at(&a.qs, 16 * k);
            let (lo, hi) = (lo4(v), hi4(v));
            let w0 = lookup16(&KVALUES_FP4, i64x2_shuffle::<0, 2>(lo, hi));
            let w1 = lookup16(&KVALUES_FP4, i64x2_shuffle::<1, 3>(lo, hi));
            let (y0, y1) = q8_0_halves(b);
            let dy = f16_to_f32(b.d);
            let s0 = f32x4_splat(dy * ue4m3_to_f32_half(a.d[2 * k]));
            let s1 = f32x4_splat(dy * ue4m3_to_f32_half(a.d[2 * k + 1]));
            acc = f32x4_add(acc, f32x4_mul(s0, f32x4_convert_i32x4(dot_i8(w0, y0))));
            acc = f32x4_add(acc, f32x4_mul(s1, f32x4_convert_i32x4(dot_i8(w1, y1))));
        }
    }
    hsum_f32(acc)
}

/// One Q1_0 block (128 sign bits) spans four Q8_0 blocks.
pub fn vec_dot_q1_0_q8_0(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / 128;
    let ys = blocks::<BlockQ8_0>(y, 4 * nb);
    let mut acc = f32x4_splat(0.0);
    for (a, yb) in blocks::<BlockQ1_0>(x, nb).iter().zip(ys.chunks_exact(4)) {
        let d = f16_to_f32(a.d);
        for (k, b) in yb.iter().enumerate() {
            let bits = |o: usize| u16::from_le_bytes([a.qs[4 * k + o], a.qs[4 * k + o + 1]]);
            // +1 where the bit is set, -1 elsewhere: (mask & 2) - 1.
            let pm = |m: v128| i8x16_sub(v128_and(m, i8x16_splat(2)), i8x16_splat(1));
            let (w0, w1) = (pm(super::legacy::bits16(bits(0))), pm(super::legacy::bits16(bits(2))));
            let (y0, y1) = q8_0_halves(b);
            let sumi = i32x4_add(dot_i8(w0, y0), dot_i8(w1, y1));
            acc = f32x4_add(acc, f32x4_mul(f32x4_splat(d * f16_to_f32(b.d)), f32x4_convert_i32x4(sumi)));
        }
    }
    hsum_f32(acc)
}

/// One Q2_0 block (element j at bits 2*(j%4) of byte j/4) spans two Q8_0 blocks.
pub fn vec_dot_q2_0_q8_0(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / 64;
    let ys = blocks::<BlockQ8_0>(y, 2 * nb);
    let spread0 = i8x16(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    let spread1 = i8x16(4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7);
    // Per byte of a group of 4: shift right by 0, 2, 4, 6 = multiply-free via masks.
    let m0 = u8x16(0x03, 0x0c, 0x30, 0xc0, 0x03, 0x0c, 0x30, 0xc0, 0x03, 0x0c, 0x30, 0xc0, 0x03, 0x0c, 0x30, 0xc0);
    let mut acc = f32x4_splat(0.0);
    for (a, yb) in blocks::<BlockQ2_0>(x, nb).iter().zip(ys.chunks_exact(2)) {
        let d = f16_to_f32(a.d);
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
            let sumi = i32x4_add(dot_i8(w0, y0), dot_i8(w1, y1));
            acc = f32x4_add(acc, f32x4_mul(f32x4_splat(d * f16_to_f32(b.d)), f32x4_convert_i32x4(sumi)));
        }
    }
    hsum_f32(acc)
}
