//! Matrix products handed to another device (OpenCL, in `llmplayer-opencl`, which this pure
//! crate does not depend on). The device copies the weights of the layers it takes at load
//! ([`offload_plan`] says which), and the CPU device ([`super::device::Cpu`]) asks it first for
//! every product with a weight stored in the file: `true` means done, `false` (a matrix it does
//! not hold, a type without a kernel, a device error) leaves the product to the CPU kernels.
//!
//! This is the per-op step of offloading: activations go to the device and back for each
//! product. Keeping whole layers (activations, KV cache) on the device is the next step.

use super::names::{Global, Suffix};
use crate::gguf::GgufFile;
use crate::GgmlType;
use std::sync::Arc;

/// A device that holds copies of some weight matrices, keyed by their byte offset in the file.
pub trait Offload: Send + Sync {
    /// `out (n, rows) = x (n, cols) · Wᵀ` for the matrix stored at byte `start` of the model
    /// file; `false` when this device does not compute it (the CPU then does).
    fn matmul(&self, start: usize, x: &[f32], n: usize, out: &mut [f32]) -> bool;
    /// Whether this device holds the matrix stored at byte `start`.
    fn holds(&self, start: usize) -> bool;
}

/// An [`Offload`] as [`super::LoadOptions`] carries it.
#[derive(Clone)]
pub struct SharedOffload(pub Arc<dyn Offload>);

impl std::fmt::Debug for SharedOffload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Offload")
    }
}

/// A weight matrix a device would take: its name, type, shape (`rows` of `cols`) and bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffloadTensor {
    pub name: String,
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    /// Absolute byte range in the file.
    pub start: usize,
    pub len: usize,
    /// The block (layer) index, `None` for the output projection.
    pub layer: Option<usize>,
}

/// The matrices of `gpu_layers` layers, counted as llama.cpp's `-ngl` counts them: the last
/// `min(gpu_layers, n_layer)` blocks, plus the output projection when `gpu_layers > n_layer`
/// (the tied token embedding when the file has no `output.weight`). Only the operands of
/// matrix products: 2-D weights, and each matrix of a 3-D stack (the experts of a MoE layer,
/// the per-head matrices of MLA) as its own entry; norms and biases stay on the CPU.
pub fn offload_plan(f: &GgufFile<'_>, gpu_layers: usize) -> Vec<OffloadTensor> {
    let n_layer = f.architecture().and_then(|a| f.get_u32(&format!("{a}.block_count"))).unwrap_or(0) as usize;
    let first = n_layer.saturating_sub(gpu_layers);
    let output = Global::Output.name(Suffix::Weight);
    let embd = Global::TokenEmbd.name(Suffix::Weight);
    let tied = f.tensor(&output).is_none();
    let mut plan = Vec::new();
    for t in &f.tensors {
        if !(t.dims.len() == 2 || t.dims.len() == 3) || !t.name.ends_with(".weight") {
            continue;
        }
        let layer = t.name.strip_prefix("blk.").and_then(|r| r.split('.').next()).and_then(|i| i.parse::<usize>().ok());
        let take = match layer {
            Some(i) => i >= first && i < n_layer,
            None => gpu_layers > n_layer && (t.name == output || (tied && t.name == embd)),
        };
        if !take {
            continue;
        }
        let (rows, cols, start) = (t.ne(1) as usize, t.ne(0) as usize, (f.data_offset + t.offset) as usize);
        if t.dims.len() == 2 {
            plan.push(OffloadTensor { name: t.name.to_string(), ty: t.ty, rows, cols, start, len: t.size as usize, layer });
            continue;
        }
        // Matrix `e` of a stack starts where the engine's loader (`Loader::experts`) puts it.
        let len = rows * crate::quant::row_bytes(t.ty, cols);
        for e in 0..t.ne(2) as usize {
            if (e + 1) * len <= t.size as usize {
                plan.push(OffloadTensor { name: format!("{}[{e}]", t.name), ty: t.ty, rows, cols, start: start + e * len, len, layer });
            }
        }
    }
    plan
}
