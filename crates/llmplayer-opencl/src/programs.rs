//! The OpenCL C sources (the repository's `opencl/` folder, embedded) and which type uses which.

use llmplayer_core::quant::grids::{
    IQ1S_DELTA, IQ1S_GRID, IQ2S_GRID, IQ2XS_GRID, IQ2XXS_GRID, IQ3S_GRID, IQ3XXS_GRID, KSIGNS_IQ2XS, KVALUES_FP4, KVALUES_IQ4NL,
};
use llmplayer_core::GgmlType;
use std::fmt::LowerHex;

const COMMON: &str = include_str!("../../../opencl/common.cl");
const K4_SCALES: &str = include_str!("../../../opencl/quant/k4_scales.cl");
const FP4_SCALES: &str = include_str!("../../../opencl/quant/fp4_scales.cl");
const DEQUANT: &str = include_str!("../../../opencl/dequant.cl");
const MATMUL: &str = include_str!("../../../opencl/matmul.cl");

/// Work-group size of the reductions (`WG` in the kernels): a power of two that GPUs and CPU
/// runtimes allow. A device that allows less fails the first enqueue with an error, and the
/// caller keeps that op on the CPU.
pub(crate) const WG: usize = 64;

/// The block-layout file of a type, when it has one.
fn layout(ty: GgmlType) -> Option<&'static str> {
    Some(match ty {
        GgmlType::F32 => include_str!("../../../opencl/quant/f32.cl"),
        GgmlType::F16 => include_str!("../../../opencl/quant/f16.cl"),
        GgmlType::BF16 => include_str!("../../../opencl/quant/bf16.cl"),
        GgmlType::Q4_0 => include_str!("../../../opencl/quant/q4_0.cl"),
        GgmlType::Q4_1 => include_str!("../../../opencl/quant/q4_1.cl"),
        GgmlType::Q5_0 => include_str!("../../../opencl/quant/q5_0.cl"),
        GgmlType::Q5_1 => include_str!("../../../opencl/quant/q5_1.cl"),
        GgmlType::Q8_0 => include_str!("../../../opencl/quant/q8_0.cl"),
        GgmlType::Q2_K => include_str!("../../../opencl/quant/q2_k.cl"),
        GgmlType::Q3_K => include_str!("../../../opencl/quant/q3_k.cl"),
        GgmlType::Q4_K => include_str!("../../../opencl/quant/q4_k.cl"),
        GgmlType::Q5_K => include_str!("../../../opencl/quant/q5_k.cl"),
        GgmlType::Q6_K => include_str!("../../../opencl/quant/q6_k.cl"),
        GgmlType::IQ1_S => include_str!("../../../opencl/quant/iq1_s.cl"),
        GgmlType::IQ1_M => include_str!("../../../opencl/quant/iq1_m.cl"),
        GgmlType::IQ2_XXS => include_str!("../../../opencl/quant/iq2_xxs.cl"),
        GgmlType::IQ2_XS => include_str!("../../../opencl/quant/iq2_xs.cl"),
        GgmlType::IQ2_S => include_str!("../../../opencl/quant/iq2_s.cl"),
        GgmlType::IQ3_XXS => include_str!("../../../opencl/quant/iq3_xxs.cl"),
        GgmlType::IQ3_S => include_str!("../../../opencl/quant/iq3_s.cl"),
        GgmlType::IQ4_NL => include_str!("../../../opencl/quant/iq4_nl.cl"),
        GgmlType::IQ4_XS => include_str!("../../../opencl/quant/iq4_xs.cl"),
        GgmlType::MXFP4 => include_str!("../../../opencl/quant/mxfp4.cl"),
        GgmlType::NVFP4 => include_str!("../../../opencl/quant/nvfp4.cl"),
        GgmlType::TQ1_0 => include_str!("../../../opencl/quant/tq1_0.cl"),
        GgmlType::TQ2_0 => include_str!("../../../opencl/quant/tq2_0.cl"),
        GgmlType::Q1_0 => include_str!("../../../opencl/quant/q1_0.cl"),
        GgmlType::Q2_0 => include_str!("../../../opencl/quant/q2_0.cl"),
        _ => return None,
    })
}

/// Whether `ty` has OpenCL kernels (else its ops stay on the CPU).
pub fn supports(ty: GgmlType) -> bool {
    layout(ty).is_some()
}

/// The helpers and lookup tables a type's layout reads. The tables are generated from
/// llmplayer-core's (the CPU kernels' own), so the codebooks have a single source.
fn prelude(ty: GgmlType) -> String {
    use GgmlType::*;
    let ksigns = || constant_table("uchar", "KSIGNS_IQ2XS", &KSIGNS_IQ2XS, "u");
    let parts = match ty {
        Q4_K | Q5_K => vec![K4_SCALES.to_string()],
        IQ1_S | IQ1_M => vec![format!("#define IQ1S_DELTA ({IQ1S_DELTA:?}f)"), constant_table("ulong", "IQ1S_GRID", &IQ1S_GRID, "ul")],
        IQ2_XXS => vec![constant_table("ulong", "IQ2XXS_GRID", &IQ2XXS_GRID, "ul"), ksigns()],
        IQ2_XS => vec![constant_table("ulong", "IQ2XS_GRID", &IQ2XS_GRID, "ul"), ksigns()],
        IQ2_S => vec![constant_table("ulong", "IQ2S_GRID", &IQ2S_GRID, "ul")],
        IQ3_XXS => vec![constant_table("uint", "IQ3XXS_GRID", &IQ3XXS_GRID, "u"), ksigns()],
        IQ3_S => vec![constant_table("uint", "IQ3S_GRID", &IQ3S_GRID, "u")],
        IQ4_NL | IQ4_XS => vec![constant_i8_table("KVALUES_IQ4NL", &KVALUES_IQ4NL)],
        MXFP4 | NVFP4 => vec![FP4_SCALES.to_string(), constant_i8_table("KVALUES_FP4", &KVALUES_FP4)],
        _ => vec![],
    };
    parts.join("\n")
}

/// `__constant <c_type> NAME[N] = {0x…, …};` with every value in hex plus `suffix`.
fn constant_table<T: LowerHex>(c_type: &str, name: &str, values: &[T], suffix: &str) -> String {
    let items: Vec<String> = values.iter().map(|v| format!("{v:#x}{suffix}")).collect();
    format!("__constant {c_type} {name}[{}] = {{{}}};", values.len(), items.join(","))
}

/// `__constant char NAME[N] = {…};` of signed bytes, in decimal.
fn constant_i8_table(name: &str, values: &[i8]) -> String {
    let items: Vec<String> = values.iter().map(|v| v.to_string()).collect();
    format!("__constant char {name}[{}] = {{{}}};", values.len(), items.join(","))
}

/// The program source for `ty`: common helpers, the type's tables and helpers, its layout,
/// then the ops.
pub(crate) fn source(ty: GgmlType) -> Option<String> {
    let layout = layout(ty)?;
    Some([COMMON, &prelude(ty), layout, DEQUANT, MATMUL].join("\n"))
}

pub(crate) fn build_options() -> String {
    format!("-D WG={WG}")
}
