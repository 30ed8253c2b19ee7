//! A test-only WebAssembly module that runs [`llmplayer_core::quant::check`] in the simd128
//! build, so the WASM kernels pass the same checks as the native ones. Built by
//! `scripts/build-wasm.sh` into `wasm-check/llmplayer_wasm_check.wasm` (not part of the npm
//! package) and driven by `test/quant-wasm.test.ts` under Node.
//!
//! Plain `extern "C"` exports, no wasm-bindgen (all wasm32 only):
//!
//! * `alloc(len) -> ptr`, `free(ptr, len)`: a byte buffer in linear memory for the caller to
//!   fill with a fixture file;
//! * `check_fixture(ptr, len) -> status`: [`check_fixture`] on those bytes (a GGUF file);
//! * `check_random(type_id, seed) -> status`: [`check_fast_vs_scalar`] for one ggml type id;
//! * `message_ptr()`, `message_len()`: the UTF-8 message of the last call: a one-line JSON
//!   report after status 0, the error after status 1, or the panic message after a trap (a
//!   panic hook stores it before the module aborts);
//! * `simd_enabled() -> 0/1`: whether the module was compiled with simd128;
//! * `backend() -> code`: [`quant::backend`] (0 scalar, 1 avx2, 2 simd128);
//! * `kernel_type_count()`, `kernel_type_id(i)`: the ggml type ids that have kernels;
//! * `type_info(type_id) -> status`: a JSON line of what the quant table selected for the
//!   type (name, `vec_dot_type`, `vec_dot` backend, x4 kernel, fast quantizer).
//!
//! The report and message logic is target-independent; only the exports are wasm32-only.

use llmplayer_core::ggml_type::TYPE_TABLE;
use llmplayer_core::gguf::GgufFile;
use llmplayer_core::quant::check::{
    check_fast_vs_scalar, check_fixture, has_fast_quantizer, FixtureReport, RandomReport,
};
use llmplayer_core::quant::{self, Isa};
use llmplayer_core::GgmlType;

/// Status of a check: 0 passed, 1 failed (see the message).
pub const OK: u32 = 0;
pub const FAILED: u32 = 1;

