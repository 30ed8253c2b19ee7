//! `listDevices()`: the OpenCL devices as `llmplayer-opencl` lists them. Listing is
//! information, so a machine without an OpenCL runtime (or without devices) is an answer with
//! `available: false` and the reason, not an exception.

use napi_derive::napi;

/// One OpenCL device (`llmplayer_opencl::DeviceInfo`).
#[napi(object)]
pub struct NativeDevice {
    pub index: u32,
    pub platform: String,
    pub name: String,
    pub vendor: String,
    /// "gpu" | "cpu" | "accelerator" | "other".
    pub kind: String,
    /// Global memory, bytes (a JS number: exact below 2^53).
    pub memory: f64,
    /// The largest single buffer, bytes.
    pub max_alloc: f64,
    pub compute_units: u32,
    pub c_version: String,
    pub fp16: bool,
}

/// The devices, or why there are none to list.
#[napi(object)]
pub struct NativeDeviceList {
    pub available: bool,
    pub reason: Option<String>,
    pub devices: Vec<NativeDevice>,
}

#[napi]
pub fn list_devices() -> NativeDeviceList {
    match llmplayer_opencl::devices() {
        Ok(list) => NativeDeviceList {
            available: true,
            reason: None,
            devices: list
                .into_iter()
                .map(|d| NativeDevice {
                    index: d.index as u32,
                    platform: d.platform,
                    name: d.name,
                    vendor: d.vendor,
                    kind: d.kind.name().to_string(),
                    memory: d.memory as f64,
                    max_alloc: d.max_alloc as f64,
                    compute_units: d.compute_units,
                    c_version: d.c_version,
                    fp16: d.fp16,
                })
                .collect(),
        },
        Err(e) => NativeDeviceList { available: false, reason: Some(e.to_string()), devices: Vec::new() },
    }
}
