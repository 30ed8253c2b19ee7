//! wasm-bindgen adapter: the host passes bytes (an ArrayBuffer view), everything else is
//! `llmplayer-core`. Built with `+simd128` (see scripts/build-wasm.sh).

mod batcher;
mod model;

use llmplayer_core::gguf::GgufFile;
use llmplayer_core::inspect::{inspect as inspect_core, InspectOptions};
use llmplayer_core::runtime::RuntimeError;
use wasm_bindgen::prelude::*;

/// Engine errors become JS `Error`s whose fields are properties, as natively: `message`,
/// `code` (`GGUF_*`, `MODEL_*`, …) and `offset` (the file's byte for GGUF parse errors, else
/// null). Nothing is folded into the message for the SDK to parse back out.
pub(crate) fn js_error(e: impl Into<RuntimeError>) -> JsValue {
    let e = e.into();
    let err = js_sys::Error::new(&e.message());
    let set = |key: &str, value: JsValue| js_sys::Reflect::set(&err, &key.into(), &value);
    // Setting a property on a fresh Error cannot fail.
    let _ = set("code", e.code().into());
    let _ = set("offset", e.offset().map_or(JsValue::NULL, |o| (o as f64).into()));
    err.into()
}

/// Summarizes GGUF bytes as a JSON string.
#[wasm_bindgen(js_name = inspectBytes)]
pub fn inspect_bytes(bytes: &[u8], full_arrays: bool, tensors: bool) -> Result<String, JsValue> {
    let f = GgufFile::parse(bytes).map_err(js_error)?;
    Ok(inspect_core(&f, InspectOptions { full_arrays, tensors }).to_string())
}

/// Whether this module was compiled with WebAssembly SIMD.
#[wasm_bindgen(js_name = simdEnabled)]
pub fn simd_enabled() -> bool {
    cfg!(target_feature = "simd128")
}
