//! Parses arbitrary bytes as GGUF. On success, touches every accessor, every metadata value
//! (arrays decoded recursively), every tensor's data and the JSON summary, asserting the
//! invariants a parsed file promises; on failure, checks the error is well-formed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llmplayer_core::gguf::{keys, GgufFile};
use llmplayer_core::inspect::{inspect, InspectOptions};

/// The value walker shared with the tests (`touch_value` / `touch_array`).
#[path = "../../tests/common/gguf_checks.rs"]
mod gguf_checks;
use gguf_checks::touch_value;

fuzz_target!(|data: &[u8]| {
    let f = match GgufFile::parse(data) {
        Ok(f) => f,
        Err(e) => {
            assert!(e.offset <= data.len() as u64, "error offset {} past the end: {e}", e.offset);
            assert!(!e.code().is_empty());
            let _ = e.to_string();
            return;
        }
    };
    touch_file(&f, data);
});

fn touch_file(f: &GgufFile<'_>, data: &[u8]) {
    assert!(f.version == 2 || f.version == 3);
    assert!(f.alignment.is_power_of_two());
    assert_eq!(f.bytes().len(), data.len());
    for (k, v) in &f.metadata {
        // The lookup finds this very entry (compared by address: NaN != NaN).
        assert!(f.get(k).is_some_and(|g| std::ptr::eq(g, v)));
        let _ = (f.get_str(k), f.get_u64(k), f.get_u32(k), f.get_f32(k), f.get_bool(k));
        if let Some(a) = f.get_array(k) {
            assert_eq!(Some(a), v.as_array());
        }
        touch_value(v, 0);
    }
    let _ = f.architecture();
    for suffix in [
        keys::CONTEXT_LENGTH,
        keys::EMBEDDING_LENGTH,
        keys::BLOCK_COUNT,
        keys::HEAD_COUNT,
        keys::HEAD_COUNT_KV,
        keys::VOCAB_SIZE,
        keys::ROPE_FREQ_BASE,
    ] {
        if let Some(v) = f.get_arch(suffix) {
            touch_value(v, 0);
        }
    }
    let len = data.len() as u64;
    for t in &f.tensors {
        assert_eq!(f.tensor(t.name), Some(t));
        assert!(t.dims.len() <= 4);
        assert_eq!(t.ty.bytes_for(t.n_elements()), Some(t.size));
        assert_eq!(t.offset % f.alignment, 0);
        assert!(f.data_offset + t.offset + t.size <= len);
        let bytes = f.tensor_data(t);
        assert_eq!(bytes.len() as u64, t.size);
        // Read the first and last byte so the slice is really touched.
        let _ = (bytes.first(), bytes.last());
        let _ = (0..5).map(|i| t.ne(i)).collect::<Vec<_>>();
    }
    // The JSON summary reads every value too (full arrays and tensor list).
    let _ = inspect(f, InspectOptions { full_arrays: true, tensors: true }).to_string();
    let _ = inspect(f, InspectOptions::default()).to_string();
}
