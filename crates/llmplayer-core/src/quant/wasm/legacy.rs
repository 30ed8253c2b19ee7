//! simd128 kernels for the 32-element types against Q8_0, and the Q8_0 quantizer.

use super::{dot_i8, hi4, hsum_f32, load, lo4, lookup16};
use crate::quant::blocks_legacy::{BlockQ4_0, BlockQ5_0, BlockQ8_0};
use crate::quant::blocks_nl4::BlockIq4Nl;
use crate::quant::float::{f16_to_f32, f32_to_f16};
use crate::quant::grids::KVALUES_IQ4NL;
use crate::quant::{blocks, blocks_mut};
use core::arch::wasm32::*;

/// Shared loop: `sum_b d_w(b) * d_y(b) * dot(w_b, y_b)`, where `weights(b)` yields the two
/// halves (elements 0..16, 16..32) of block b as signed bytes.
#[inline(always)]
fn dot_q8_0_blocks<B>(xs: &[B], ys: &[BlockQ8_0], scale: impl Fn(&B) -> f32, weights: impl Fn(&B) -> (v128, v128)) -> f32 {
    let mut acc = f32x4_splat(0.0);
    for (a, b) in xs.iter().zip(ys) {
        let (w0, w1) = weights(a);
        // SAFETY: a Q8_0 block holds 32 quant bytes.
        let (y0, y1) = unsafe { (load(b.qs.as_ptr().cast()), load(b.qs.as_ptr().add(16).cast())) };
        let sumi = i32x4_add(dot_i8(w0, y0), dot_i8(w1, y1));
        let d = f32x4_splat(scale(a) * f16_to_f32(b.d));
        acc = f32x4_add(acc, f32x4_mul(d, f32x4_convert_i32x4(sumi)));
    }
    hsum_f32(acc)
}

/// Four f16 values to f32, exact like [`f16_to_f32`] (inf and NaN included).
#[inline(always)]
pub(super) fn f16x4_to_f32(h: [u16; 4]) -> v128 {
    let v = u32x4(h[0] as u32, h[1] as u32, h[2] as u32, h[3] as u32);
    let abs = v128_and(v, u32x4_splat(0x7fff));
    let sign = i32x4_shl(v128_and(v, u32x4_splat(0x8000)), 16);
    let finite = f32x4_mul(i32x4_shl(abs, 13), u32x4_splat(0x7780_0000));
    let special = v128_or(u32x4_splat(0x7f80_0000), i32x4_shl(v128_and(abs, u32x4_splat(0x3ff)), 13));
    let is_special = u32x4_ge(abs, u32x4_splat(0x7c00));
    v128_or(v128_bitselect(special, finite, is_special), sign)
}

/// Lane sums of four i32x4 vectors: `[hsum(s0), hsum(s1), hsum(s2), hsum(s3)]`.
#[inline(always)]
pub(super) fn hsum4_i32(s: [v128; 4]) -> v128 {
    let t0 = i32x4_add(i32x4_shuffle::<0, 4, 1, 5>(s[0], s[1]), i32x4_shuffle::<2, 6, 3, 7>(s[0], s[1]));
    let t1 = i32x4_add(i32x4_shuffle::<0, 4, 1, 5>(s[2], s[3]), i32x4_shuffle::<2, 6, 3, 7>(s[2], s[3]));
    i32x4_add(i32x4_shuffle::<0, 1, 4, 5>(t0, t1), i32x4_shuffle::<2, 3, 6, 7>(t0, t1))
}

/// `dot(x_block, y_block)` of two Q8_0 blocks as i32x4 partial sums.
#[inline(always)]
pub(super) fn q8_0_isum(a: &BlockQ8_0, b: &BlockQ8_0) -> v128 {
    // SAFETY: Q8_0 blocks hold 32 quant bytes.
    unsafe {
        let (x0, x1) = (load(a.qs.as_ptr().cast()), load(a.qs.as_ptr().add(16).cast()));
        let (y0, y1) = (load(b.qs.as_ptr().cast()), load(b.qs.as_ptr().add(16).cast()));
        i32x4_add(dot_i8(x0, y0), dot_i8(x1, y1))
    }
}

