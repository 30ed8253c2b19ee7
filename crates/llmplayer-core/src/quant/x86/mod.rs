//! x86_64 AVX2 + FMA kernels, selected at run time.
//!
//! Every kernel is an `unsafe fn` with `#[target_feature(enable = "avx2,fma,f16c")]` (plus `f16c`
//! for the f16 ones) named like the scalar kernel it replaces. [`specialize`] installs safe
//! wrappers in the traits table only after [`available`] returned true, which is the safety
//! argument for every call below.

/// Calls `$kernel::<nt>(args)` for a token count `nt` in 1..=8 (the panel kernels are
/// compiled per count so that their accumulators stay in registers).
macro_rules! by_tokens {
    ($kernel:ident, $nt:expr, $($arg:expr),*) => {
        match $nt {
            8 => $kernel::<8>($($arg),*),
            7 => $kernel::<7>($($arg),*),
            6 => $kernel::<6>($($arg),*),
            5 => $kernel::<5>($($arg),*),
            4 => $kernel::<4>($($arg),*),
            3 => $kernel::<3>($($arg),*),
            2 => $kernel::<2>($($arg),*),
            1 => $kernel::<1>($($arg),*),
            nt => panic!("panel_dot: {nt} tokens (1..=8)"),
        }
    };
}

/// Runs an AVX2 half-panel kernel `$half::<T, params..>(nb, panel_ptr, half, acts, j, out)`
/// over both 8-row halves of a 16-row panel and `nt` tokens from `j0`, at most 4 at a time
/// (so its accumulators fit the 16 ymm registers); evaluates to `out[t][row]`.
macro_rules! halves_by_tokens {
    ($half:ident::<_ $(, $p:tt)*>, $nb:expr, $panel:expr, $acts:expr, $j0:expr, $nt:expr) => {{
        let mut out = [[0.0f32; 16]; $crate::quant::acts::PANEL_TOKENS];
        let mut t0 = 0;
        while t0 < $nt {
            let n = ($nt - t0).min(4);
            for half in 0..2 {
                let (p, o) = ($panel.as_ptr(), &mut out[t0..]);
                match n {
                    4 => $half::<4 $(, $p)*>($nb, p, half, $acts, $j0 + t0, o),
                    3 => $half::<3 $(, $p)*>($nb, p, half, $acts, $j0 + t0, o),
                    2 => $half::<2 $(, $p)*>($nb, p, half, $acts, $j0 + t0, o),
                    _ => $half::<1 $(, $p)*>($nb, p, half, $acts, $j0 + t0, o),
                }
            }
            t0 += n;
        }
        out
    }};
}

/// Wraps a panel packer `$f(w, row_bytes, cols, panel)` (an `unsafe fn` needing the CPU
/// features that `$gate()` checks) in a safe fn pointer.
macro_rules! panel_pack_fn {
    ($f:path, $gate:path) => {{
        fn wrapper(w: &[u8], row_bytes: usize, cols: usize, panel: &mut [u8]) {
            debug_assert!($gate());
            // SAFETY: installed only after `$gate()` returned true; bounds are asserted inside.
            unsafe { $f(w, row_bytes, cols, panel) }
        }
        wrapper as $crate::quant::traits::PackPanelFn
    }};
}

/// Wraps a panel dot `$f(cols, panel, acts, j0, nt)` the same way.
macro_rules! panel_dot_fn {
    ($f:path, $gate:path) => {{
        fn wrapper(
            cols: usize,
            panel: &[u8],
            acts: &$crate::quant::QuantizedActs,
            j0: usize,
            nt: usize,
        ) -> [[f32; 16]; $crate::quant::acts::PANEL_TOKENS] {
            debug_assert!($gate());
            // SAFETY: installed only after `$gate()` returned true; bounds are asserted inside.
            unsafe { $f(cols, panel, acts, j0, nt) }
        }
        wrapper as $crate::quant::traits::PanelDotFn
    }};
}

mod float;
mod iquants;
mod kquants;
mod legacy;
mod misc;
mod mxfp4;
mod panel;
mod panel_avx2;
mod panel_k;
mod panel_k_avx2;
#[cfg_attr(not(test), allow(dead_code))]
mod panel_q8_1;
#[cfg(test)]
mod panel_tests;
mod tile4x4;
mod vnni;
mod x4;

