//! The engine's [`Offload`] on an OpenCL device: the weights of the layers it takes are
//! uploaded once at load; each product with one of them runs on the device (activations go
//! there and back: the per-op step; whole layers on the device come next). A type without a
//! kernel stays on the CPU, and so does any product the device fails (the engine falls back).

use crate::programs::supports;
use crate::{Gpu, OpenClError, Weights};
use llmplayer_core::gguf::GgufFile;
use llmplayer_core::model::offload::{offload_plan, Offload, SharedOffload};
use llmplayer_core::GgmlType;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicBool, Ordering};
use std::sync::Arc;

/// What an offload took: for `inspect()`, the CLI and the tests.
#[derive(Debug, Clone, Default)]
pub struct OffloadReport {
    /// The device's name (and platform).
    pub device: String,
    /// Blocks whose matrices are on the device (llama.cpp's `-ngl` count, capped at the model's).
    pub layers: usize,
    /// Whether the output projection is on the device.
    pub output: bool,
    /// Matrices uploaded, and their bytes.
    pub tensors: usize,
    pub bytes: u64,
    /// Matrices of the offloaded layers left on the CPU because their type has no kernel yet.
    pub cpu_tensors: usize,
    pub cpu_types: Vec<GgmlType>,
}

pub struct OpenClOffload {
    gpu: Gpu,
    /// Uploaded matrices by their byte offset in the model file.
    mats: HashMap<usize, Weights>,
    /// Products computed on the device.
    calls: AtomicU64,
    /// Set once a device error has been reported (later ones fall back silently).
    failed: AtomicBool,
}

impl OpenClOffload {
    /// Products the device has computed so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
}

impl Offload for OpenClOffload {
    fn holds(&self, start: usize) -> bool {
        self.mats.contains_key(&start)
    }

    fn matmul(&self, start: usize, x: &[f32], n: usize, out: &mut [f32]) -> bool {
        let Some(w) = self.mats.get(&start) else { return false };
        match self.gpu.matmul(w, x, n, out) {
            Ok(()) => {
                self.calls.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(e) => {
                if !self.failed.swap(true, Ordering::Relaxed) {
                    eprintln!("llmplayer: {e}; this product (and any other the device fails) runs on the CPU");
                }
                false
            }
        }
    }
}

/// Opens the device `selector` names (see [`crate::select_device`]; a CPU device such as PoCL is
/// taken only when named or when no GPU exists and `allow_cpu`) and uploads the matrices of
/// `gpu_layers` layers of the GGUF in `file` ([`offload_plan`]).
pub fn offload_model(file: &[u8], gpu_layers: usize, selector: Option<&str>, allow_cpu: bool) -> Result<(Arc<OpenClOffload>, OffloadReport), OpenClError> {
    let f = GgufFile::parse(file).map_err(|e| OpenClError::Runtime(format!("reading the model: {e}")))?;
    let gpu = Gpu::open(selector, allow_cpu)?;
    let plan = offload_plan(&f, gpu_layers);
    let n_layer = plan.iter().filter_map(|t| t.layer).collect::<std::collections::BTreeSet<_>>().len();
    let mut report = OffloadReport { device: format!("{} ({})", gpu.info().name, gpu.info().platform), layers: n_layer, ..Default::default() };
    let mut mats = HashMap::new();
    for t in &plan {
        if !supports(t.ty) {
            report.cpu_tensors += 1;
            if !report.cpu_types.contains(&t.ty) {
                report.cpu_types.push(t.ty);
            }
            continue;
        }
        let w = gpu.upload(t.ty, t.rows, t.cols, &file[t.start..t.start + t.len]).map_err(|e| match e {
            OpenClError::Runtime(m) => OpenClError::Runtime(format!("{} ({} bytes): {m}", t.name, t.len)),
            other => other,
        })?;
        report.tensors += 1;
        report.bytes += t.len as u64;
        report.output |= t.layer.is_none();
        mats.insert(t.start, w);
    }
    let device = Arc::new(OpenClOffload { gpu, mats, calls: AtomicU64::new(0), failed: AtomicBool::new(false) });
    Ok((device, report))
}

/// [`offload_model`] as the engine's load option takes it.
pub fn shared(device: &Arc<OpenClOffload>) -> SharedOffload {
    SharedOffload(Arc::clone(device) as Arc<dyn Offload>)
}

/// What a load asking for `gpu_layers` got: the engine's offload and what it took, or why the
/// model runs on the CPU (no runtime, no device, device memory exhausted …): never a failed load.
pub struct OffloadOutcome {
    pub offload: Option<SharedOffload>,
    pub report: Option<OffloadReport>,
    pub error: Option<String>,
}

/// [`offload_model`] for a load option: `selector` (else `LLMPLAYER_OPENCL_DEVICE`) names the
/// device; asking for layers lets a CPU device (PoCL) be used when no GPU exists.
pub fn offload_or_cpu(file: &[u8], gpu_layers: usize, selector: Option<&str>) -> OffloadOutcome {
    let from_env = std::env::var("LLMPLAYER_OPENCL_DEVICE").ok().filter(|s| !s.trim().is_empty());
    match offload_model(file, gpu_layers, selector.or(from_env.as_deref()), true) {
        Ok((device, report)) => OffloadOutcome { offload: Some(shared(&device)), report: Some(report), error: None },
        Err(e) => OffloadOutcome { offload: None, report: None, error: Some(format!("{e}; running on the CPU")) },
    }
}
