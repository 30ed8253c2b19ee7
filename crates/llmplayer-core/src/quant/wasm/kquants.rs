//! simd128 kernels for the K-quants and IQ4_XS against Q8_K, one row (`vec_dot`) or four
//! activation rows (`vec_dot_x4`), and the Q8_K quantizer.
//!
//! They round as ggml's AVX2 `ggml_vec_dot_*_q8_K` do (see `exact.rs`; llama.cpp runs these
//! types through the same dots in prefill). Per super-block the integer sums are gathered in
//! ggml's eight lanes ([`klanes`]: lane k holds the elements with `(e % 32) / 4 == k`, each
//! times its sub-block scale), then each type's float steps follow its ggml kernel: one FMA of
//! `d = y.d * f16(x.d)` per super-block, and the mins / offsets as ggml takes them (Q4_K a
//! 4-lane accumulator, Q5_K a scalar FMA, Q2_K a second FMA into the same accumulator, Q6_K
//! an integer offset from `bsums`).

use super::exact::{dot_pairs_pre, fma_scalar, quads, Acc4, Acc8};
use super::{hi4, hsum_i32, load, lo4, lookup16};
use crate::quant::blocks_k::{q3k_scales, BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K};
use crate::quant::blocks_nl4::{iq4xs_scale, BlockIq4Xs};
use crate::quant::float::f16_to_f32;
use crate::quant::grids::KVALUES_IQ4NL;
use crate::quant::{blocks, blocks_mut, QK_K};
use core::arch::wasm32::*;

/// 16 bytes of `bytes` starting at `off`.
#[inline(always)]
fn at(bytes: &[u8], off: usize) -> v128 {
    assert!(off + 16 <= bytes.len());
    // SAFETY: bounds checked above.
    unsafe { load(bytes.as_ptr().add(off)) }
}

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

/// ggml's `madd(v, bsums)` over 16 i16 values `v` (two i16x8): lane k is
/// `v[2k] * bsums[2k] + v[2k+1] * bsums[2k+1]`, lanes 0..4 and 4..8.
#[inline(always)]
pub(super) fn madd_bsums(v: (v128, v128), b: &BlockQ8K) -> (v128, v128) {
    let (b0, b1) = bsums16(b);
    (i32x4_dot_i16x8(v.0, b0), i32x4_dot_i16x8(v.1, b1))
}

/// ggml's eight i32 lanes of one super-block for `R` activation rows: lane k (0..4 in `.0`,
/// 4..8 in `.1`) = `sum scale(e / 16) * w(e) * y(e)` over the elements with `(e % 32) / 4 == k`.
/// `weights(k)` gives elements `16k..16k+16` as bytes (even k: lanes 0..4 of its 32-element
/// load in ggml, odd k: lanes 4..8). The scale is folded into the widened weights (every
/// K-type's `|w * scale|` is below 2^13, so the i16 products and the pair sums are exact);
/// pair sums accumulate per half and become ggml's 4-byte lanes once per super-block.
#[inline(always)]
pub(super) fn klanes<const R: usize>(ys: [&BlockQ8K; R], weights: impl Fn(usize) -> v128, scale: impl Fn(usize) -> i32) -> [(v128, v128); R] {
    let z = i32x4_splat(0);
    // Even chunks (first half of a 32-element load: lanes 0..4) and odd ones (lanes 4..8).
    let (mut even, mut odd) = ([(z, z); R], [(z, z); R]);
    let step = |k: usize, acc: &mut [(v128, v128); R]| {
        let w = weights(k);
        let s = i16x8_splat(scale(k) as i16);
        let w = (i16x8_mul(i16x8_extend_low_i8x16(w), s), i16x8_mul(i16x8_extend_high_i8x16(w), s));
        unroll4!(R, |t| {
            let (p0, p1) = dot_pairs_pre(w, yq(ys[t], 16 * k));
            acc[t] = (i32x4_add(acc[t].0, p0), i32x4_add(acc[t].1, p1));
        });
    };
    unroll8!(|j| {
        step(2 * j, &mut even);
        step(2 * j + 1, &mut odd);
    });
    core::array::from_fn(|t| (quads(even[t]), quads(odd[t])))
}

/// The `R` activation rows' block `i`.
#[inline(always)]
fn ys_at<'a, const R: usize>(yb: &[&'a [BlockQ8K]; R], i: usize) -> [&'a BlockQ8K; R] {
    core::array::from_fn(|t| &yb[t][i])
}

