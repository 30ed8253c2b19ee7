//! Hostile hyperparameters never crash the engine: every unsigned 32-bit metadata key of each
//! architecture's own (`{arch}.*`) in every model fixture, set to 0, 1, 3, 4097 and u32::MAX
//! in turn, either loads and evaluates a few tokens or fails with an error; nothing panics
//! and nothing sizes a buffer from a value the loaded tensors do not use.
//! (Counts and sizes come from metadata, so a file that lies about them must be refused where
//! the tensors disagree, not read out of bounds.)

use llmplayer_core::model::{LoadOptions, Model};
use llmplayer_core::GgufFile;
use std::panic::{catch_unwind, AssertUnwindSafe};

mod engine;
use engine::{fixtures_root, model_files};

/// Offsets of the 4-byte values of `{arch}.*` keys stored as u32 (type id 4).
fn u32_value_offsets(bytes: &[u8], arch: &str) -> Vec<(String, usize)> {
    let prefix = format!("{arch}.");
    let mut out = Vec::new();
    let mut i = 0;
    // A key is a u64 length then its bytes, then the type id; scan for the prefix.
    while let Some(at) = bytes[i..].windows(prefix.len()).position(|w| w == prefix.as_bytes()) {
        let start = i + at;
        i = start + 1;
        if start < 8 {
            continue;
        }
        let len = u64::from_le_bytes(bytes[start - 8..start].try_into().unwrap()) as usize;
        let Some(end) = start.checked_add(len).filter(|&e| e + 8 <= bytes.len()) else { continue };
        let Ok(key) = std::str::from_utf8(&bytes[start..end]) else { continue };
        if !key.starts_with(&prefix) || key.bytes().any(|b| b.is_ascii_control()) {
            continue;
        }
        if u32::from_le_bytes(bytes[end..end + 4].try_into().unwrap()) == 4 {
            out.push((key.to_string(), end + 4));
        }
    }
    out
}

#[test]
fn hostile_u32_hyperparameters_are_errors_not_panics() {
    let Some(root) = fixtures_root() else { return };
    let mut panics = Vec::new();
    let mut cases = 0;
    for path in model_files(&root) {
        let bytes = std::fs::read(&path).unwrap();
        let Some(arch) = GgufFile::parse(&bytes).unwrap().architecture().map(str::to_string) else { continue };
        for (key, at) in u32_value_offsets(&bytes, &arch) {
            for v in [0u32, 1, 3, 4097, u32::MAX] {
                let mut file = bytes.clone();
                file[at..at + 4].copy_from_slice(&v.to_le_bytes());
                cases += 1;
                // An allocation failure aborts the process, past catch_unwind: TRACE_CASES=1
                // names the case that did.
                if std::env::var_os("TRACE_CASES").is_some() {
                    eprintln!("case {}: {key} = {v}", path.display());
                }
                let run = catch_unwind(AssertUnwindSafe(|| {
                    let Ok(f) = GgufFile::parse(&file) else { return };
                    let Ok(model) = Model::load_with(&f, &LoadOptions { n_threads: Some(1), ..Default::default() }) else { return };
                    let mut s = model.new_session(16);
                    let _ = s.eval(&[1, 2, 3, 4], true);
                }));
                if run.is_err() {
                    panics.push(format!("{}: {key} = {v}", path.display()));
                }
            }
        }
    }
    eprintln!("{cases} hostile hyperparameter cases");
    assert!(cases > 0, "no u32 hyperparameters found");
    assert!(panics.is_empty(), "{} of {cases} cases panicked:\n{}", panics.len(), panics.join("\n"));
}
