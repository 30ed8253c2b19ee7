//! simd128 one-row-by-four-rows kernels for the 32-element types against Q8_0: each weight
//! block is unpacked once for four activation rows (the mat-mat micro-kernel).

use super::legacy::{f16x4_to_f32, hsum4_i32};
use super::{dot_pre, hi4, load, lo4, lookup16, widen_i8};
use crate::quant::blocks;
use crate::quant::blocks_legacy::{BlockQ4_0, BlockQ5_0, BlockQ8_0};
use crate::quant::blocks_nl4::BlockIq4Nl;
use crate::quant::float::f16_to_f32;
use crate::quant::grids::KVALUES_IQ4NL;
use core::arch::wasm32::*;

/// Defines `$name(n, w, [a0..a3])` for `$block` rows whose block `$a` has scale `$scale` and
/// signed weight halves `$weights` (elements 0..16, 16..32).
macro_rules! dot_q8_0_x4 {
    ($name:ident, $block:ty, |$a:ident| $scale:expr, $weights:expr) => {
        pub fn $name(n: usize, x: &[u8], y: [&[u8]; 4]) -> [f32; 4] {
            let nb = n / 32;
            let ys = [
                blocks::<BlockQ8_0>(y[0], nb),
                blocks::<BlockQ8_0>(y[1], nb),
                blocks::<BlockQ8_0>(y[2], nb),
                blocks::<BlockQ8_0>(y[3], nb),
            ];
            // Lane t of `acc` is row t: the four rows' block sums are reduced into one vector,
            // converted once and scaled by the four row scales (converted from f16 together).
            let mut acc = f32x4_splat(0.0);
            for (i, $a) in blocks::<$block>(x, nb).iter().enumerate() {
                let (w0, w1): (v128, v128) = $weights;
                let (w0, w1) = (widen_i8(w0), widen_i8(w1));
                let dw: f32 = $scale;
                let sums: [v128; 4] = core::array::from_fn(|t| {
                    let b = &ys[t][i];
                    // SAFETY: a Q8_0 block holds 32 quant bytes.
                    let (y0, y1) = unsafe { (load(b.qs.as_ptr().cast()), load(b.qs.as_ptr().add(16).cast())) };
                    i32x4_add(dot_pre(w0, y0), dot_pre(w1, y1))
                });
                let dy = f16x4_to_f32([ys[0][i].d, ys[1][i].d, ys[2][i].d, ys[3][i].d]);
                let d = f32x4_mul(f32x4_splat(dw), dy);
                acc = f32x4_add(acc, f32x4_mul(d, f32x4_convert_i32x4(hsum4_i32(sums))));
            }
            [f32x4_extract_lane::<0>(acc), f32x4_extract_lane::<1>(acc), f32x4_extract_lane::<2>(acc), f32x4_extract_lane::<3>(acc)]
        }
    };
}

// SAFETY (all loads below): Q8_0 blocks hold 32 quant bytes, Q4_0 / Q5_0 / IQ4_NL 16.
dot_q8_0_x4!(vec_dot_q8_0_q8_0_x4, BlockQ8_0, |a| f16_to_f32(a.d), unsafe {
    (load(a.qs.as_ptr().cast()), load(a.qs.as_ptr().add(16).cast()))
});
dot_q8_0_x4!(vec_dot_q4_0_q8_0_x4, BlockQ4_0, |a| f16_to_f32(a.d), {
    let q = unsafe { load(a.qs.as_ptr()) };
    (i8x16_sub(lo4(q), i8x16_splat(8)), i8x16_sub(hi4(q), i8x16_splat(8)))
});
dot_q8_0_x4!(vec_dot_q5_0_q8_0_x4, BlockQ5_0, |a| f16_to_f32(a.d), {
    let q = unsafe { load(a.qs.as_ptr()) };
    let qh = u32::from_le_bytes(a.qh);
    let sixteen = i8x16_splat(16);
    let h0 = v128_and(super::legacy::bits16(qh as u16), sixteen);
    let h1 = v128_and(super::legacy::bits16((qh >> 16) as u16), sixteen);
    (i8x16_sub(v128_or(lo4(q), h0), sixteen), i8x16_sub(v128_or(hi4(q), h1), sixteen))
});
dot_q8_0_x4!(vec_dot_iq4_nl_q8_0_x4, BlockIq4Nl, |a| f16_to_f32(a.d), {
    let q = unsafe { load(a.qs.as_ptr()) };
    (lookup16(&KVALUES_IQ4NL, lo4(q)), lookup16(&KVALUES_IQ4NL, hi4(q)))
});
