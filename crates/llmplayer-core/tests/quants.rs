//! Golden tests of the quantization kernels against ggml's outputs in
//! `shared/fixtures/quants/quant-*.gguf` (see that folder's README.md), through
//! [`check_fixture_with_pool`]: the same code the WASM check module runs under Node
//! (`test/quant-wasm.test.ts`). Per fixture it checks:
//!
//! * dequantization: bit-exact against `w_deq` on every row (u32 patterns, so -0.0 counts);
//! * activation conversion (`QuantizedActs`, the selected and the scalar quantizer):
//!   byte-exact against `x_q` / `xb_q`;
//! * dot products (`vec_dot`, `vec_dot_scalar`, `vec_dot_x4`, mat-vec, mat-mat, threaded, row
//!   ranges): within `1e-5 * sum_c |w_deq[r][c] * deq(x_q)[c]|` of `y_ggml` / `yb_ggml`, plus a
//!   coarse sanity check against `y_exact` / `yb_exact`.
//!
//! Every expected number comes from the files. Fixture root: `$LLMPLAYER_FIXTURES`, else
//! `<repo>/../shared/fixtures`; when missing the tests fail under `CI=true` and skip otherwise.

use llmplayer_core::ggml_type::TYPE_TABLE;
use llmplayer_core::gguf::GgufFile;
use llmplayer_core::parallel::ThreadPool;
use llmplayer_core::quant::check::{check_fixture_with_pool, FixtureReport};
use llmplayer_core::quant::{self, Isa};
use llmplayer_core::GgmlType;
use std::path::{Path, PathBuf};

fn fixtures_root() -> Option<PathBuf> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = match std::env::var_os("LLMPLAYER_FIXTURES") {
        Some(p) => manifest.join(p),
        None => manifest.join("../../../shared/fixtures"),
    };
    let dir = root.join("quants");
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("quant fixtures not found at {}", dir.display());
    }
    eprintln!("skipping: quant fixtures not found at {} (set LLMPLAYER_FIXTURES)", dir.display());
    None
}

/// Every `quant-*.gguf` in the fixture folder, found by listing it.
fn fixture_paths() -> Vec<PathBuf> {
    let Some(dir) = fixtures_root() else { return Vec::new() };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "gguf"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no .gguf files in {}", dir.display());
    paths
}

#[test]
fn every_fixture_passes_the_shared_checks() {
    let paths = fixture_paths();
    let pool = ThreadPool::new(3);
    let mut failures = Vec::new();
    let mut reports: Vec<FixtureReport> = Vec::new();
    for path in &paths {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(path).unwrap();
        let f = GgufFile::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        match check_fixture_with_pool(&f, &pool) {
            Ok(r) => {
                assert_eq!(name, format!("quant-{}.gguf", r.ty.name().to_lowercase()), "file name vs fixture.type");
                assert_eq!((r.rows, r.cols), (16, 1024), "{name}: README shape");
                assert!(r.dots_checked > 0, "{name}: no dot products checked");
                reports.push(r);
            }
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{} of {} fixtures failed:\n{}", failures.len(), paths.len(), failures.join("\n"));
    if reports.is_empty() {
        return;
    }
    eprintln!(
        "{} fixtures pass: {}",
        reports.len(),
        reports
            .iter()
            .map(|r| format!(
                "{}({}{}, -0.0 x{}, max err {:.1e})",
                r.ty,
                r.backend.name(),
                if r.has_x4 { "+x4" } else { "" },
                r.negative_zeros,
                r.max_rel_err
            ))
            .collect::<Vec<_>>()
            .join(" ")
    );
    // Every type with kernels has a fixture, except the activation-only Q8_1 and Q8_K.
    for info in TYPE_TABLE {
        if quant::traits(info.ty).is_some() && !matches!(info.ty, GgmlType::Q8_1 | GgmlType::Q8_K) {
            assert!(reports.iter().any(|r| r.ty == info.ty), "no fixture for {}", info.ty);
        }
    }
    // The README lists -0.0 in w_deq for these types: the bit-exact check saw them.
    for ty in [GgmlType::Q4_0, GgmlType::Q5_0, GgmlType::Q3_K, GgmlType::Q6_K, GgmlType::IQ4_XS] {
        let r = reports.iter().find(|r| r.ty == ty).unwrap();
        assert!(r.negative_zeros > 0, "{ty}: no -0.0 in w_deq");
    }
    if quant::isa() == Isa::Avx2 {
        assert!(reports.iter().any(|r| r.backend == Isa::Avx2 && r.has_x4));
    }
}

#[test]
fn malformed_fixtures_are_errors_not_panics() {
    let Some(path) = fixture_paths().into_iter().find(|p| p.ends_with("quant-q4_0.gguf")) else { return };
    let bytes = std::fs::read(path).unwrap();
    let f = GgufFile::parse(&bytes).unwrap();
    assert!(check_fixture_with_pool(&f, &ThreadPool::new(1)).is_ok());
    // A GGUF file that is not a quant fixture.
    let model = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/stories260K.gguf")).unwrap();
    let other = GgufFile::parse(&model).unwrap();
    let e = check_fixture_with_pool(&other, &ThreadPool::new(1)).unwrap_err();
    assert!(e.contains("fixture.type"), "{e}");
}