use super::traits::{Isa, QuantTraits, QuantizeRowFn, VecDot4x4Fn, VecDotFn, VecDotX4Fn};
use crate::GgmlType;
use std::arch::x86_64::*;
use std::sync::OnceLock;

/// Whether this CPU has AVX2, FMA and F16C (detected once).
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") && is_x86_feature_detected!("f16c")
    })
}

/// Wraps an AVX2 `vec_dot` kernel in a safe fn pointer.
macro_rules! dot {
    ($f:path) => {{
        fn wrapper(n: usize, x: &[u8], y: &[u8]) -> f32 {
            // SAFETY: only installed after `available()` returned true.
            unsafe { $f(n, x, y) }
        }
        wrapper as VecDotFn
    }};
}

/// Wraps an AVX2 activation quantizer in a safe fn pointer.
macro_rules! quant {
    ($f:path) => {{
        fn wrapper(x: &[f32], y: &mut [u8]) {
            // SAFETY: only installed after `available()` returned true.
            unsafe { $f(x, y) }
        }
        wrapper as QuantizeRowFn
    }};
}

/// Wraps an AVX2 one-row-by-four-rows kernel in a safe fn pointer.
macro_rules! dot_x4 {
    ($f:path) => {{
        fn wrapper(n: usize, x: &[u8], y: [&[u8]; 4]) -> [f32; 4] {
            // SAFETY: only installed after `available()` returned true.
            unsafe { $f(n, x, y) }
        }
        wrapper as VecDotX4Fn
    }};
}

/// Wraps a four-rows-by-four-rows kernel in a safe fn pointer.
macro_rules! dot_4x4 {
    ($f:path) => {{
        fn wrapper(n: usize, x: [&[u8]; 4], y: [&[u8]; 4]) -> [[f32; 4]; 4] {
            // SAFETY: only installed after `available()` (AVX2 kernels) or `vnni::available()`
            // (VNNI kernels) returned true.
            unsafe { $f(n, x, y) }
        }
        wrapper as VecDot4x4Fn
    }};
}

/// `out[j] = x · rows[j * stride..][..x.len()]` with the AVX2 kernel; false (nothing written)
/// when this CPU lacks AVX2/FMA/F16C.
pub(crate) fn dot_rows_f32(x: &[f32], rows: &[f32], stride: usize, out: &mut [f32]) -> bool {
    if !available() {
        return false;
    }
    // SAFETY: `available()` returned true; bounds are asserted inside.
    unsafe { float::dot_rows_f32(x, rows, stride, out) };
    true
}

