//! Parsing helpers and the value walker shared by the GGUF tests.
//!
//! Self-contained (only `llmplayer_core` and `std`): the fuzz target
//! `fuzz/fuzz_targets/gguf_parse.rs` includes this file with `#[path]` for its value walker.

#![allow(dead_code)]

use llmplayer_core::gguf::{Array, GgufError, GgufErrorKind, GgufFile, Value};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Parses without letting a panic escape, so a sweep can say which input panicked.
pub fn try_parse(bytes: &[u8]) -> Result<Result<GgufFile<'_>, GgufError>, String> {
    catch_unwind(AssertUnwindSafe(|| GgufFile::parse(bytes))).map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

pub fn parse_ok(bytes: &[u8]) -> GgufFile<'_> {
    match try_parse(bytes) {
        Ok(Ok(f)) => {
            touch_everything(&f);
            f
        }
        Ok(Err(e)) => panic!("expected a valid file, got {e}"),
        Err(p) => panic!("parser panicked on a valid file: {p}"),
    }
}

pub fn parse_err(bytes: &[u8]) -> GgufError {
    match try_parse(bytes) {
        Ok(Ok(_)) => panic!("expected an error, the file parsed"),
        Ok(Err(e)) => {
            // The error is usable: it has a code, formats, and points inside the file.
            assert!(!e.code().is_empty());
            assert!(!e.to_string().is_empty());
            assert!(e.offset <= bytes.len() as u64, "offset {} past the end ({} bytes): {e}", e.offset, bytes.len());
            e
        }
        Err(p) => panic!("parser panicked: {p}"),
    }
}

/// Asserts the exact error kind and offset.
#[track_caller]
pub fn assert_err(bytes: &[u8], kind: GgufErrorKind, offset: usize) {
    let e = parse_err(bytes);
    assert_eq!(e.kind, kind, "error kind ({e})");
    assert_eq!(e.offset, offset as u64, "error offset ({e})");
}

/// Calls every accessor on every key, value and tensor, checking the invariants that hold for
/// any file the parser accepted.
pub fn touch_everything(f: &GgufFile<'_>) {
    assert!(f.version == 2 || f.version == 3);
    assert!(f.alignment.is_power_of_two());
    for (k, v) in &f.metadata {
        // The lookup finds this very entry (compared by address: NaN != NaN).
        assert!(f.get(k).is_some_and(|g| std::ptr::eq(g, v)), "lookup of {k:?}");
        let _ = (f.get_str(k), f.get_u64(k), f.get_u32(k), f.get_f32(k), f.get_bool(k));
        touch_value(v, 0);
    }
    let _ = f.architecture();
    for suffix in [".context_length", ".embedding_length", ".block_count", ".vocab_size"] {
        let _ = f.get_arch(suffix);
    }
    let len = f.bytes().len() as u64;
    for t in &f.tensors {
        assert_eq!(f.tensor(t.name), Some(t), "lookup of tensor {:?}", t.name);
        assert!(t.dims.len() <= 4);
        let data = f.tensor_data(t);
        assert_eq!(data.len() as u64, t.size);
        assert_eq!(t.ty.bytes_for(t.n_elements()), Some(t.size));
        assert_eq!(t.offset % f.alignment, 0);
        assert!(f.data_offset + t.offset + t.size <= len);
        let _ = (0..5).map(|i| t.ne(i)).product::<u64>();
    }
    if !f.tensors.is_empty() {
        assert_eq!(f.data_offset % f.alignment, 0);
    }
}

pub fn touch_value(v: &Value<'_>, depth: u32) {
    let _ =
        (v.value_type().name(), v.as_u64(), v.as_u32(), v.as_i64(), v.as_f64(), v.as_f32(), v.as_bool(), v.as_str());
    if let Some(a) = v.as_array() {
        touch_array(a, depth);
    }
}

// `a.len() == 0` is the point: `is_empty` must agree with `len`.
#[allow(clippy::len_zero)]
pub fn touch_array(a: &Array<'_>, depth: u32) {
    // A parsed array always decodes to exactly its declared count.
    assert_eq!(a.iter().count(), a.len());
    assert_eq!(a.iter().size_hint(), (a.len(), Some(a.len())));
    assert_eq!(a.is_empty(), a.len() == 0);
    let _ = a.strings().count();
    if let Some(v) = a.to_f32_vec() {
        assert_eq!(v.len(), a.len());
    }
    if let Some(v) = a.to_i64_vec() {
        assert_eq!(v.len(), a.len());
    }
    if depth < 8 {
        for v in a.iter() {
            touch_value(&v, depth + 1);
        }
    }
}
