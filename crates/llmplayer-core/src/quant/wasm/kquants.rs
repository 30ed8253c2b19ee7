//! simd128 kernels for the K-quants and IQ4_XS against Q8_K, and the Q8_K quantizer.
//!
//! Every kernel unpacks 16 weights at a time as signed bytes (`weights(k)` for elements
//! `16k..16k+16` of a super-block), dots them with the Q8_K bytes and scales the i32 sums by
//! the sub-block scale; constant offsets (the mins) go through `bsums` in scalar code.

use super::{dot_i8, dot_pre, hi4, hsum_i32, load, lo4, lookup16, widen_i8};
use crate::quant::blocks_k::{q3k_scales, scale_min_k4, BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K};
use crate::quant::blocks_nl4::{iq4xs_scale, BlockIq4Xs};
use crate::quant::float::f16_to_f32;
use crate::quant::grids::KVALUES_IQ4NL;
use crate::quant::{blocks, blocks_mut, QK_K};
use core::arch::wasm32::*;

/// `sum_k scale(k) * dot(weights(k), y[16k..16k+16])` over the 16 chunks of a super-block.
#[inline(always)]
fn kdot(y: &BlockQ8K, weights: impl Fn(usize) -> v128, scale: impl Fn(usize) -> i32) -> i32 {
    let mut acc = i32x4_splat(0);
    for k in 0..16 {
        // SAFETY: a Q8_K block holds 256 quant bytes.
        let yk = unsafe { load(y.qs.as_ptr().add(16 * k).cast()) };
        acc = i32x4_add(acc, i32x4_mul(dot_i8(weights(k), yk), i32x4_splat(scale(k))));
    }
    hsum_i32(acc)
}

/// 16 bytes of `bytes` starting at `off`.
#[inline(always)]
fn at(bytes: &[u8], off: usize) -> v128 {
    assert!(off + 16 <= bytes.len());
    // SAFETY: bounds checked above.
    unsafe { load(bytes.as_ptr().add(off)) }
}

fn k4_scales(s: &[u8; 12]) -> ([i32; 8], [i32; 8]) {
    let mut sc = [0; 8];
    let mut mn = [0; 8];
    for j in 0..8 {
        let (a, b) = scale_min_k4(j, s);
        (sc[j], mn[j]) = (a as i32, b as i32);
    }
    (sc, mn)
}

/// `sum_k mins[k / 2] * bsums[k]`.
fn k4_min_sum(mn: &[i32; 8], y: &BlockQ8K) -> i32 {
    let bsums = y.bsums;
    (0..16).map(|k| mn[k / 2] * bsums[k] as i32).sum()
}

// ---------------------------------------------------------------- weight unpacking
// `w_*(a, k)`: weights 16k..16k+16 of a super-block as signed bytes.

#[inline(always)]
fn w_q4k(a: &BlockQ4K, k: usize) -> v128 {
    let v = at(&a.qs, 32 * (k / 4) + 16 * (k % 2));
    if (k % 4) < 2 { lo4(v) } else { hi4w(v) }
}

#[inline(always)]
fn w_q5k(a: &BlockQ5K, k: usize) -> v128 {
    let (j, part, l0) = (k / 4, (k % 4) / 2, 16 * (k % 2));
    let v = at(&a.qs, 32 * j + l0);
    // The byte shift measured faster here than `hi4` in the x4 kernel (and the 16-bit shift
    // faster in vec_dot): kept as it was.
    let low = if part == 0 { lo4(v) } else { u8x16_shr(v, 4) };
    let h = v128_and(u8x16_shr(at(&a.qh, l0), (2 * j + part) as u32), i8x16_splat(1));
    v128_or(low, i8x16_shl(h, 4))
}

/// Q6_K weights 16k..16k+16 WITHOUT the -32 offset (0..63; callers subtract 32 * bsums).
#[inline(always)]
fn w_q6k(a: &BlockQ6K, k: usize) -> v128 {
    let (half, part, l0) = (k / 8, (k % 8) / 2, 16 * (k % 2));
    let v = at(&a.ql, 64 * half + 32 * (part & 1) + l0);
    let low = if part < 2 { lo4(v) } else { hi4w(v) };
    let qh = at(&a.qh, 32 * half + l0);
    let h = match part {
        0 => i16x8_shl(qh, 4),
        1 => i16x8_shl(qh, 2),
        2 => qh,
        _ => u16x8_shr(qh, 2),
    };
    v128_or(low, v128_and(h, i8x16_splat(0x30)))
}

