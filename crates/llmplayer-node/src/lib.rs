//! napi-rs adapter: maps files into memory, converts arguments and errors, and hands
//! everything else to `llmplayer-core`.

mod batcher;
mod bytes;
mod devices;
mod error;
mod model;
mod session;

use bytes::map_file;
use error::throw;
use llmplayer_core::gguf::GgufFile;
use llmplayer_core::inspect::{inspect, InspectOptions};
use napi::bindgen_prelude::*;
use napi_derive::napi;

/// Options for `inspect*`, mirrored from the TypeScript SDK.
#[napi(object)]
pub struct NativeInspectOptions {
    pub full_arrays: Option<bool>,
    pub tensors: Option<bool>,
}

fn inspect_options(o: Option<NativeInspectOptions>) -> InspectOptions {
    let (full_arrays, tensors) = o.map_or((None, None), |o| (o.full_arrays, o.tensors));
    InspectOptions { full_arrays: full_arrays.unwrap_or(false), tensors: tensors.unwrap_or(false) }
}

/// Summarizes the GGUF file at `path` (memory-mapped, not read) as a JSON string.
#[napi]
pub fn inspect_file(env: Env, path: String, options: Option<NativeInspectOptions>) -> Result<String> {
    let map = map_file(&path)?;
    let f = GgufFile::parse(map.as_ref()).map_err(|e| throw(&env, e))?;
    Ok(inspect(&f, inspect_options(options)).to_string())
}

/// Summarizes GGUF bytes already in memory as a JSON string.
#[napi]
pub fn inspect_bytes(env: Env, bytes: &[u8], options: Option<NativeInspectOptions>) -> Result<String> {
    let f = GgufFile::parse(bytes).map_err(|e| throw(&env, e))?;
    Ok(inspect(&f, inspect_options(options)).to_string())
}
