//! napi-rs adapter: maps files into memory, converts arguments and errors, and hands
//! everything else to `llmplayer-core`.

mod bytes;
mod model;
mod session;

use bytes::map_file;
use llmplayer_core::gguf::{GgufError, GgufFile};
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

/// GGUF errors become JS `Error`s whose message starts with `[GGUF_<KIND>]` (the SDK turns
/// that prefix into `err.code`), exactly as the WASM adapter does.
fn gguf_error(e: GgufError) -> Error {
    Error::new(Status::InvalidArg, format!("[GGUF_{}] {}", e.code().to_uppercase(), e))
}

/// Summarizes the GGUF file at `path` (memory-mapped, not read) as a JSON string.
#[napi]
pub fn inspect_file(path: String, options: Option<NativeInspectOptions>) -> Result<String> {
    let map = map_file(&path)?;
    let f = GgufFile::parse(map.as_ref()).map_err(gguf_error)?;
    Ok(inspect(&f, inspect_options(options)).to_string())
}

/// Summarizes GGUF bytes already in memory as a JSON string.
#[napi]
pub fn inspect_bytes(bytes: &[u8], options: Option<NativeInspectOptions>) -> Result<String> {
    let f = GgufFile::parse(bytes).map_err(gguf_error)?;
    Ok(inspect(&f, inspect_options(options)).to_string())
}