#[inline(always)]
fn q8k_rows<'a, const R: usize>(ys: [&'a [u8]; R], nb: usize) -> [&'a [BlockQ8K]; R] {
    core::array::from_fn(|t| blocks::<BlockQ8K>(ys[t], nb))
}

// ---------------------------------------------------------------- Q4_K / Q5_K

/// Q4_K / Q5_K scales (bytes 0..8) and mins (bytes 8..16), ggml's `get_scale_min_k4`
/// unpacking (`utmp`).
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

/// ggml's Q4_K / Q5_K min products: `madd(mins, hadd(bsums))`, lane k =
/// `m[2k] * (bs[4k] + bs[4k+1]) + m[2k+1] * (bs[4k+2] + bs[4k+3])`.
#[inline(always)]
fn k4_min_lanes(u: &[u32; 4], b: &BlockQ8K) -> v128 {
    let uv = u32x4(u[0], u[1], u[2], u[3]);
    // mins as i16 pairs [m0 m0 m1 m1 m2 m2 m3 m3] and [m4 .. m7] (16: out of range, zero).
    let z = 16u8;
    let lo = i8x16_swizzle(uv, u8x16(8, z, 8, z, 9, z, 9, z, 10, z, 10, z, 11, z, 11, z));
    let hi = i8x16_swizzle(uv, u8x16(12, z, 12, z, 13, z, 13, z, 14, z, 14, z, 15, z, 15, z));
    quads(madd_bsums((lo, hi), b))
}

/// Scale byte of 32-element sub-block `j` from [`k4_unpack`].
#[inline(always)]
fn k4_scale(u: &[u32; 4], j: usize) -> i32 {
    ((u[j / 4] >> (8 * (j % 4))) & 0xff) as i32
}

/// Q4_K weights 16k..16k+16 (nibbles of 32-byte group k / 4).
#[inline(always)]
fn w_q4k(qs: &[u8; 128], k: usize) -> v128 {
    let v = at(qs, 32 * (k / 4) + 16 * (k % 2));
    if (k % 4) < 2 { lo4(v) } else { hi4(v) }
}

/// `ggml_vec_dot_q4_K_q8_K` (AVX2): the mins in a 4-lane accumulator (`acc_m`).
#[inline(always)]
fn q4k_rows<const R: usize>(n: usize, x: &[u8], ys: [&[u8]; R]) -> [f32; R] {
    let nb = n / QK_K;
    let yb = q8k_rows(ys, nb);
    let (mut acc, mut acc_m) = ([Acc8::new(); R], [Acc4::new(); R]);
    for (i, a) in blocks::<BlockQ4K>(x, nb).iter().enumerate() {
        let u = k4_unpack(&a.scales);
        let y = ys_at(&yb, i);
        let lanes = klanes(y, |k| w_q4k(&a.qs, k), |k| k4_scale(&u, k / 2));
        let (d, dmin) = (f16_to_f32(a.d), f16_to_f32(a.dmin));
        unroll4!(R, |t| {
            acc_m[t].fma(-y[t].d * dmin, k4_min_lanes(&u, y[t]));
            acc[t].fma_cvt(y[t].d * d, lanes[t].0, lanes[t].1);
        });
    }
    core::array::from_fn(|t| acc[t].hsum() + acc_m[t].hsum())
}

/// Q5_K weights 16k..16k+16: Q4_K's nibbles plus bit `k / 2` of `qh` as 16.
#[inline(always)]
fn w_q5k(a: &BlockQ5K, k: usize) -> v128 {
    let h = v128_and(u8x16_shr(at(&a.qh, 16 * (k % 2)), (k / 2) as u32), i8x16_splat(1));
    v128_or(w_q4k(&a.qs, k), i8x16_shl(h, 4))
}

