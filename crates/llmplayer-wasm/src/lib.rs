//! wasm-bindgen adapter: the host passes bytes (an ArrayBuffer view), everything else is
//! `llmplayer-core`. Built with `+simd128` (see scripts/build-wasm.sh).

mod model;

use llmplayer_core::gguf::{GgufError, GgufFile};
use llmplayer_core::inspect::{inspect as inspect_core, InspectOptions};
use wasm_bindgen::prelude::*;

/// GGUF errors become JS `Error`s whose message starts with `[GGUF_<KIND>]`, as natively.
fn gguf_error(e: GgufError) -> JsValue {
    js_sys::Error::new(&format!("[GGUF_{}] {}", e.code().to_uppercase(), e)).into()
}

/// Summarizes GGUF bytes as a JSON string.
#[wasm_bindgen(js_name = inspectBytes)]
pub fn inspect_bytes(bytes: &[u8], full_arrays: bool, tensors: bool) -> Result<String, JsValue> {
    let f = GgufFile::parse(bytes).map_err(gguf_error)?;
    Ok(inspect_core(&f, InspectOptions { full_arrays, tensors }).to_string())
}

/// Whether this module was compiled with WebAssembly SIMD.
#[wasm_bindgen(js_name = simdEnabled)]
pub fn simd_enabled() -> bool {
    cfg!(target_feature = "simd128")
}
