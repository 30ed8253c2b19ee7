//! simd128 kernels for F32, F16 and BF16 rows.

use super::exact::{hsum4, Acc8};
use super::load;
use crate::quant::float::{bf16_to_f32, f16_to_f32};
use core::arch::wasm32::*;

/// Shared loop, rounded as the AVX2 kernels' (`quant/x86/float.rs`, after ggml's
/// `ggml_vec_dot_f32`) bit for bit: four 8-lane accumulators, 32 elements per step with one
/// FMA per element, then 8 at a time into the first, the four added as `(a0 + a1) + (a2 + a3)`,
/// `hsum_float_8`, and a scalar tail (`sum += x * y`, unfused). `load4(i)` gives elements
/// `i..i+4` of both rows. (Attention scores and outputs are such dots: rounded otherwise, they
/// flip 8-bit activations of the next layer.) `EXACT_PRODUCT`: every `x * y` is exact in f32
/// (f16 inputs: 11-bit significands), so the FMA is a plain multiply and add.
#[inline(always)]
fn dot_lanes<const EXACT_PRODUCT: bool>(n: usize, load4: impl Fn(usize) -> (v128, v128), scalar: impl Fn(usize) -> f32) -> f32 {
    let mut acc = [Acc8::new(); 4];
    let mut accf = [(f32x4_splat(0.0), f32x4_splat(0.0)); 4];
    let mut step = |k: usize, i: usize| {
        let ((x0, y0), (x1, y1)) = (load4(i), load4(i + 4));
        if EXACT_PRODUCT {
            let a = &mut accf[k];
            *a = (f32x4_add(f32x4_mul(x0, y0), a.0), f32x4_add(f32x4_mul(x1, y1), a.1));
        } else {
            acc[k].fma_f32((x0, x1), (y0, y1));
        }
    };
    let mut i = 0;
    while i + 32 <= n {
        for k in 0..4 {
            step(k, i + 8 * k);
        }
        i += 32;
    }
    while i + 8 <= n {
        step(0, i);
        i += 8;
    }
    let mut sum = if EXACT_PRODUCT {
        let add = |a: (v128, v128), b: (v128, v128)| (f32x4_add(a.0, b.0), f32x4_add(a.1, b.1));
        let v = add(add(accf[0], accf[1]), add(accf[2], accf[3]));
        hsum4(f32x4_add(v.0, v.1))
    } else {
        acc[0].add(acc[1]).add(acc[2].add(acc[3])).hsum()
    };
    for j in i..n {
        sum += scalar(j);
    }
    sum
}

pub fn vec_dot_f32(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let (x, y) = (&x[..4 * n], &y[..4 * n]);
    let rd = |b: &[u8], i: usize| f32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]]);
    // SAFETY: i + 4 <= n inside the vector loop.
    dot_lanes::<false>(n, |i| unsafe { (load(x.as_ptr().add(4 * i)), load(y.as_ptr().add(4 * i))) }, |i| rd(x, i) * rd(y, i))
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
    dot_lanes::<true>(n, |i| unsafe { (f16x4(x.as_ptr().add(2 * i)), f16x4(y.as_ptr().add(2 * i))) }, |i| rd(x, i) * rd(y, i))
}

pub fn vec_dot_bf16(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let (x, y) = (&x[..2 * n], &y[..2 * n]);
    let rd = |b: &[u8], i: usize| bf16_to_f32(u16::from_le_bytes([b[2 * i], b[2 * i + 1]]));
    // SAFETY: 8 readable bytes at p.
    let w = |p: *const u8| unsafe { i32x4_shl(u32x4_extend_low_u16x8(v128_load64_zero(p.cast())), 16) };
    dot_lanes::<false>(n, |i| (w(x[2 * i..].as_ptr()), w(y[2 * i..].as_ptr())), |i| rd(x, i) * rd(y, i))
}