/// `ggml_vec_dot_q5_K_q8_K` (AVX2): the min products summed in integers, `summs += dmin *
/// isum` in scalar (contracted to an FMA), added after the horizontal sum.
#[inline(always)]
fn q5k_rows<const R: usize>(n: usize, x: &[u8], ys: [&[u8]; R]) -> [f32; R] {
    let nb = n / QK_K;
    let yb = q8k_rows(ys, nb);
    let (mut acc, mut summs) = ([Acc8::new(); R], [0f32; R]);
    for (i, a) in blocks::<BlockQ5K>(x, nb).iter().enumerate() {
        let u = k4_unpack(&a.scales);
        let y = ys_at(&yb, i);
        let lanes = klanes(y, |k| w_q5k(a, k), |k| k4_scale(&u, k / 2));
        let (d, dmin) = (f16_to_f32(a.d), f16_to_f32(a.dmin));
        unroll4!(R, |t| {
            let isum = hsum_i32(k4_min_lanes(&u, y[t]));
            summs[t] = fma_scalar(-y[t].d * dmin, isum as f32, summs[t]);
            acc[t].fma_cvt(y[t].d * d, lanes[t].0, lanes[t].1);
        });
    }
    core::array::from_fn(|t| acc[t].hsum() + summs[t])
}

// ---------------------------------------------------------------- Q6_K

/// Q6_K weights 16k..16k+16 WITHOUT the -32 offset (0..63; ggml subtracts `32 * madd(bsums,
/// scales)` from the lanes).
#[inline(always)]
fn w_q6k(a: &BlockQ6K, k: usize) -> v128 {
    let (half, part, l0) = (k / 8, (k % 8) / 2, 16 * (k % 2));
    let v = at(&a.ql, 64 * half + 32 * (part & 1) + l0);
    let low = if part < 2 { lo4(v) } else { hi4(v) };
    let qh = at(&a.qh, 32 * half + l0);
    let h = match part {
        0 => i16x8_shl(qh, 4),
        1 => i16x8_shl(qh, 2),
        2 => qh,
        _ => u16x8_shr(qh, 2),
    };
    v128_or(low, v128_and(h, i8x16_splat(0x30)))
}

/// `ggml_vec_dot_q6_K_q8_K` (AVX2).
#[inline(always)]
fn q6k_rows<const R: usize>(n: usize, x: &[u8], ys: [&[u8]; R]) -> [f32; R] {
    let nb = n / QK_K;
    let yb = q8k_rows(ys, nb);
    let mut acc = [Acc8::new(); R];
    for (i, a) in blocks::<BlockQ6K>(x, nb).iter().enumerate() {
        let y = ys_at(&yb, i);
        let lanes = klanes(y, |k| w_q6k(a, k), |k| a.scales[k] as i32);
        // SAFETY: 16 scale bytes.
        let scv = unsafe { load(a.scales.as_ptr().cast()) };
        let sc = (i16x8_extend_low_i8x16(scv), i16x8_extend_high_i8x16(scv));
        let d = f16_to_f32(a.d);
        unroll4!(R, |t| {
            let off = madd_bsums(sc, y[t]);
            let lo = i32x4_sub(lanes[t].0, i32x4_shl(off.0, 5));
            let hi = i32x4_sub(lanes[t].1, i32x4_shl(off.1, 5));
            acc[t].fma_cvt(y[t].d * d, lo, hi);
        });
    }
    core::array::from_fn(|t| acc[t].hsum())
}

// ---------------------------------------------------------------- Q2_K / Q3_K

/// 2-bit field `(k % 8) / 2` of 32-byte group `k / 8`, elements 16k..16k+16.
#[inline(always)]
fn two_bits(qs: &[u8; 64], k: usize) -> v128 {
    let (half, shift, l0) = (k / 8, (k % 8) / 2, 16 * (k % 2));
    v128_and(u16x8_shr(at(qs, 32 * half + l0), 2 * shift as u32), i8x16_splat(3))
}

/// `ggml_vec_dot_q2_K_q8_K` (AVX2): the mins' FMA, then the scales', into one accumulator.
#[inline(always)]
fn q2k_rows<const R: usize>(n: usize, x: &[u8], ys: [&[u8]; R]) -> [f32; R] {
    let nb = n / QK_K;
    let yb = q8k_rows(ys, nb);
    let mut acc = [Acc8::new(); R];
    for (i, a) in blocks::<BlockQ2K>(x, nb).iter().enumerate() {
        let y = ys_at(&yb, i);
        let lanes = klanes(y, |k| two_bits(&a.qs, k), |k| (a.scales[k] & 0x0f) as i32);
        // SAFETY: 16 scale bytes.
        let s = unsafe { load(a.scales.as_ptr()) };
        let mins = u8x16_shr(s, 4);
        let mins = (u16x8_extend_low_u8x16(mins), u16x8_extend_high_u8x16(mins));
        let (d, dmin) = (f16_to_f32(a.d), f16_to_f32(a.dmin));
        unroll4!(R, |t| {
            let m = madd_bsums(mins, y[t]);
            acc[t].fma_cvt(-y[t].d * dmin, m.0, m.1);
            acc[t].fma_cvt(y[t].d * d, lanes[t].0, lanes[t].1);
        });
    }
    core::array::from_fn(|t| acc[t].hsum())
}