#[inline(always)]
fn w_q2k(a: &BlockQ2K, k: usize) -> v128 {
    let (half, shift, l0) = (k / 8, (k % 8) / 2, 16 * (k % 2));
    v128_and(u8x16_shr(at(&a.qs, 32 * half + l0), 2 * shift as u32), i8x16_splat(3))
}

#[inline(always)]
fn w_q3k(a: &BlockQ3K, k: usize) -> v128 {
    let (half, shift, l0) = (k / 8, (k % 8) / 2, 16 * (k % 2));
    let low = v128_and(u8x16_shr(at(&a.qs, 32 * half + l0), 2 * shift as u32), i8x16_splat(3));
    let h = v128_and(u8x16_shr(at(&a.hmask, l0), (4 * half + shift) as u32), i8x16_splat(1));
    // low - 4 where the high bit is clear.
    i8x16_sub(i8x16_add(low, i8x16_shl(h, 2)), i8x16_splat(4))
}

#[inline(always)]
fn w_iq4xs(a: &BlockIq4Xs, k: usize) -> v128 {
    let v = at(&a.qs, 16 * (k / 2));
    lookup16(&KVALUES_IQ4NL, if k % 2 == 0 { lo4(v) } else { hi4(v) })
}

/// [`kdot`] for four activation rows sharing each unpacked weight vector. `FOLD`: multiply
/// the scale into the widened weights (i16) once instead of into each row's i32 sums
/// (measured faster for Q3_K, slower for Q2_K / Q5_K under V8).
#[inline(always)]
fn kdot_x4<const FOLD: bool>(ys: [&BlockQ8K; 4], weights: impl Fn(usize) -> v128, scale: impl Fn(usize) -> i32) -> [i32; 4] {
    let mut acc = [i32x4_splat(0); 4];
    for k in 0..16 {
        if FOLD {
            // The scale is folded into the widened weights once for the four rows: every
            // K-type's |weight * scale| stays below 2^13, so the i16 products and the
            // pairwise i32 sums with |y| <= 128 are exact.
            let (w0, w1) = widen_i8(weights(k));
            let s = i16x8_splat(scale(k) as i16);
            let w = (i16x8_mul(w0, s), i16x8_mul(w1, s));
            for t in 0..4 {
                // SAFETY: a Q8_K block holds 256 quant bytes.
                let yk = unsafe { load(ys[t].qs.as_ptr().add(16 * k).cast()) };
                acc[t] = i32x4_add(acc[t], dot_pre(w, yk));
            }
        } else {
            let (w, s) = (weights(k), i32x4_splat(scale(k)));
            for t in 0..4 {
                // SAFETY: a Q8_K block holds 256 quant bytes.
                let yk = unsafe { load(ys[t].qs.as_ptr().add(16 * k).cast()) };
                acc[t] = i32x4_add(acc[t], i32x4_mul(dot_i8(w, yk), s));
            }
        }
    }
    [hsum_i32(acc[0]), hsum_i32(acc[1]), hsum_i32(acc[2]), hsum_i32(acc[3])]
}

