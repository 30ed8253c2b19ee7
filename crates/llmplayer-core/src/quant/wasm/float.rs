//! simd128 kernels for F32, F16 and BF16 rows, and Q4_1 / Q5_1 / MXFP4 against Q8_0 / Q8_1.

use super::{dot_i8, hi4, hsum_f32, load, lo4, lookup16};
use crate::quant::blocks_legacy::{BlockQ4_1, BlockQ5_1, BlockQ8_0, BlockQ8_1};
use crate::quant::blocks_nl4::{e8m0_to_f32_half, BlockMxfp4};
use crate::quant::float::{bf16_to_f32, f16_to_f32};
use crate::quant::grids::KVALUES_FP4;
use crate::quant::blocks;
use core::arch::wasm32::*;

/// Shared loop over 4 lanes × 4 accumulators; `load4(i)` gives elements i..i+4 of both rows.
#[inline(always)]
fn dot_lanes(n: usize, load4: impl Fn(usize) -> (v128, v128), scalar: impl Fn(usize) -> f32) -> f32 {
    let mut acc = [f32x4_splat(0.0); 4];
    let mut i = 0;
    while i + 16 <= n {
        for (k, a) in acc.iter_mut().enumerate() {
            let (x, y) = load4(i + 4 * k);
            *a = f32x4_add(*a, f32x4_mul(x, y));
        }
        i += 16;
    }
    let mut sum = hsum_f32(f32x4_add(f32x4_add(acc[0], acc[1]), f32x4_add(acc[2], acc[3])));
    for j in i..n {
        sum += scalar(j);
    }
    sum
}

pub fn vec_dot_f32(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let (x, y) = (&x[..4 * n], &y[..4 * n]);
    let rd = |b: &[u8], i: usize| f32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]]);
    // SAFETY: i + 4 <= n inside the vector loop.
    dot_lanes(n, |i| unsafe { (load(x.as_ptr().add(4 * i)), load(y.as_ptr().add(4 * i))) }, |i| rd(x, i) * rd(y, i))
}

/// Widens 4 f16 (8 bytes at `p`) exactly: rescale the shifted bits by 2^112 (normals and
/// subnormals), patch infinities / NaN.
#[inline(always)]
unsafe fn f16x4(p: *const u8) -> v128 {
    let h = u32x4_extend_low_u16x8(v128_load64_zero(p.cast()));
    let abs = v128_and(h, u32x4_splat(0x7fff));
    let sign = i32x4_shl(v128_and(h, u32x4_splat(0x8000)), 16);
    let scaled = f32x4_mul(i32x4_shl(abs, 13), f32x4_splat(f32::from_bits(0x7780_0000)));
    let special = i32x4_ge(abs, i32x4_splat(0x7c00));
    let inf_nan = v128_or(u32x4_splat(0x7f80_0000), i32x4_shl(v128_and(abs, u32x4_splat(0x3ff)), 13));
    v128_or(v128_bitselect(inf_nan, scaled, special), sign)
}

pub fn vec_dot_f16(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let (x, y) = (&x[..2 * n], &y[..2 * n]);
    let rd = |b: &[u8], i: usize| f16_to_f32(u16::from_le_bytes([b[2 * i], b[2 * i + 1]]));
    // SAFETY: i + 4 <= n inside the vector loop.
    dot_lanes(n, |i| unsafe { (f16x4(x.as_ptr().add(2 * i)), f16x4(y.as_ptr().add(2 * i))) }, |i| rd(x, i) * rd(y, i))
}

pub fn vec_dot_bf16(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let (x, y) = (&x[..2 * n], &y[..2 * n]);
    let rd = |b: &[u8], i: usize| bf16_to_f32(u16::from_le_bytes([b[2 * i], b[2 * i + 1]]));
    // SAFETY: 8 readable bytes at p.
    let w = |p: *const u8| unsafe { i32x4_shl(u32x4_extend_low_u16x8(v128_load64_zero(p.cast())), 16) };
    dot_lanes(n, |i| (w(x[2 * i..].as_ptr()), w(y[2 * i..].as_ptr())), |i| rd(x, i) * rd(y, i))
}

/// Q4_1 / Q5_1 loop: unsigned weights (as i8, < 32), plus `m * s` per block.
#[inline(always)]
fn dot_q8_1_blocks<B>(xs: &[B], ys: &[BlockQ8_1], dm: impl Fn(&B) -> (f32, f32), weights: impl Fn(&B) -> (v128, v128)) -> f32 {
    let mut acc = f32x4_splat(0.0);
    let mut summs = 0.0f32;
    for (a, b) in xs.iter().zip(ys) {
        let (d, m) = dm(a);
        let (w0, w1) = weights(a);
        // SAFETY: 32 quant bytes.
        let (y0, y1) = unsafe { (load(b.qs.as_ptr().cast()), load(b.qs.as_ptr().add(16).cast())) };
        let sumi = i32x4_add(dot_i8(w0, y0), dot_i8(w1, y1));
        acc = f32x4_add(acc, f32x4_mul(f32x4_splat(d * f16_to_f32(b.d)), f32x4_convert_i32x4(sumi)));
        summs += m * f16_to_f32(b.s);
    }
    hsum_f32(acc) + summs
}

pub fn vec_dot_q4_1_q8_1(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / 32;
    dot_q8_1_blocks(blocks::<BlockQ4_1>(x, nb), blocks::<BlockQ8_1>(y, nb), |a| (f16_to_f32(a.d), f16_to_f32(a.m)), |a| {
        // SAFETY: 16 quant bytes.
        let q = unsafe { load(a.qs.as_ptr()) };
        (lo4(q), hi4(q))
    })
}

pub fn vec_dot_q5_1_q8_1(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / 32;
    dot_q8_1_blocks(blocks::<BlockQ5_1>(x, nb), blocks::<BlockQ8_1>(y, nb), |a| (f16_to_f32(a.d), f16_to_f32(a.m)), |a| {
        // SAFETY: 16 quant bytes.
        let q = unsafe { load(a.qs.as_ptr()) };
        let qh = u32::from_le_bytes(a.qh);
        let sixteen = i8x16_splat(16);
        let h0 = v128_and(super::legacy::bits16(qh as u16), sixteen);
        let h1 = v128_and(super::legacy::bits16((qh >> 16) as u16), sixteen);
        (v128_or(lo4(q), h0), v128_or(hi4(q), h1))
    })
}

pub fn vec_dot_mxfp4_q8_0(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / 32;
    let mut acc = f32x4_splat(0.0);
    for (a, b) in blocks::<BlockMxfp4>(x, nb).iter().zip(blocks::<BlockQ8_0>(y, nb)) {
        // SAFETY: 16 weight bytes, 32 activation bytes.
        let (q, y0, y1) = unsafe { (load(a.qs.as_ptr()), load(b.qs.as_ptr().cast()), load(b.qs.as_ptr().add(16).cast())) };
        let sumi = i32x4_add(dot_i8(lookup16(&KVALUES_FP4, lo4(q)), y0), dot_i8(lookup16(&KVALUES_FP4, hi4(q)), y1));
        let d = f16_to_f32(b.d) * e8m0_to_f32_half(a.e);
        acc = f32x4_add(acc, f32x4_mul(f32x4_splat(d), f32x4_convert_i32x4(sumi)));
    }
    hsum_f32(acc)
}
