//! OpenCL devices: listing (`llmplayer devices`) and choosing one (`--device`,
//! `LLMPLAYER_OPENCL_DEVICE`).

use crate::{loader, OpenClError};
use ocl::enums::{DeviceInfo as Info, DeviceInfoResult as R};
use ocl::flags::DeviceType;
use ocl::{Device, Platform};
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    Gpu,
    Cpu,
    Accelerator,
    Other,
}

impl DeviceKind {
    pub fn name(self) -> &'static str {
        match self {
            DeviceKind::Gpu => "gpu",
            DeviceKind::Cpu => "cpu",
            DeviceKind::Accelerator => "accelerator",
            DeviceKind::Other => "other",
        }
    }
}

/// One device as `llmplayer devices` lists it.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    /// Position in the list (platforms in the loader's order, devices in each platform's order).
    pub index: usize,
    pub platform: String,
    pub name: String,
    pub vendor: String,
    pub kind: DeviceKind,
    /// Global memory, bytes.
    pub memory: u64,
    /// The largest single buffer, bytes.
    pub max_alloc: u64,
    pub compute_units: u32,
    /// e.g. "OpenCL C 1.2 PoCL".
    pub c_version: String,
    pub fp16: bool,
}

fn text(d: &Device, what: Info) -> String {
    d.info(what).map(|r| r.to_string().trim().to_string()).unwrap_or_default()
}

fn describe(index: usize, platform: &str, d: &Device) -> DeviceInfo {
    let kind = match d.info(Info::Type) {
        Ok(R::Type(t)) if t.contains(DeviceType::GPU) => DeviceKind::Gpu,
        Ok(R::Type(t)) if t.contains(DeviceType::CPU) => DeviceKind::Cpu,
        Ok(R::Type(t)) if t.contains(DeviceType::ACCELERATOR) => DeviceKind::Accelerator,
        _ => DeviceKind::Other,
    };
    let u64_of = |what| match d.info(what) {
        Ok(R::GlobalMemSize(v)) | Ok(R::MaxMemAllocSize(v)) => v,
        _ => 0,
    };
    DeviceInfo {
        index,
        platform: platform.to_string(),
        name: text(d, Info::Name),
        vendor: text(d, Info::Vendor),
        kind,
        memory: u64_of(Info::GlobalMemSize),
        max_alloc: u64_of(Info::MaxMemAllocSize),
        compute_units: match d.info(Info::MaxComputeUnits) {
            Ok(R::MaxComputeUnits(v)) => v,
            _ => 0,
        },
        c_version: text(d, Info::OpenclCVersion),
        fp16: text(d, Info::Extensions).split_whitespace().any(|e| e == "cl_khr_fp16"),
    }
}

/// Every device of every platform, with its `ocl` handle.
pub(crate) fn list() -> Result<Vec<(DeviceInfo, Device)>, OpenClError> {
    loader::load().map_err(OpenClError::NoRuntime)?;
    // ocl-icd initialises its platform list on the first call without a lock: two threads
    // enumerating at once can see no platforms. Listing is rare, so it is serialised.
    static LISTING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = LISTING.lock().unwrap_or_else(|p| p.into_inner());
    let ids = ocl::core::get_platform_ids().map_err(|e| OpenClError::NoRuntime(format!("no OpenCL platform ({e})")))?;
    let (mut out, mut errors) = (Vec::new(), Vec::new());
    for id in ids {
        let platform = Platform::new(id);
        let pname = platform.name().unwrap_or_default();
        match Device::list_all(platform) {
            Ok(list) => {
                for d in list {
                    out.push((describe(out.len(), &pname, &d), d));
                }
            }
            // A platform without devices answers an error: it adds none, and says why only
            // when no platform has any.
            Err(e) => errors.push(format!("{pname}: {e}")),
        }
    }
    if out.is_empty() && !errors.is_empty() {
        return Err(OpenClError::NoDevice(errors.join("; ")));
    }
    Ok(out)
}

/// The devices, for listing.
pub fn devices() -> Result<Vec<DeviceInfo>, OpenClError> {
    Ok(list()?.into_iter().map(|(i, _)| i).collect())
}

/// The device `selector` names: its index in [`devices`], or a case-insensitive part of its
/// name or platform; `None`: the first GPU, else (only when `allow_cpu`) the first device.
pub fn select_device(selector: Option<&str>, allow_cpu: bool) -> Result<(DeviceInfo, Device), OpenClError> {
    let all = list()?;
    if all.is_empty() {
        return Err(OpenClError::NoDevice("the OpenCL runtime lists no devices".into()));
    }
    let names = all.iter().map(|(i, _)| format!("{}: {} ({})", i.index, i.name, i.platform)).collect::<Vec<_>>().join(", ");
    let found = match selector.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => match s.parse::<usize>() {
            Ok(i) => all.into_iter().nth(i),
            Err(_) => {
                let s = s.to_lowercase();
                all.into_iter().find(|(i, _)| i.name.to_lowercase().contains(&s) || i.platform.to_lowercase().contains(&s))
            }
        },
        None => {
            let gpu = all.iter().position(|(i, _)| i.kind == DeviceKind::Gpu);
            match (gpu, allow_cpu) {
                (Some(p), _) => all.into_iter().nth(p),
                (None, true) => all.into_iter().next(),
                (None, false) => {
                    return Err(OpenClError::NoDevice(format!("no GPU among the OpenCL devices ({}); name one to use it anyway", names)))
                }
            }
        }
    };
    found.ok_or_else(|| OpenClError::NoDevice(format!("no device matches {:?} (devices: {})", selector.unwrap_or(""), names)))
}
