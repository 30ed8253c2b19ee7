//! The type-traits table: one row of kernels per [`GgmlType`] (ggml's `type_traits_cpu`).
//!
//! The table is built once, on first use: the scalar row comes from one exhaustive `match`,
//! then the SIMD backend (AVX2+FMA detected at run time on x86_64, simd128 enabled at compile
//! time on wasm32) replaces the entries it implements.

use super::{
    blocks_iq1 as iq1, blocks_iq2 as iq2, blocks_k as k, blocks_legacy as legacy, blocks_nl4 as nl4,
    blocks_ternary as tern, float,
};
use crate::ggml_type::TYPE_TABLE;
use crate::GgmlType;
use std::sync::OnceLock;

/// `dequantize_row(bytes, out)`: decodes `out.len()` elements.
pub type DequantizeRowFn = fn(&[u8], &mut [f32]);
/// `vec_dot(n, weights, activations)`: dot product of `n` elements; the activations are in
/// the weight type's `vec_dot_type`.
pub type VecDotFn = fn(usize, &[u8], &[u8]) -> f32;
/// `vec_dot_x4(n, weights, [a0, a1, a2, a3])`: one weight row against four activation rows
/// (the mat-mat micro-kernel; each weight block is decoded once for the four).
pub type VecDotX4Fn = fn(usize, &[u8], [&[u8]; 4]) -> [f32; 4];
/// `vec_dot_4x4(n, [w0, w1, w2, w3], [a0, a1, a2, a3])`: four weight rows against four
/// activation rows, `out[r][t] = w[r] · a[t]` (the larger mat-mat micro-kernel).
pub type VecDot4x4Fn = fn(usize, [&[u8]; 4], [&[u8]; 4]) -> [[f32; 4]; 4];
/// `pack_panel(w, row_bytes, cols, panel)`: decodes 16 weight rows (row `r` at
/// `w[r * row_bytes..]`) into the backend's interleaved panel for `panel_dot`.
pub type PackPanelFn = fn(&[u8], usize, usize, &mut [u8]);
/// `panel_dot(cols, panel, acts, j0, nt)`: `out[t][r]` = panel row `r` · activation row
/// `j0 + t`, for `t < nt <= 8` (the activations' block sums must be prepared).
pub type PanelDotFn = fn(usize, &[u8], &crate::quant::QuantizedActs, usize, usize) -> [[f32; 16]; 8];
/// `quantize_row(x, out)`: converts `x.len()` f32 activations into this type.
pub type QuantizeRowFn = fn(&[f32], &mut [u8]);

/// Which instruction set a table entry's kernels use (not a device: every one runs on the CPU).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    Scalar,
    Avx2,
    Simd128,
}

impl Isa {
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Simd128 => "simd128",
        }
    }
}

/// The kernels for one type.
#[derive(Clone, Copy, Debug)]
pub struct QuantTraits {
    pub ty: GgmlType,
    /// Elements per block and bytes per block.
    pub block_size: usize,
    pub type_size: usize,
    /// The type activations are converted to before `vec_dot`.
    pub vec_dot_type: GgmlType,
    pub dequantize_row: DequantizeRowFn,
    /// The selected dot product (SIMD where available).
    pub vec_dot: VecDotFn,
    /// The scalar dot product: the oracle the SIMD kernels are tested against.
    pub vec_dot_scalar: VecDotFn,
    /// Which implementation `vec_dot` is.
    pub vec_dot_isa: Isa,
    /// Optional register-blocked kernel for four activation rows; equals four `vec_dot`s.
    pub vec_dot_x4: Option<VecDotX4Fn>,
    /// Optional four-rows-by-four-tokens kernel; equals sixteen `vec_dot`s. Mat-mat prefers it.
    pub vec_dot_4x4: Option<VecDot4x4Fn>,
    /// Optional panel kernels (both or neither): 16 weight rows packed once per row block,
    /// then up to 8 tokens per call. Mat-mat prefers them for large batches.
    pub pack_panel: Option<PackPanelFn>,
    pub panel_dot: Option<PanelDotFn>,
    /// Panel bytes per weight block (16 rows); 0 without panel kernels.
    pub panel_block_bytes: usize,
    /// Converter of f32 activations into this type; only for activation types
    /// (F32, F16, BF16, Q8_0, Q8_1, Q8_K).
    pub quantize_row: Option<QuantizeRowFn>,
    pub quantize_row_scalar: Option<QuantizeRowFn>,
}