/// Defines the one-row and the four-row kernel of a K-type from one description:
/// `$prep` runs once per weight block, `$w` / `$s` give weights and scale of chunk `$k`, and
/// `$fin` turns the integer sum for activation block `$b` into the block's f32 contribution.
macro_rules! k_kernels {
    ($name:ident, $name_x4:ident, $block:ty, $fold:literal, |$a:ident| $prep:block, |$k:ident| $w:expr, $s:expr, |$isum:ident, $b:ident| $fin:expr) => {
        pub fn $name(n: usize, x: &[u8], y: &[u8]) -> f32 {
            let nb = n / QK_K;
            let mut sumf = 0.0f32;
            for ($a, $b) in blocks::<$block>(x, nb).iter().zip(blocks::<BlockQ8K>(y, nb)) {
                #[allow(unused_variables)]
                let prep = $prep;
                let $isum = kdot($b, |$k| $w, |$k| $s(&prep));
                sumf += $fin(&prep);
            }
            sumf
        }

        pub fn $name_x4(n: usize, x: &[u8], y: [&[u8]; 4]) -> [f32; 4] {
            let nb = n / QK_K;
            let ys = [
                blocks::<BlockQ8K>(y[0], nb),
                blocks::<BlockQ8K>(y[1], nb),
                blocks::<BlockQ8K>(y[2], nb),
                blocks::<BlockQ8K>(y[3], nb),
            ];
            let mut sumf = [0.0f32; 4];
            for (i, $a) in blocks::<$block>(x, nb).iter().enumerate() {
                #[allow(unused_variables)]
                let prep = $prep;
                let isums = kdot_x4::<$fold>([&ys[0][i], &ys[1][i], &ys[2][i], &ys[3][i]], |$k| $w, |$k| $s(&prep));
                for t in 0..4 {
                    let ($isum, $b) = (isums[t], &ys[t][i]);
                    sumf[t] += $fin(&prep);
                }
            }
            sumf
        }
    };
}

k_kernels!(
    vec_dot_q5_k_q8_k,
    vec_dot_q5_k_q8_k_x4,
    BlockQ5K,
    false,
    |a| { k4_scales(&a.scales) },
    |k| w_q5k(a, k),
    |p: &([i32; 8], [i32; 8])| p.0[k / 2],
    |isum, b| |p: &([i32; 8], [i32; 8])| {
        f16_to_f32(a.d) * b.d * isum as f32 - f16_to_f32(a.dmin) * b.d * k4_min_sum(&p.1, b) as f32
    }
);

k_kernels!(
    vec_dot_q2_k_q8_k,
    vec_dot_q2_k_q8_k_x4,
    BlockQ2K,
    false,
    |a| { () },
    |k| w_q2k(a, k),
    |_: &()| (a.scales[k] & 0x0f) as i32,
    |isum, b| |_: &()| {
        let bsums = b.bsums;
        let summs: i32 = (0..16).map(|k| (a.scales[k] >> 4) as i32 * bsums[k] as i32).sum();
        b.d * f16_to_f32(a.d) * isum as f32 - b.d * f16_to_f32(a.dmin) * summs as f32
    }
);

k_kernels!(
    vec_dot_q3_k_q8_k,
    vec_dot_q3_k_q8_k_x4,
    BlockQ3K,
    true,
    |a| { q3k_scales(&a.scales) },
    |k| w_q3k(a, k),
    |sc: &[i8; 16]| sc[k] as i32 - 32,
    |isum, b| |_: &[i8; 16]| f16_to_f32(a.d) * b.d * isum as f32
);

k_kernels!(
    vec_dot_iq4_xs_q8_k,
    vec_dot_iq4_xs_q8_k_x4,
    BlockIq4Xs,
    true,
    |a| { core::array::from_fn::<i32, 8, _>(|ib| iq4xs_scale(a, ib)) },
    |k| w_iq4xs(a, k),
    |ls: &[i32; 8]| ls[k / 2],
    |isum, b| |_: &[i32; 8]| f16_to_f32(a.d) * b.d * isum as f32
);

// ---------------------------------------------------------------- Q4_K / Q6_K, R rows at once
// One pass per weight block for R activation rows (R = 1: vec_dot, R = 4: the x4 kernel).
// Integer sums stay in i32x4 lanes across the whole super-block; the nibble and 2-bit
// extractions use 16-bit lane shifts plus a byte mask (V8 lowers byte shifts to several
// instructions), and Q6_K's -32 offset goes through `bsums` instead of per-byte subtracts.

/// 16 bytes of the Q8_K quants of `b` at `off`.
#[inline(always)]
fn yq(b: &BlockQ8K, off: usize) -> v128 {
    debug_assert!(off + 16 <= QK_K);
    // SAFETY: off + 16 <= 256 quant bytes.
    unsafe { load(b.qs.as_ptr().add(off).cast()) }
}

/// The 16 bsums of `b` as two i16x8 vectors.
#[inline(always)]
fn bsums16(b: &BlockQ8K) -> (v128, v128) {
    let p = core::ptr::addr_of!(b.bsums) as *const u8;
    // SAFETY: bsums is 32 readable bytes.
    unsafe { (load(p), load(p.add(16))) }
}

