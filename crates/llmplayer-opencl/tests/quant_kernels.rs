//! The OpenCL quant kernels against the quant fixtures (`shared/fixtures/quants/`, see its
//! README): per type with kernels, the device's dequantization is bit-exact with `w_deq`, and
//! the device mat-vec / mat-mat (f32 activations, f32 sums) is within the README's f32
//! tolerance of the exact products: `1e-5 · Σ_c |w_deq[r][c] · x[c]|` of `y_exact`/`yb_exact`.
//!
//! Runs on the first OpenCL device (PoCL on CI machines; `LLMPLAYER_OPENCL_DEVICE` names
//! another). Without a runtime or a device the tests skip, except under `CI=true`.

use llmplayer_core::gguf::GgufFile;
use llmplayer_core::GgmlType;
use llmplayer_opencl::{supports, Gpu};
use std::path::{Path, PathBuf};

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn quant_dir() -> Option<PathBuf> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = match std::env::var_os("LLMPLAYER_FIXTURES") {
        Some(p) => manifest.join(p),
        None => manifest.join("../../../shared/fixtures"),
    };
    let dir = root.join("quants");
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(!ci(), "quant fixtures not found at {}", dir.display());
    eprintln!("skipping: quant fixtures not found at {}", dir.display());
    None
}

fn gpu() -> Option<Gpu> {
    let selector = std::env::var("LLMPLAYER_OPENCL_DEVICE").ok();
    match Gpu::open(selector.as_deref(), true) {
        Ok(g) => Some(g),
        Err(e) if ci() => panic!("CI needs an OpenCL device (PoCL): {e}"),
        Err(e) => {
            eprintln!("skipping: {e}");
            None
        }
    }
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

struct Fixture {
    ty: GgmlType,
    rows: usize,
    cols: usize,
    batch: usize,
    w: Vec<u8>,
    w_deq: Vec<f32>,
    x: Vec<f32>,
    xb: Vec<f32>,
    y_exact: Vec<f32>,
    yb_exact: Vec<f32>,
}

fn load(path: &Path) -> Fixture {
    let bytes = std::fs::read(path).unwrap();
    let f = GgufFile::parse(&bytes).unwrap();
    let data = |name: &str| f.tensor_data(f.tensor(name).unwrap_or_else(|| panic!("{}: no tensor {name}", path.display()))).to_vec();
    let u = |key: &str| f.get_u32(key).unwrap_or_else(|| panic!("no {key}")) as usize;
    let ty = GgmlType::from_name(f.get_str("fixture.type").unwrap()).unwrap();
    Fixture {
        ty,
        rows: u("fixture.rows"),
        cols: u("fixture.cols"),
        batch: u("fixture.batch"),
        w: data("w"),
        w_deq: f32s(&data("w_deq")),
        x: f32s(&data("x")),
        xb: f32s(&data("xb")),
        y_exact: f32s(&data("y_exact")),
        yb_exact: f32s(&data("yb_exact")),
    }
}

/// `got[t][r]` against `want[t][r]` within `1e-5 · Σ_c |w_deq[r][c] · x[t][c]|`.
fn check_products(fx: &Fixture, x: &[f32], n: usize, got: &[f32], want: &[f32], what: &str) -> Result<f64, String> {
    let mut worst = 0f64;
    for t in 0..n {
        for r in 0..fx.rows {
            let bound: f64 = (0..fx.cols).map(|c| (fx.w_deq[r * fx.cols + c] as f64 * x[t * fx.cols + c] as f64).abs()).sum();
            let (g, w) = (got[t * fx.rows + r] as f64, want[t * fx.rows + r] as f64);
            let rel = (g - w).abs() / bound;
            worst = worst.max(rel);
            // Written so that a NaN fails too.
            #[allow(clippy::neg_cmp_op_on_partial_ord)]
            if !(rel <= 1e-5) {
                return Err(format!("{what}[{t}][{r}]: got {g:e}, want {w:e} ({rel:.1e} of Σ|w·x|)"));
            }
        }
    }
    Ok(worst)
}

#[test]
fn every_supported_fixture_type_matches_its_oracle_on_the_device() {
    let Some(dir) = quant_dir() else { return };
    let Some(gpu) = gpu() else { return };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "gguf")).collect();
    paths.sort();
    let (mut checked, mut failures, mut skipped) = (Vec::new(), Vec::new(), Vec::new());
    for path in &paths {
        let fx = load(path);
        if !supports(fx.ty) {
            skipped.push(fx.ty.name().to_string());
            continue;
        }
        let w = gpu.upload(fx.ty, fx.rows, fx.cols, &fx.w).unwrap_or_else(|e| panic!("{}: {e}", fx.ty));
        let deq = gpu.dequantize(&w).unwrap();
        if let Some(i) = (0..deq.len()).find(|&i| deq[i].to_bits() != fx.w_deq[i].to_bits()) {
            failures.push(format!("{}: dequantized element {i} is {:e}, w_deq has {:e}", fx.ty, deq[i], fx.w_deq[i]));
            continue;
        }
        let mut y = vec![f32::NAN; fx.rows];
        gpu.matmul(&w, &fx.x, 1, &mut y).unwrap();
        let mut yb = vec![f32::NAN; fx.rows * fx.batch];
        gpu.matmul(&w, &fx.xb, fx.batch, &mut yb).unwrap();
        match check_products(&fx, &fx.x, 1, &y, &fx.y_exact, "y").and_then(|a| Ok(a.max(check_products(&fx, &fx.xb, fx.batch, &yb, &fx.yb_exact, "yb")?))) {
            Ok(worst) => checked.push(format!("{}({worst:.1e})", fx.ty)),
            Err(e) => failures.push(format!("{}: {e}", fx.ty)),
        }
    }
    eprintln!("{} on {}: {} pass [{}]; no kernels yet: {}", env!("CARGO_PKG_NAME"), gpu.info().name, checked.len(), checked.join(" "), skipped.join(" "));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Every fixture type has kernels, and the fixture set is whole (README: 28 types).
    assert!(skipped.is_empty(), "fixture types without OpenCL kernels: {}", skipped.join(" "));
    assert_eq!(checked.len(), 28, "checked {}", checked.join(" "));
}

#[test]
fn types_without_kernels_are_refused_not_miscomputed() {
    let Some(gpu) = gpu() else { return };
    // Q8_K is an activation type only: no weight kernels.
    assert!(!supports(GgmlType::Q8_K));
    let bytes = vec![0u8; 2 * llmplayer_core::quant::row_bytes(GgmlType::Q8_K, 256)];
    match gpu.upload(GgmlType::Q8_K, 2, 256, &bytes) {
        Err(llmplayer_opencl::OpenClError::Unsupported(m)) => assert!(m.contains("Q8_K"), "{m}"),
        other => panic!("want Unsupported, got {:?}", other.err()),
    }
    // A shape that does not match the bytes is an error too.
    assert!(gpu.upload(GgmlType::Q4_0, 2, 32, &[0u8; 10]).is_err());
}
