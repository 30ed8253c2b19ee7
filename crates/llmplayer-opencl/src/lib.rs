//! The OpenCL device of llmplayer, through the `ocl` crate: device discovery, weights uploaded
//! once, and the kernels of the repository's `opencl/` folder (compiled once per device and
//! type). The ICD loader is opened at run time ([`loader`]), so a binary linking this crate
//! loads and runs on machines without OpenCL; every failure (no runtime, no device, a kernel
//! that does not build, device memory exhausted) is an [`OpenClError`], for the caller to fall
//! back to the CPU.

mod devices;
mod gpu;
pub mod loader;
mod offload;
mod programs;

pub use devices::{devices, select_device, DeviceInfo, DeviceKind};
pub use gpu::{Gpu, Weights};
pub use offload::{offload_model, offload_or_cpu, shared, OffloadOutcome, OffloadReport, OpenClOffload};
pub use programs::supports;

/// Why the OpenCL path cannot run (the caller falls back to the CPU and says why).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenClError {
    /// No ICD loader, or a loader with no platform.
    NoRuntime(String),
    /// No device matches (or there is none).
    NoDevice(String),
    /// A kernel failed to compile for this device: the compiler's log.
    Build(String),
    /// The type has no kernel yet.
    Unsupported(String),
    /// Anything the runtime reports later (out of device memory, a failed enqueue).
    Runtime(String),
}

impl std::fmt::Display for OpenClError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenClError::NoRuntime(m) => write!(f, "OpenCL unavailable: {m}"),
            OpenClError::NoDevice(m) => write!(f, "no OpenCL device: {m}"),
            OpenClError::Build(m) => write!(f, "OpenCL kernel build failed: {m}"),
            OpenClError::Unsupported(m) => write!(f, "not supported on OpenCL: {m}"),
            OpenClError::Runtime(m) => write!(f, "OpenCL error: {m}"),
        }
    }
}

impl std::error::Error for OpenClError {}

impl From<ocl::Error> for OpenClError {
    fn from(e: ocl::Error) -> Self {
        OpenClError::Runtime(e.to_string())
    }
}