/// High nibbles of 16 bytes via a 16-bit shift.
#[inline(always)]
fn hi4w(v: v128) -> v128 {
    v128_and(u16x8_shr(v, 4), i8x16_splat(0x0f))
}

/// Q4_K scales (bytes 0..8) and mins (bytes 8..16), ggml's `get_scale_min_k4` unpacking.
#[inline(always)]
fn k4_unpack(s: &[u8; 12]) -> [u32; 4] {
    const M1: u32 = 0x3f3f_3f3f;
    const M2: u32 = 0x0f0f_0f0f;
    const M3: u32 = 0x0303_0303;
    let u0 = u32::from_le_bytes([s[0], s[1], s[2], s[3]]);
    let u1 = u32::from_le_bytes([s[4], s[5], s[6], s[7]]);
    let u2 = u32::from_le_bytes([s[8], s[9], s[10], s[11]]);
    let sc_hi = (u2 & M2) | (((u0 >> 6) & M3) << 4);
    let mn_hi = ((u2 >> 4) & M2) | (((u1 >> 6) & M3) << 4);
    [u0 & M1, sc_hi, u1 & M1, mn_hi]
}

#[inline(always)]
fn q4k_rows<const R: usize>(n: usize, x: &[u8], ys: [&[u8]; R]) -> [f32; R] {
    let nb = n / QK_K;
    let yb: [&[BlockQ8K]; R] = core::array::from_fn(|t| blocks::<BlockQ8K>(ys[t], nb));
    let mut vsum = [f32x4_splat(0.0); R];
    for (i, a) in blocks::<BlockQ4K>(x, nb).iter().enumerate() {
        let u = k4_unpack(&a.scales);
        let uv = u32x4(u[0], u[1], u[2], u[3]);
        // mins as i16 pairs [m0 m0 m1 m1 m2 m2 m3 m3] and [m4 .. m7].
        let z = 16u8; // out of range: zero
        let mins_lo = i8x16_swizzle(uv, u8x16(8, z, 8, z, 9, z, 9, z, 10, z, 10, z, 11, z, 11, z));
        let mins_hi = i8x16_swizzle(uv, u8x16(12, z, 12, z, 13, z, 13, z, 14, z, 14, z, 15, z, 15, z));
        let sc = |j: usize| i32x4_splat(((u[j / 4] >> (8 * (j % 4))) & 0xff) as i32);
        let mut acc = [i32x4_splat(0); R];
        for j in 0..4 {
            // SAFETY: 32j + 32 <= 128 quant bytes.
            let (q0, q1) = unsafe { (load(a.qs.as_ptr().add(32 * j)), load(a.qs.as_ptr().add(32 * j + 16))) };
            let (l0, l1, h0, h1) = (lo4(q0), lo4(q1), hi4w(q0), hi4w(q1));
            let (s0, s1) = (sc(2 * j), sc(2 * j + 1));
            for t in 0..R {
                let b = &yb[t][i];
                let lo = i32x4_add(dot_i8(l0, yq(b, 64 * j)), dot_i8(l1, yq(b, 64 * j + 16)));
                let hi = i32x4_add(dot_i8(h0, yq(b, 64 * j + 32)), dot_i8(h1, yq(b, 64 * j + 48)));
                acc[t] = i32x4_add(acc[t], i32x4_add(i32x4_mul(lo, s0), i32x4_mul(hi, s1)));
            }
        }
        let (d, dmin) = (f16_to_f32(a.d), f16_to_f32(a.dmin));
        for t in 0..R {
            let b = &yb[t][i];
            let (bs0, bs1) = bsums16(b);
            let msum = i32x4_add(i32x4_dot_i16x8(bs0, mins_lo), i32x4_dot_i16x8(bs1, mins_hi));
            let pos = f32x4_mul(f32x4_splat(d * b.d), f32x4_convert_i32x4(acc[t]));
            vsum[t] = f32x4_add(vsum[t], f32x4_sub(pos, f32x4_mul(f32x4_splat(dmin * b.d), f32x4_convert_i32x4(msum))));
        }
    }
    core::array::from_fn(|t| super::hsum_f32(vsum[t]))
}