impl QuantTraits {
    /// Which mat-mat kernel a large batch takes: `panel`, `4x4`, `x4` or `dot`.
    pub fn mat_mat_kernel(&self) -> &'static str {
        if self.panel_dot.is_some() {
            "panel"
        } else if self.vec_dot_4x4.is_some() {
            "4x4"
        } else if self.vec_dot_x4.is_some() {
            "x4"
        } else {
            "dot"
        }
    }
}

fn scalar_row(ty: GgmlType) -> Option<QuantTraits> {
    use GgmlType::*;
    let (dequantize_row, vec_dot_type, vec_dot): (DequantizeRowFn, GgmlType, VecDotFn) = match ty {
        F32 => (float::dequantize_row_f32, F32, float::vec_dot_f32),
        F16 => (float::dequantize_row_f16, F16, float::vec_dot_f16),
        BF16 => (float::dequantize_row_bf16, BF16, float::vec_dot_bf16),
        Q4_0 => (legacy::dequantize_row_q4_0, Q8_0, legacy::vec_dot_q4_0_q8_0),
        Q4_1 => (legacy::dequantize_row_q4_1, Q8_1, legacy::vec_dot_q4_1_q8_1),
        Q5_0 => (legacy::dequantize_row_q5_0, Q8_0, legacy::vec_dot_q5_0_q8_0),
        Q5_1 => (legacy::dequantize_row_q5_1, Q8_1, legacy::vec_dot_q5_1_q8_1),
        Q8_0 => (legacy::dequantize_row_q8_0, Q8_0, legacy::vec_dot_q8_0_q8_0),
        Q8_1 => (legacy::dequantize_row_q8_1, Q8_1, legacy::vec_dot_q8_1_q8_1),
        Q1_0 => (legacy::dequantize_row_q1_0, Q8_0, legacy::vec_dot_q1_0_q8_0),
        Q2_0 => (legacy::dequantize_row_q2_0, Q8_0, legacy::vec_dot_q2_0_q8_0),
        Q2_K => (k::dequantize_row_q2_k, Q8_K, k::vec_dot_q2_k_q8_k),
        Q3_K => (k::dequantize_row_q3_k, Q8_K, k::vec_dot_q3_k_q8_k),
        Q4_K => (k::dequantize_row_q4_k, Q8_K, k::vec_dot_q4_k_q8_k),
        Q5_K => (k::dequantize_row_q5_k, Q8_K, k::vec_dot_q5_k_q8_k),
        Q6_K => (k::dequantize_row_q6_k, Q8_K, k::vec_dot_q6_k_q8_k),
        Q8_K => (k::dequantize_row_q8_k, Q8_K, k::vec_dot_q8_k_q8_k),
        IQ2_XXS => (iq2::dequantize_row_iq2_xxs, Q8_K, iq2::vec_dot_iq2_xxs_q8_k),
        IQ2_XS => (iq2::dequantize_row_iq2_xs, Q8_K, iq2::vec_dot_iq2_xs_q8_k),
        IQ2_S => (iq2::dequantize_row_iq2_s, Q8_K, iq2::vec_dot_iq2_s_q8_k),
        IQ3_XXS => (iq2::dequantize_row_iq3_xxs, Q8_K, iq2::vec_dot_iq3_xxs_q8_k),
        IQ3_S => (iq2::dequantize_row_iq3_s, Q8_K, iq2::vec_dot_iq3_s_q8_k),
        IQ1_S => (iq1::dequantize_row_iq1_s, Q8_K, iq1::vec_dot_iq1_s_q8_k),
        IQ1_M => (iq1::dequantize_row_iq1_m, Q8_K, iq1::vec_dot_iq1_m_q8_k),
        IQ4_NL => (nl4::dequantize_row_iq4_nl, Q8_0, nl4::vec_dot_iq4_nl_q8_0),
        IQ4_XS => (nl4::dequantize_row_iq4_xs, Q8_K, nl4::vec_dot_iq4_xs_q8_k),
        MXFP4 => (nl4::dequantize_row_mxfp4, Q8_0, nl4::vec_dot_mxfp4_q8_0),
        NVFP4 => (nl4::dequantize_row_nvfp4, Q8_0, nl4::vec_dot_nvfp4_q8_0),
        TQ1_0 => (tern::dequantize_row_tq1_0, Q8_K, tern::vec_dot_tq1_0_q8_k),
        TQ2_0 => (tern::dequantize_row_tq2_0, Q8_K, tern::vec_dot_tq2_0_q8_k),
        I8 | I16 | I32 | I64 | F64 => return None,
    };
    let quantize_row: Option<QuantizeRowFn> = match ty {
        F32 => Some(float::quantize_row_f32),
        F16 => Some(float::quantize_row_f16),
        BF16 => Some(float::quantize_row_bf16),
        Q8_0 => Some(legacy::quantize_row_q8_0),
        Q8_1 => Some(legacy::quantize_row_q8_1),
        Q8_K => Some(k::quantize_row_q8_k),
        _ => None,
    };
    Some(QuantTraits {
        ty,
        block_size: ty.block_size() as usize,
        type_size: ty.type_size() as usize,
        vec_dot_type,
        dequantize_row,
        vec_dot,
        vec_dot_scalar: vec_dot,
        vec_dot_isa: Isa::Scalar,
        vec_dot_x4: None,
        vec_dot_4x4: None,
        pack_panel: None,
        panel_dot: None,
        panel_block_bytes: 0,
        quantize_row,
        quantize_row_scalar: quantize_row,
    })
}