pub fn vec_dot_q8_0_q8_0(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / 32;
    let (xs, ys) = (blocks::<BlockQ8_0>(x, nb), blocks::<BlockQ8_0>(y, nb));
    // Four blocks per step: per-block sums reduced with shuffles, the eight f16 scales
    // converted in two vectors, one f32 multiply-add for the four blocks.
    let mut acc = f32x4_splat(0.0);
    let (xq, xr) = (xs.chunks_exact(4), xs.chunks_exact(4).remainder());
    let yr = ys.chunks_exact(4).remainder();
    for (xc, yc) in xq.zip(ys.chunks_exact(4)) {
        let s = hsum4_i32(core::array::from_fn(|u| q8_0_isum(&xc[u], &yc[u])));
        let dx = f16x4_to_f32(core::array::from_fn(|u| xc[u].d));
        let dy = f16x4_to_f32(core::array::from_fn(|u| yc[u].d));
        acc = f32x4_add(acc, f32x4_mul(f32x4_mul(dx, dy), f32x4_convert_i32x4(s)));
    }
    hsum_f32(acc) + dot_q8_0_blocks(xr, yr, |a| f16_to_f32(a.d), |a| {
        // SAFETY: 32 quant bytes.
        unsafe { (load(a.qs.as_ptr().cast()), load(a.qs.as_ptr().add(16).cast())) }
    })
}

pub fn vec_dot_q4_0_q8_0(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / 32;
    dot_q8_0_blocks(blocks::<BlockQ4_0>(x, nb), blocks::<BlockQ8_0>(y, nb), |a| f16_to_f32(a.d), |a| {
        // SAFETY: 16 quant bytes.
        let q = unsafe { load(a.qs.as_ptr()) };
        let eight = i8x16_splat(8);
        (i8x16_sub(lo4(q), eight), i8x16_sub(hi4(q), eight))
    })
}

/// Bytes 0xff where bit i of the 16-bit `bits` is set (lane i).
#[inline(always)]
pub(super) fn bits16(bits: u16) -> v128 {
    let v = u16x8_splat(bits);
    let spread = i8x16_swizzle(v, i8x16(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
    let mask = u8x16(1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128);
    i8x16_eq(v128_and(spread, mask), mask)
}

pub fn vec_dot_q5_0_q8_0(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / 32;
    dot_q8_0_blocks(blocks::<BlockQ5_0>(x, nb), blocks::<BlockQ8_0>(y, nb), |a| f16_to_f32(a.d), |a| {
        // SAFETY: 16 quant bytes.
        let q = unsafe { load(a.qs.as_ptr()) };
        let qh = u32::from_le_bytes(a.qh);
        let (h0, h1) = (bits16(qh as u16), bits16((qh >> 16) as u16));
        let sixteen = i8x16_splat(16);
        let w0 = i8x16_sub(v128_or(lo4(q), v128_and(h0, sixteen)), sixteen);
        let w1 = i8x16_sub(v128_or(hi4(q), v128_and(h1, sixteen)), sixteen);
        (w0, w1)
    })
}

pub fn vec_dot_iq4_nl_q8_0(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / 32;
    dot_q8_0_blocks(blocks::<BlockIq4Nl>(x, nb), blocks::<BlockQ8_0>(y, nb), |a| f16_to_f32(a.d), |a| {
        // SAFETY: 16 quant bytes.
        let q = unsafe { load(a.qs.as_ptr()) };
        (lookup16(&KVALUES_IQ4NL, lo4(q)), lookup16(&KVALUES_IQ4NL, hi4(q)))
    })
}

/// Q8_0 quantizer, byte-exact with the scalar reference.
pub fn quantize_row_q8_0(x: &[f32], y: &mut [u8]) {
    for (b, x) in blocks_mut::<BlockQ8_0>(y, x.len() / 32).iter_mut().zip(x.chunks_exact(32)) {
        // SAFETY: 32 floats.
        let v: [v128; 8] = core::array::from_fn(|k| unsafe { load(x.as_ptr().add(4 * k).cast()) });
        let m = v.iter().fold(f32x4_splat(0.0), |m, &x| f32x4_max(m, f32x4_abs(x)));
        let amax = f32x4_extract_lane::<0>(m)
            .max(f32x4_extract_lane::<1>(m))
            .max(f32x4_extract_lane::<2>(m))
            .max(f32x4_extract_lane::<3>(m));
        let d = amax / 127.0;
        let id = f32x4_splat(if amax != 0.0 { 127.0 / amax } else { 0.0 });
        let q: [v128; 8] = core::array::from_fn(|k| i32x4_trunc_sat_f32x4(f32x4_nearest(f32x4_mul(v[k], id))));
        let h: [v128; 4] = core::array::from_fn(|k| i16x8_narrow_i32x4(q[2 * k], q[2 * k + 1]));
        let lo = i8x16_narrow_i16x8(h[0], h[1]);
        let hi = i8x16_narrow_i16x8(h[2], h[3]);
        b.d = f32_to_f16(d);
        // SAFETY: 32 quant bytes.
        unsafe {
            v128_store(b.qs.as_mut_ptr().cast(), lo);
            v128_store(b.qs.as_mut_ptr().add(16).cast(), hi);
        }
    }
}
