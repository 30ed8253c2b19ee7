//! The OpenCL C sources (the repository's `opencl/` folder, embedded) and which type uses which.

use llmplayer_core::GgmlType;

const COMMON: &str = include_str!("../../../opencl/common.cl");
const K4_SCALES: &str = include_str!("../../../opencl/quant/k4_scales.cl");
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
        _ => return None,
    })
}

/// Whether `ty` has OpenCL kernels (else its ops stay on the CPU).
pub fn supports(ty: GgmlType) -> bool {
    layout(ty).is_some()
}

/// The program source for `ty`: common helpers, the type's layout, then the ops.
pub(crate) fn source(ty: GgmlType) -> Option<String> {
    let layout = layout(ty)?;
    let k4 = if matches!(ty, GgmlType::Q4_K | GgmlType::Q5_K) { K4_SCALES } else { "" };
    Some([COMMON, k4, layout, DEQUANT, MATMUL].join("\n"))
}

pub(crate) fn build_options() -> String {
    format!("-D WG={WG}")
}
