//! wasm32 simd128 kernels, selected at compile time (`-C target-feature=+simd128`).
//!
//! Same names as the scalar kernels they replace. WebAssembly loads need no alignment, so
//! blocks are read straight from the byte slices. simd128 has no byte multiply-add, so the
//! integer dot products widen to i16 and add pairs with `i32x4.dot_i16x8_s`.
//!
//! The quantized dot products round exactly as ggml's x86 (AVX2) ones, i.e. as llama.cpp's
//! reference outputs were made (`quant::check::ggml_dot` is the spec, and the checks hold
//! these kernels to it bit for bit): ggml's eight 256-bit lanes per block, its FMAs emulated
//! exactly in f64 (`exact.rs`), its horizontal sums in its order. The float dots (F32, F16,
//! BF16) round as this crate's AVX2 ones (`quant::check::float_dot`).

/// `$body` for `$t` = 0, 1, 2, 3 below `$r` (a const generic), written out: LLVM leaves these
/// loops rolled, and a rolled loop over activation rows keeps their accumulators in memory.
macro_rules! unroll4 {
    ($r:expr, |$t:ident| $body:block) => {{
        {
            let $t = 0usize;
            if $t < $r $body
        }
        {
            let $t = 1usize;
            if $t < $r $body
        }
        {
            let $t = 2usize;
            if $t < $r $body
        }
        {
            let $t = 3usize;
            if $t < $r $body
        }
    }};
}

/// `$body` for `$j` = 0..8, written out (as [`unroll4`]).
macro_rules! unroll8 {
    (|$j:ident| $body:block) => {{
        { let $j = 0usize; $body }
        { let $j = 1usize; $body }
        { let $j = 2usize; $body }
        { let $j = 3usize; $body }
        { let $j = 4usize; $body }
        { let $j = 5usize; $body }
        { let $j = 6usize; $body }
        { let $j = 7usize; $body }
    }};
}

pub(super) mod exact;
mod float;
mod iquants;
mod kquants;
mod legacy;
mod misc;

use super::traits::{Isa, QuantTraits, QuantizeRowFn, VecDotFn, VecDotX4Fn};
use crate::GgmlType;
use core::arch::wasm32::*;

/// Replaces the scalar entries of `t` that have a simd128 kernel.
pub(crate) fn specialize(t: &mut QuantTraits) {
    use GgmlType::*;
    let fast: Option<VecDotFn> = match t.ty {
        F32 => Some(float::vec_dot_f32),
        F16 => Some(float::vec_dot_f16),
        BF16 => Some(float::vec_dot_bf16),
        Q4_1 => Some(legacy::vec_dot_q4_1_q8_1),
        Q5_1 => Some(legacy::vec_dot_q5_1_q8_1),
        MXFP4 => Some(legacy::vec_dot_mxfp4_q8_0),
        IQ2_XXS => Some(iquants::vec_dot_iq2_xxs_q8_k),
        IQ2_XS => Some(iquants::vec_dot_iq2_xs_q8_k),
        IQ2_S => Some(iquants::vec_dot_iq2_s_q8_k),
        IQ3_XXS => Some(iquants::vec_dot_iq3_xxs_q8_k),
        IQ3_S => Some(iquants::vec_dot_iq3_s_q8_k),
        IQ1_S => Some(iquants::vec_dot_iq1_s_q8_k),
        IQ1_M => Some(iquants::vec_dot_iq1_m_q8_k),
        TQ1_0 => Some(misc::vec_dot_tq1_0_q8_k),
        TQ2_0 => Some(misc::vec_dot_tq2_0_q8_k),
        NVFP4 => Some(misc::vec_dot_nvfp4_q8_0),
        Q1_0 => Some(misc::vec_dot_q1_0_q8_0),
        Q2_0 => Some(misc::vec_dot_q2_0_q8_0),
        Q4_0 => Some(legacy::vec_dot_q4_0_q8_0),
        Q5_0 => Some(legacy::vec_dot_q5_0_q8_0),
        Q8_0 => Some(legacy::vec_dot_q8_0_q8_0),
        IQ4_NL => Some(legacy::vec_dot_iq4_nl_q8_0),
        Q2_K => Some(kquants::vec_dot_q2_k_q8_k),
        Q3_K => Some(kquants::vec_dot_q3_k_q8_k),
        Q4_K => Some(kquants::vec_dot_q4_k_q8_k),
        Q5_K => Some(kquants::vec_dot_q5_k_q8_k),
        Q6_K => Some(kquants::vec_dot_q6_k_q8_k),
        IQ4_XS => Some(kquants::vec_dot_iq4_xs_q8_k),
        _ => None,
    };
    if let Some(f) = fast {
        t.vec_dot = f;
        t.vec_dot_isa = Isa::Simd128;
    }
    let x4: Option<VecDotX4Fn> = match t.ty {
        Q8_0 => Some(legacy::vec_dot_q8_0_q8_0_x4),
        Q4_0 => Some(legacy::vec_dot_q4_0_q8_0_x4),
        Q5_0 => Some(legacy::vec_dot_q5_0_q8_0_x4),
        IQ4_NL => Some(legacy::vec_dot_iq4_nl_q8_0_x4),
        Q4_1 => Some(legacy::vec_dot_q4_1_q8_1_x4),
        Q5_1 => Some(legacy::vec_dot_q5_1_q8_1_x4),
        Q2_K => Some(kquants::vec_dot_q2_k_q8_k_x4),
        Q3_K => Some(kquants::vec_dot_q3_k_q8_k_x4),
        Q4_K => Some(kquants::vec_dot_q4_k_q8_k_x4),
        Q5_K => Some(kquants::vec_dot_q5_k_q8_k_x4),
        Q6_K => Some(kquants::vec_dot_q6_k_q8_k_x4),
        IQ4_XS => Some(kquants::vec_dot_iq4_xs_q8_k_x4),
        IQ2_XXS => Some(iquants::vec_dot_iq2_xxs_q8_k_x4),
        IQ2_XS => Some(iquants::vec_dot_iq2_xs_q8_k_x4),
        IQ2_S => Some(iquants::vec_dot_iq2_s_q8_k_x4),
        IQ3_XXS => Some(iquants::vec_dot_iq3_xxs_q8_k_x4),
        IQ3_S => Some(iquants::vec_dot_iq3_s_q8_k_x4),
        IQ1_S => Some(iquants::vec_dot_iq1_s_q8_k_x4),
        IQ1_M => Some(iquants::vec_dot_iq1_m_q8_k_x4),
        TQ1_0 => Some(misc::vec_dot_tq1_0_q8_k_x4),
        TQ2_0 => Some(misc::vec_dot_tq2_0_q8_k_x4),
        _ => None,
    };
    if x4.is_some() {
        t.vec_dot_x4 = x4;
    }
    let fast_quant: Option<QuantizeRowFn> = match t.ty {
        Q8_0 => Some(legacy::quantize_row_q8_0),
        Q8_K => Some(kquants::quantize_row_q8_k),
        _ => None,
    };
    if fast_quant.is_some() {
        t.quantize_row = fast_quant;
    }
}