/// Replaces the scalar entries of `t` that have an AVX2 kernel.
pub(crate) fn specialize(t: &mut QuantTraits) {
    use GgmlType::*;
    if !available() {
        return;
    }
    let fast: Option<VecDotFn> = match t.ty {
        F32 => Some(dot!(float::vec_dot_f32)),
        F16 => Some(dot!(float::vec_dot_f16)),
        BF16 => Some(dot!(float::vec_dot_bf16)),
        Q4_0 => Some(dot!(legacy::vec_dot_q4_0_q8_0)),
        Q4_1 => Some(dot!(legacy::vec_dot_q4_1_q8_1)),
        Q5_0 => Some(dot!(legacy::vec_dot_q5_0_q8_0)),
        Q5_1 => Some(dot!(legacy::vec_dot_q5_1_q8_1)),
        Q8_0 => Some(dot!(legacy::vec_dot_q8_0_q8_0)),
        IQ4_NL => Some(dot!(legacy::vec_dot_iq4_nl_q8_0)),
        MXFP4 => Some(dot!(legacy::vec_dot_mxfp4_q8_0)),
        Q2_K => Some(dot!(kquants::vec_dot_q2_k_q8_k)),
        Q3_K => Some(dot!(kquants::vec_dot_q3_k_q8_k)),
        Q4_K => Some(dot!(kquants::vec_dot_q4_k_q8_k)),
        Q5_K => Some(dot!(kquants::vec_dot_q5_k_q8_k)),
        Q6_K => Some(dot!(kquants::vec_dot_q6_k_q8_k)),
        IQ4_XS => Some(dot!(kquants::vec_dot_iq4_xs_q8_k)),
        IQ2_XXS => Some(dot!(iquants::vec_dot_iq2_xxs_q8_k)),
        IQ2_XS => Some(dot!(iquants::vec_dot_iq2_xs_q8_k)),
        IQ2_S => Some(dot!(iquants::vec_dot_iq2_s_q8_k)),
        IQ3_XXS => Some(dot!(iquants::vec_dot_iq3_xxs_q8_k)),
        IQ3_S => Some(dot!(iquants::vec_dot_iq3_s_q8_k)),
        IQ1_S => Some(dot!(iquants::vec_dot_iq1_s_q8_k)),
        IQ1_M => Some(dot!(iquants::vec_dot_iq1_m_q8_k)),
        TQ1_0 => Some(dot!(misc::vec_dot_tq1_0_q8_k)),
        TQ2_0 => Some(dot!(misc::vec_dot_tq2_0_q8_k)),
        NVFP4 => Some(dot!(misc::vec_dot_nvfp4_q8_0)),
        Q1_0 => Some(dot!(misc::vec_dot_q1_0_q8_0)),
        Q2_0 => Some(dot!(misc::vec_dot_q2_0_q8_0)),
        Q8_1 | Q8_K | I8 | I16 | I32 | I64 | F64 => None,
    };
    if let Some(f) = fast {
        t.vec_dot = f;
        t.vec_dot_isa = Isa::Avx2;
    }
    t.vec_dot_x4 = match t.ty {
        Q8_0 => Some(dot_x4!(x4::vec_dot_q8_0_q8_0_x4)),
        Q4_0 => Some(dot_x4!(x4::vec_dot_q4_0_q8_0_x4)),
        Q4_1 => Some(dot_x4!(x4::vec_dot_q4_1_q8_1_x4)),
        Q5_1 => Some(dot_x4!(x4::vec_dot_q5_1_q8_1_x4)),
        IQ4_NL => Some(dot_x4!(x4::vec_dot_iq4_nl_q8_0_x4)),
        Q4_K => Some(dot_x4!(x4::vec_dot_q4_k_q8_k_x4)),
        Q6_K => Some(dot_x4!(x4::vec_dot_q6_k_q8_k_x4)),
        Q2_K => Some(dot_x4!(x4::vec_dot_q2_k_q8_k_x4)),
        Q3_K => Some(dot_x4!(x4::vec_dot_q3_k_q8_k_x4)),
        Q5_K => Some(dot_x4!(x4::vec_dot_q5_k_q8_k_x4)),
        IQ4_XS => Some(dot_x4!(x4::vec_dot_iq4_xs_q8_k_x4)),
        _ => None,
    };
    t.vec_dot_4x4 = match t.ty {
        Q8_0 => Some(dot_4x4!(tile4x4::vec_dot_q8_0_q8_0_4x4_avx2)),
        Q4_0 => Some(dot_4x4!(tile4x4::vec_dot_q4_0_q8_0_4x4_avx2)),
        IQ4_NL => Some(dot_4x4!(tile4x4::vec_dot_iq4_nl_q8_0_4x4_avx2)),
        _ => None,
    };
    // AVX-512 VNNI versions where the CPU has them (`vnni::available` implies `available`).
    if vnni::available() {
        match t.ty {
            Q4_K => t.vec_dot_x4 = Some(dot_x4!(vnni::vec_dot_q4_k_q8_k_x4)),
            Q8_0 => t.vec_dot_4x4 = Some(dot_4x4!(tile4x4::vec_dot_q8_0_q8_0_4x4)),
            Q4_0 => t.vec_dot_4x4 = Some(dot_4x4!(tile4x4::vec_dot_q4_0_q8_0_4x4)),
            IQ4_NL => t.vec_dot_4x4 = Some(dot_4x4!(tile4x4::vec_dot_iq4_nl_q8_0_4x4)),
            MXFP4 => t.vec_dot = dot!(mxfp4::vec_dot_mxfp4_q8_0),
            _ => {}
        }
    }
    // Panels: AVX-512 VNNI ones where the CPU has them, else the AVX2 ones. Each rounds as
    // what llama.cpp runs for its type in prefill, bit for bit: the Q8_0-activation panels
    // (Q8_0, Q4_0, Q5_0, IQ4_NL) as tinyBLAS (8 lanes, one accumulator each), the K-quant
    // panels (`panel_k*.rs`) as ggml's AVX2 `ggml_vec_dot_*_q8_K` (8 integer lanes per
    // super-block, one fma per lane, hsum_float_8). Exactness costs the first ones about
    // half their speed (merging the lanes into one f32 step per block was 1.6-2.7x faster),
    // and it is not optional: an ulp in an attention projection flipped an expert choice of
    // the qwen3moe Q8_0 fixture. Q4_1/Q5_1 take none (`panel_q8_1.rs` has one f32 product per
    // block where ggml's dot has 8 lanes).
    let panel = if vnni::available() {
        panel::kernels(t.ty).or_else(|| panel_k::kernels(t.ty)).or_else(|| (t.ty == MXFP4).then(mxfp4::kernels))
    } else {
        panel_avx2::kernels(t.ty).or_else(|| panel_k_avx2::kernels(t.ty))
    };
    if let Some((pack, dot, bytes)) = panel {
        (t.pack_panel, t.panel_dot, t.panel_block_bytes) = (Some(pack), Some(dot), bytes);
    }
    let fast_quant: Option<QuantizeRowFn> = match t.ty {
        F16 => Some(quant!(float::quantize_row_f16)),
        Q8_0 => Some(quant!(legacy::quantize_row_q8_0)),
        Q8_1 => Some(quant!(legacy::quantize_row_q8_1)),
        Q8_K => Some(quant!(kquants::quantize_row_q8_k)),
        _ => None,
    };
    if fast_quant.is_some() {
        t.quantize_row = fast_quant;
    }
}