/// Q3_K weights 16k..16k+16: the 2-bit value minus 4 where the high bit is clear.
#[inline(always)]
fn w_q3k(a: &BlockQ3K, k: usize) -> v128 {
    let (half, shift) = (k / 8, (k % 8) / 2);
    let h = v128_and(u8x16_shr(at(&a.hmask, 16 * (k % 2)), (4 * half + shift) as u32), i8x16_splat(1));
    i8x16_sub(i8x16_add(two_bits(&a.qs, k), i8x16_shl(h, 2)), i8x16_splat(4))
}

/// `ggml_vec_dot_q3_K_q8_K` (AVX2).
#[inline(always)]
fn q3k_rows<const R: usize>(n: usize, x: &[u8], ys: [&[u8]; R]) -> [f32; R] {
    let nb = n / QK_K;
    let yb = q8k_rows(ys, nb);
    let mut acc = [Acc8::new(); R];
    for (i, a) in blocks::<BlockQ3K>(x, nb).iter().enumerate() {
        let y = ys_at(&yb, i);
        let sc = q3k_scales(&a.scales);
        let lanes = klanes(y, |k| w_q3k(a, k), |k| sc[k] as i32 - 32);
        let d = f16_to_f32(a.d);
        unroll4!(R, |t| {
            acc[t].fma_cvt(y[t].d * d, lanes[t].0, lanes[t].1);
        });
    }
    core::array::from_fn(|t| acc[t].hsum())
}

// ---------------------------------------------------------------- IQ4_XS

#[inline(always)]
fn w_iq4xs(a: &BlockIq4Xs, k: usize) -> v128 {
    let v = at(&a.qs, 16 * (k / 2));
    lookup16(&KVALUES_IQ4NL, if k % 2 == 0 { lo4(v) } else { hi4(v) })
}

/// `ggml_vec_dot_iq4_xs_q8_K` (AVX2).
#[inline(always)]
fn iq4xs_rows<const R: usize>(n: usize, x: &[u8], ys: [&[u8]; R]) -> [f32; R] {
    let nb = n / QK_K;
    let yb = q8k_rows(ys, nb);
    let mut acc = [Acc8::new(); R];
    for (i, a) in blocks::<BlockIq4Xs>(x, nb).iter().enumerate() {
        let y = ys_at(&yb, i);
        let ls: [i32; 8] = core::array::from_fn(|ib| iq4xs_scale(a, ib));
        let lanes = klanes(y, |k| w_iq4xs(a, k), |k| ls[k / 2]);
        let d = f16_to_f32(a.d);
        unroll4!(R, |t| {
            acc[t].fma_cvt(d * y[t].d, lanes[t].0, lanes[t].1);
        });
    }
    core::array::from_fn(|t| acc[t].hsum())
}

/// Defines `$dot` and `$x4` from `$rows::<R>`.
macro_rules! kernels {
    ($rows:ident, $dot:ident, $x4:ident) => {
        pub fn $dot(n: usize, x: &[u8], y: &[u8]) -> f32 {
            $rows::<1>(n, x, [y])[0]
        }

        pub fn $x4(n: usize, x: &[u8], y: [&[u8]; 4]) -> [f32; 4] {
            $rows::<4>(n, x, y)
        }
    };
}

kernels!(q2k_rows, vec_dot_q2_k_q8_k, vec_dot_q2_k_q8_k_x4);
kernels!(q3k_rows, vec_dot_q3_k_q8_k, vec_dot_q3_k_q8_k_x4);
kernels!(q4k_rows, vec_dot_q4_k_q8_k, vec_dot_q4_k_q8_k_x4);
kernels!(q5k_rows, vec_dot_q5_k_q8_k, vec_dot_q5_k_q8_k_x4);
kernels!(q6k_rows, vec_dot_q6_k_q8_k, vec_dot_q6_k_q8_k_x4);
kernels!(iq4xs_rows, vec_dot_iq4_xs_q8_k, vec_dot_iq4_xs_q8_k_x4);

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