// ---------------------------------------------------------------- shared helpers

/// Loads 16 bytes from `p` (no alignment needed in wasm).
///
/// # Safety
/// `p..p+16` must be readable.
#[inline(always)]
unsafe fn load(p: *const u8) -> v128 {
    v128_load(p.cast())
}

/// Products of 16 signed bytes summed into 4 i32 lanes (which bytes go to which lane is
/// unspecified; callers only use the lane sum or per-16 scales).
///
/// Sign-extends to i16 and uses `i32x4.dot_i16x8_s` (x86 `pmaddwd`): cheaper under V8 than
/// `extmul` + `extadd_pairwise`, which lower to two multiplies and two adds per half.
#[inline(always)]
fn dot_i8(a: v128, b: v128) -> v128 {
    let lo = i32x4_dot_i16x8(i16x8_extend_low_i8x16(a), i16x8_extend_low_i8x16(b));
    let hi = i32x4_dot_i16x8(i16x8_extend_high_i8x16(a), i16x8_extend_high_i8x16(b));
    i32x4_add(lo, hi)
}

#[inline(always)]
fn hsum_i32(v: v128) -> i32 {
    i32x4_extract_lane::<0>(v)
        .wrapping_add(i32x4_extract_lane::<1>(v))
        .wrapping_add(i32x4_extract_lane::<2>(v))
        .wrapping_add(i32x4_extract_lane::<3>(v))
}

/// Low nibbles of 16 bytes.
#[inline(always)]
fn lo4(v: v128) -> v128 {
    v128_and(v, i8x16_splat(0x0f))
}

/// High nibbles of 16 bytes: a 16-bit lane shift plus a mask (V8 lowers the byte shift
/// `u8x16_shr` to a 16-bit shift plus a freshly built mask anyway).
#[inline(always)]
fn hi4(v: v128) -> v128 {
    v128_and(u16x8_shr(v, 4), i8x16_splat(0x0f))
}

/// Looks 16 nibbles up in a 16-entry i8 table.
#[inline(always)]
fn lookup16(table: &[i8; 16], idx: v128) -> v128 {
    // SAFETY: the table is 16 readable bytes.
    i8x16_swizzle(unsafe { load(table.as_ptr().cast()) }, idx)
}