pub fn vec_dot_q4_k_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    q4k_rows::<1>(n, x, [y])[0]
}

pub fn vec_dot_q4_k_q8_k_x4(n: usize, x: &[u8], y: [&[u8]; 4]) -> [f32; 4] {
    // kdot_x4 keeps one weight vector live across the four rows (fewer spills under V8
    // than q4k_rows::<4>).
    let nb = n / QK_K;
    let yb: [&[BlockQ8K]; 4] = core::array::from_fn(|t| blocks::<BlockQ8K>(y[t], nb));
    let mut sumf = [0.0f32; 4];
    for (i, a) in blocks::<BlockQ4K>(x, nb).iter().enumerate() {
        let u = k4_unpack(&a.scales);
        let uv = u32x4(u[0], u[1], u[2], u[3]);
        let z = 16u8;
        let mins_lo = i8x16_swizzle(uv, u8x16(8, z, 8, z, 9, z, 9, z, 10, z, 10, z, 11, z, 11, z));
        let mins_hi = i8x16_swizzle(uv, u8x16(12, z, 12, z, 13, z, 13, z, 14, z, 14, z, 15, z, 15, z));
        let isums = kdot_x4::<false>([&yb[0][i], &yb[1][i], &yb[2][i], &yb[3][i]], |k| w_q4k(a, k), |k| {
            ((u[k / 8] >> (8 * ((k / 2) % 4))) & 0xff) as i32
        });
        let (d, dmin) = (f16_to_f32(a.d), f16_to_f32(a.dmin));
        for t in 0..4 {
            let b = &yb[t][i];
            let (bs0, bs1) = bsums16(b);
            let msum = hsum_i32(i32x4_add(i32x4_dot_i16x8(bs0, mins_lo), i32x4_dot_i16x8(bs1, mins_hi)));
            sumf[t] += d * b.d * isums[t] as f32 - dmin * b.d * msum as f32;
        }
    }
    sumf
}

#[inline(always)]
fn q6k_rows<const R: usize>(n: usize, x: &[u8], ys: [&[u8]; R]) -> [f32; R] {
    let nb = n / QK_K;
    let yb: [&[BlockQ8K]; R] = core::array::from_fn(|t| blocks::<BlockQ8K>(ys[t], nb));
    let mut vsum = [f32x4_splat(0.0); R];
    let m30 = i8x16_splat(0x30);
    for (i, a) in blocks::<BlockQ6K>(x, nb).iter().enumerate() {
        // SAFETY: 16 scale bytes.
        let scv = unsafe { load(a.scales.as_ptr().cast()) };
        let (sc_lo, sc_hi) = (i16x8_extend_low_i8x16(scv), i16x8_extend_high_i8x16(scv));
        let sc = |k: usize| i32x4_splat(a.scales[k] as i32);
        let mut acc = [i32x4_splat(0); R];
        for half in 0..2 {
            for c in 0..2 {
                let l0 = 16 * c;
                // SAFETY: offsets stay inside ql (128 bytes) and qh (64 bytes).
                let (ql0, ql1, qh) = unsafe {
                    (
                        load(a.ql.as_ptr().add(64 * half + l0)),
                        load(a.ql.as_ptr().add(64 * half + 32 + l0)),
                        load(a.qh.as_ptr().add(32 * half + l0)),
                    )
                };
                let w = [
                    v128_or(lo4(ql0), v128_and(i16x8_shl(qh, 4), m30)),
                    v128_or(lo4(ql1), v128_and(i16x8_shl(qh, 2), m30)),
                    v128_or(hi4w(ql0), v128_and(qh, m30)),
                    v128_or(hi4w(ql1), v128_and(u16x8_shr(qh, 2), m30)),
                ];
                for p in 0..4 {
                    let k = 8 * half + 2 * p + c;
                    let s = sc(k);
                    for t in 0..R {
                        let b = &yb[t][i];
                        acc[t] = i32x4_add(acc[t], i32x4_mul(dot_i8(w[p], yq(b, 16 * k)), s));
                    }
                }
            }
        }
        let d = f16_to_f32(a.d);
        for t in 0..R {
            let b = &yb[t][i];
            let (bs0, bs1) = bsums16(b);
            let off = i32x4_add(i32x4_dot_i16x8(bs0, sc_lo), i32x4_dot_i16x8(bs1, sc_hi));
            let isum = i32x4_sub(acc[t], i32x4_shl(off, 5));
            vsum[t] = f32x4_add(vsum[t], f32x4_mul(f32x4_splat(d * b.d), f32x4_convert_i32x4(isum)));
        }
    }
    core::array::from_fn(|t| super::hsum_f32(vsum[t]))
}