fn build() -> Vec<Option<QuantTraits>> {
    TYPE_TABLE
        .iter()
        .map(|info| {
            #[allow(unused_mut)]
            let mut row = scalar_row(info.ty)?;
            #[cfg(target_arch = "x86_64")]
            super::x86::specialize(&mut row);
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            super::wasm::specialize(&mut row);
            Some(row)
        })
        .collect()
}

static TABLE: OnceLock<Vec<Option<QuantTraits>>> = OnceLock::new();

/// The kernels for `ty`, or `None` for the plain integer / f64 types.
pub fn traits(ty: GgmlType) -> Option<&'static QuantTraits> {
    TABLE.get_or_init(build)[ty as usize].as_ref()
}

/// The instruction set this process selected (`Scalar` when none applies).
pub fn isa() -> Isa {
    #[cfg(target_arch = "x86_64")]
    if super::x86::available() {
        return Isa::Avx2;
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return Isa::Simd128;
    #[allow(unreachable_code)]
    Isa::Scalar
}

/// Converts f32 activations into the activation type `ty` (F32, F16, BF16, Q8_0, Q8_1, Q8_K).
///
/// # Panics
/// If `ty` is not an activation type, `x.len()` is not a whole number of blocks or `out`
/// is too short.
pub fn quantize_row(ty: GgmlType, x: &[f32], out: &mut [u8]) {
    let q = traits(ty).and_then(|t| t.quantize_row);
    let q = q.unwrap_or_else(|| panic!("{ty} is not an activation type"));
    let need = super::row_bytes(ty, x.len());
    assert!(out.len() >= need, "quantize_row: need {need} bytes, got {}", out.len());
    q(x, &mut out[..need]);
}