// ---------------------------------------------------------------- shared helpers

/// f16 bits to f32 with F16C (exact).
///
/// The bits are broadcast, which writes the whole register: with `_mm_cvtsi32_si128` LLVM
/// loads them with `vpinsrw` into a stale register, chaining every block's scale to the
/// previous block's accumulator (a false dependency that halved Q4_0 throughput).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn fp16(h: u16) -> f32 {
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_set1_epi16(h as i16)))
}

/// `f16(a) * f16(b)` with one conversion (see [`fp16`]).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn fp16_mul(a: u16, b: u16) -> f32 {
    let v = _mm_cvtph_ps(_mm_set1_epi32((a as u32 | (b as u32) << 16) as i32));
    _mm_cvtss_f32(_mm_mul_ss(v, _mm_movehdup_ps(v)))
}

/// Sum of the 8 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn hsum_ps(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

/// Sum of the 8 i32 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn hsum_epi32(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b01_00_11_10));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b10_11_00_01));
    _mm_cvtsi128_si32(s)
}

/// Products of unsigned bytes `ax` and signed bytes `sy`, summed in groups of 4 into i32 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn mul_sum_us8_epi32(ax: __m256i, sy: __m256i) -> __m256i {
    _mm256_madd_epi16(_mm256_maddubs_epi16(ax, sy), _mm256_set1_epi16(1))
}

/// Products of signed bytes summed in groups of 4 (8 i32 lanes), via `|x| * (sign(x) * y)`.
/// Requires `y != -128`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn mul_sum_i8_epi32(x: __m256i, y: __m256i) -> __m256i {
    mul_sum_us8_epi32(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x))
}

/// Products of signed bytes summed in pairs (16 i16 lanes); requires `y != -128` and
/// `|x| * 127 * 2 < 32768`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn mul_add_i8_epi16(x: __m256i, y: __m256i) -> __m256i {
    _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x))
}

/// 16 bytes of nibbles to 32 bytes: low nibbles in bytes 0..16, high nibbles in 16..32.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn nibbles32(p: *const u8) -> __m256i {
    let t = _mm_loadu_si128(p.cast());
    _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0x0f))
}

/// The 32 bits of `bits` as bytes: 0xff where the bit is set, 0 elsewhere.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn bytes_from_bits_32(bits: u32) -> __m256i {
    let shuf = _mm256_set_epi64x(0x0303_0303_0303_0303, 0x0202_0202_0202_0202, 0x0101_0101_0101_0101, 0);
    let bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(bits as i32), shuf);
    let bit_mask = _mm256_set1_epi64x(0x7fbf_dfef_f7fb_fdfe_u64 as i64);
    _mm256_cmpeq_epi8(_mm256_or_si256(bytes, bit_mask), _mm256_set1_epi64x(-1))
}

/// Looks up 32 nibbles (one per byte, 0..16) in a 16-entry i8 table.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn lookup16(table: &[i8; 16], idx: __m256i) -> __m256i {
    let t = _mm_loadu_si128(table.as_ptr().cast());
    _mm256_shuffle_epi8(_mm256_set_m128i(t, t), idx)
}