/// [`quant::Isa`] as a number.
pub fn backend_code(b: Isa) -> u32 {
    match b {
        Isa::Scalar => 0,
        Isa::Avx2 => 1,
        Isa::Simd128 => 2,
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One-line JSON of a fixture report.
pub fn fixture_json(r: &FixtureReport) -> String {
    format!(
        "{{\"type\":{},\"vec_dot_type\":{},\"rows\":{},\"cols\":{},\"batch\":{},\"backend\":{},\"x4\":{},\"fast_quantizer\":{},\"negative_zeros\":{},\"dots_checked\":{},\"max_rel_err\":{:e}}}",
        json_str(r.ty.name()),
        json_str(r.vec_dot_type.name()),
        r.rows,
        r.cols,
        r.batch,
        json_str(r.backend.name()),
        r.has_x4,
        r.fast_quantizer,
        r.negative_zeros,
        r.dots_checked,
        r.max_rel_err,
    )
}

/// One-line JSON of a random-data report.
pub fn random_json(r: &RandomReport) -> String {
    format!(
        "{{\"type\":{},\"backend\":{},\"x4\":{},\"fast_quantizer\":{},\"dots_checked\":{},\"quantized_rows_checked\":{},\"max_rel_err\":{:e}}}",
        json_str(r.ty.name()),
        json_str(r.backend.name()),
        r.has_x4,
        r.fast_quantizer,
        r.dots_checked,
        r.quantized_rows_checked,
        r.max_rel_err,
    )
}

/// [`check_fixture`] on the bytes of a GGUF file: (status, message).
pub fn run_fixture(bytes: &[u8]) -> (u32, String) {
    let f = match GgufFile::parse(bytes) {
        Ok(f) => f,
        Err(e) => return (FAILED, format!("not a GGUF file: {e}")),
    };
    match check_fixture(&f) {
        Ok(r) => (OK, fixture_json(&r)),
        Err(e) => (FAILED, e),
    }
}

/// [`check_fast_vs_scalar`] for a ggml type id: (status, message).
pub fn run_random(type_id: u32, seed: u64) -> (u32, String) {
    let Some(ty) = GgmlType::from_id(type_id) else { return (FAILED, format!("unknown ggml type id {type_id}")) };
    match check_fast_vs_scalar(ty, seed) {
        Ok(r) => (OK, random_json(&r)),
        Err(e) => (FAILED, e),
    }
}

/// What the quant table selected for a ggml type id: (status, JSON or error).
pub fn run_type_info(type_id: u32) -> (u32, String) {
    let Some(ty) = GgmlType::from_id(type_id) else { return (FAILED, format!("unknown ggml type id {type_id}")) };
    let Some(t) = quant::traits(ty) else { return (FAILED, format!("no kernels for {ty}")) };
    let json = format!(
        "{{\"type\":{},\"id\":{},\"vec_dot_type\":{},\"backend\":{},\"x4\":{},\"fast_quantizer\":{}}}",
        json_str(ty.name()),
        ty.id(),
        json_str(t.vec_dot_type.name()),
        json_str(t.vec_dot_isa.name()),
        t.vec_dot_x4.is_some(),
        has_fast_quantizer(t),
    );
    (OK, json)
}

/// The ggml type ids that have kernels, in table order.
pub fn kernel_type_ids() -> Vec<u32> {
    TYPE_TABLE.iter().filter(|i| quant::traits(i.ty).is_some()).map(|i| i.id).collect()
}

#[cfg(target_arch = "wasm32")]
mod exports {
    use super::*;
    use std::cell::RefCell;

    thread_local! {
        static MESSAGE: RefCell<String> = const { RefCell::new(String::new()) };
    }

    fn set_message(m: String) {
        MESSAGE.with(|s| *s.borrow_mut() = m);
    }

    /// Keeps the panic message readable after the abort traps back to JS.
    fn install_panic_hook() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| std::panic::set_hook(Box::new(|info| set_message(format!("panic: {info}")))));
    }

    fn finish((status, message): (u32, String)) -> u32 {
        set_message(message);
        status
    }

    /// A zeroed buffer of `len` bytes; release it with `free(ptr, len)`.
    #[no_mangle]
    pub extern "C" fn alloc(len: usize) -> *mut u8 {
        install_panic_hook();
        let mut v = vec![0u8; len].into_boxed_slice();
        let p = v.as_mut_ptr();
        std::mem::forget(v);
        p
    }

    /// Releases a buffer from `alloc(len)`.
    ///
    /// # Safety
    /// `ptr` must come from `alloc(len)` with the same `len`, and be freed once.
    #[no_mangle]
    pub unsafe extern "C" fn free(ptr: *mut u8, len: usize) {
        // SAFETY: the caller passes back what `alloc` leaked.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len)) });
    }

    /// Checks the fixture file in `ptr..ptr+len`: 0 passed, 1 failed; see `message_*`.
    ///
    /// # Safety
    /// `ptr..ptr+len` must be readable (a buffer from `alloc`).
    #[no_mangle]
    pub unsafe extern "C" fn check_fixture(ptr: *const u8, len: usize) -> u32 {
        install_panic_hook();
        set_message(String::new());
        // SAFETY: guaranteed by the caller.
        let bytes = unsafe { std::slice::from_raw_parts(ptr, len) };
        finish(run_fixture(bytes))
    }

    /// Checks the selected kernels of ggml type `type_id` against the scalar ones on random
    /// data from `seed`: 0 passed, 1 failed; see `message_*`.
    #[no_mangle]
    pub extern "C" fn check_random(type_id: u32, seed: u32) -> u32 {
        install_panic_hook();
        set_message(String::new());
        finish(run_random(type_id, seed as u64))
    }

    /// Address of the last message (UTF-8, `message_len()` bytes).
    #[no_mangle]
    pub extern "C" fn message_ptr() -> *const u8 {
        MESSAGE.with(|s| s.borrow().as_ptr())
    }

    #[no_mangle]
    pub extern "C" fn message_len() -> usize {
        MESSAGE.with(|s| s.borrow().len())
    }

    /// 1 when compiled with `-C target-feature=+simd128`.
    #[no_mangle]
    pub extern "C" fn simd_enabled() -> u32 {
        cfg!(target_feature = "simd128") as u32
    }

    /// The SIMD backend the quant table selected: 0 scalar, 1 avx2, 2 simd128.
    #[no_mangle]
    pub extern "C" fn backend() -> u32 {
        backend_code(quant::isa())
    }

    /// What the quant table selected for ggml type `type_id`: 0 (JSON in `message_*`) or 1.
    #[no_mangle]
    pub extern "C" fn type_info(type_id: u32) -> u32 {
        install_panic_hook();
        finish(run_type_info(type_id))
    }

    /// How many ggml types have kernels.
    #[no_mangle]
    pub extern "C" fn kernel_type_count() -> u32 {
        kernel_type_ids().len() as u32
    }

    /// The ggml type id of the `i`-th type with kernels (u32::MAX past the end).
    #[no_mangle]
    pub extern "C" fn kernel_type_id(i: u32) -> u32 {
        kernel_type_ids().get(i as usize).copied().unwrap_or(u32::MAX)
    }
}