pub fn vec_dot_q6_k_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    q6k_rows::<1>(n, x, [y])[0]
}

pub fn vec_dot_q6_k_q8_k_x4(n: usize, x: &[u8], y: [&[u8]; 4]) -> [f32; 4] {
    let nb = n / QK_K;
    let yb: [&[BlockQ8K]; 4] = core::array::from_fn(|t| blocks::<BlockQ8K>(y[t], nb));
    let mut sumf = [0.0f32; 4];
    for (i, a) in blocks::<BlockQ6K>(x, nb).iter().enumerate() {
        // SAFETY: 16 scale bytes.
        let scv = unsafe { load(a.scales.as_ptr().cast()) };
        let (sc_lo, sc_hi) = (i16x8_extend_low_i8x16(scv), i16x8_extend_high_i8x16(scv));
        let isums = kdot_x4::<false>([&yb[0][i], &yb[1][i], &yb[2][i], &yb[3][i]], |k| w_q6k(a, k), |k| a.scales[k] as i32);
        let d = f16_to_f32(a.d);
        for t in 0..4 {
            let b = &yb[t][i];
            let (bs0, bs1) = bsums16(b);
            let off = hsum_i32(i32x4_add(i32x4_dot_i16x8(bs0, sc_lo), i32x4_dot_i16x8(bs1, sc_hi)));
            sumf[t] += d * b.d * isums[t].wrapping_sub(32 * off) as f32;
        }
    }
    sumf
}

/// Q8_K quantizer, byte-exact with the scalar reference (round half to even, clamp 127).
pub fn quantize_row_q8_k(x: &[f32], y: &mut [u8]) {
    for (b, x) in blocks_mut::<BlockQ8K>(y, x.len() / QK_K).iter_mut().zip(x.chunks_exact(QK_K)) {
        let mut m = f32x4_splat(0.0);
        for c in x.chunks_exact(4) {
            // SAFETY: 4 floats.
            m = f32x4_max(m, f32x4_abs(unsafe { load(c.as_ptr().cast()) }));
        }
        let amax = f32x4_extract_lane::<0>(m)
            .max(f32x4_extract_lane::<1>(m))
            .max(f32x4_extract_lane::<2>(m))
            .max(f32x4_extract_lane::<3>(m));
        if amax == 0.0 {
            *b = BlockQ8K { d: 0.0, qs: [0; QK_K], bsums: [0; 16] };
            continue;
        }
        let max = *x.iter().find(|v| v.abs() == amax).unwrap();
        let iscale = -127.0 / max;
        let vs = f32x4_splat(iscale);
        let mut qs = [0i8; QK_K];
        let mut bsums = [0i16; 16];
        for (k, c) in x.chunks_exact(16).enumerate() {
            let q: [v128; 4] = core::array::from_fn(|v| {
                // SAFETY: 16 floats in the chunk.
                let t = f32x4_mul(vs, unsafe { load(c.as_ptr().add(4 * v).cast()) });
                i32x4_min(i32x4_trunc_sat_f32x4(f32x4_nearest(t)), i32x4_splat(127))
            });
            bsums[k] = hsum_i32(i32x4_add(i32x4_add(q[0], q[1]), i32x4_add(q[2], q[3]))) as i16;
            let packed = i8x16_narrow_i16x8(i16x8_narrow_i32x4(q[0], q[1]), i16x8_narrow_i32x4(q[2], q[3]));
            // SAFETY: 16 bytes at 16k of the 256-byte array.
            unsafe { v128_store(qs.as_mut_ptr().add(16 * k).cast(), packed) };
        }
        *b = BlockQ8K { d: 1.0 / iscale, qs, bsums };
    }
}
