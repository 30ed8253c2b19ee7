//! Golden tests of the quantization kernels against ggml's outputs in
//! `shared/fixtures/quants/quant-*.gguf` (see that folder's README.md).
//!
//! * dequantization: bit-exact against `w_deq` (u32 patterns, so -0.0 counts);
//! * activation conversion: byte-exact against `x_q` / `xb_q`;
//! * dot products (`vec_dot`, `vec_dot_scalar`, mat-vec, mat-mat, threaded): within
//!   `1e-5 * sum_c |w_deq[r][c] * deq(x_q)[c]|` of `y_ggml` / `yb_ggml`, plus a coarse
//!   sanity check against `y_exact`.
//!
//! Every expected number comes from the files. Fixture root: `$LLMPLAYER_FIXTURES`, else
//! `<repo>/../shared/fixtures`; when missing the tests fail under `CI=true` and skip otherwise.

use llmplayer_core::gguf::GgufFile;
use llmplayer_core::parallel::ThreadPool;
use llmplayer_core::quant::{self, QuantizedActs};
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

struct Fixture {
    name: String,
    ty: GgmlType,
    vec_dot_type: GgmlType,
    rows: usize,
    cols: usize,
    batch: usize,
    w: Vec<u8>,
    w_deq: Vec<f32>,
    x: Vec<f32>,
    xb: Vec<f32>,
    x_q: Vec<u8>,
    xb_q: Vec<u8>,
    y_exact: Vec<f32>,
    y_ggml: Vec<f32>,
    yb_exact: Vec<f32>,
    yb_ggml: Vec<f32>,
}

fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

fn load(path: &Path) -> Fixture {
    let bytes = std::fs::read(path).unwrap();
    let f = GgufFile::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let tensor = |name: &str| {
        let t = f.tensor(name).unwrap_or_else(|| panic!("{}: no tensor {name}", path.display()));
        (t.ty, f.tensor_data(t).to_vec())
    };
    let meta_ty = |key: &str| GgmlType::from_name(f.get_str(key).unwrap()).unwrap();
    let (wty, w) = tensor("w");
    let ty = meta_ty("fixture.type");
    assert_eq!(wty, ty, "{}: w tensor type", path.display());
    assert_eq!(f.get_u32("fixture.type_id"), Some(ty.id()));
    assert_eq!(f.get_u32("fixture.block_size"), Some(ty.block_size()));
    assert_eq!(f.get_u32("fixture.type_size"), Some(ty.type_size()));
    let vec_dot_type = meta_ty("fixture.vec_dot_type");
    let (xq_ty, x_q) = tensor("x_q");
    assert_eq!(xq_ty, vec_dot_type);
    Fixture {
        name: path.file_name().unwrap().to_string_lossy().into_owned(),
        ty,
        vec_dot_type,
        rows: f.get_u32("fixture.rows").unwrap() as usize,
        cols: f.get_u32("fixture.cols").unwrap() as usize,
        batch: f.get_u32("fixture.batch").unwrap() as usize,
        w,
        w_deq: f32s(&tensor("w_deq").1),
        x: f32s(&tensor("x").1),
        xb: f32s(&tensor("xb").1),
        x_q,
        xb_q: tensor("xb_q").1,
        y_exact: f32s(&tensor("y_exact").1),
        y_ggml: f32s(&tensor("y_ggml").1),
        yb_exact: f32s(&tensor("yb_exact").1),
        yb_ggml: f32s(&tensor("yb_ggml").1),
    }
}

/// Every `quant-*.gguf` in the fixture folder, found by listing it.
fn fixtures() -> Vec<Fixture> {
    let Some(dir) = fixtures_root() else { return Vec::new() };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "gguf"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no .gguf files in {}", dir.display());
    paths.iter().map(|p| load(p)).collect()
}

fn traits(fx: &Fixture) -> &'static quant::QuantTraits {
    quant::traits(fx.ty).unwrap_or_else(|| panic!("{}: no kernels for {}", fx.name, fx.ty))
}

fn dequant(ty: GgmlType, bytes: &[u8], n: usize) -> Vec<f32> {
    let mut out = vec![0.0; n];
    (quant::traits(ty).unwrap().dequantize_row)(bytes, &mut out);
    out
}

/// `sum_c |w[r][c] * a[c]|`: the scale of the rounding error of output r.
fn abs_dot(w: &[f32], a: &[f32]) -> f32 {
    w.iter().zip(a).map(|(p, q)| (*p as f64 * *q as f64).abs()).sum::<f64>() as f32
}

#[test]
fn dequantization_is_bit_exact() {
    let all = fixtures();
    let mut failures = Vec::new();
    for fx in &all {
        let t = traits(fx);
        let rb = quant::row_bytes(fx.ty, fx.cols);
        for r in 0..fx.rows {
            let got = dequant(fx.ty, &fx.w[r * rb..(r + 1) * rb], fx.cols);
            let want = &fx.w_deq[r * fx.cols..(r + 1) * fx.cols];
            if let Some(c) = (0..fx.cols).find(|&c| got[c].to_bits() != want[c].to_bits()) {
                failures.push(format!("{} row {r} col {c}: got {:e} want {:e}", fx.name, got[c], want[c]));
            }
        }
        assert_eq!(t.vec_dot_type, fx.vec_dot_type, "{}: vec_dot_type", fx.name);
    }
    assert!(failures.is_empty(), "{} mismatching rows:\n{}", failures.len(), failures.join("\n"));
    eprintln!("dequantization bit-exact for {} fixtures", all.len());
}

#[test]
fn activation_conversion_matches_ggml() {
    let all = fixtures();
    for fx in &all {
        let mut acts = QuantizedActs::new();
        acts.quantize(fx.vec_dot_type, &fx.x, fx.cols);
        assert!(acts.row(0) == &fx.x_q[..], "{}: x_q differs", fx.name);
        acts.quantize(fx.vec_dot_type, &fx.xb, fx.cols);
        assert_eq!(acts.batch(), fx.batch);
        for j in 0..fx.batch {
            let want = &fx.xb_q[j * acts.row_bytes()..(j + 1) * acts.row_bytes()];
            assert!(acts.row(j) == want, "{}: xb_q[{j}] differs", fx.name);
        }
        // The scalar quantizer must agree too (the table may hold a SIMD one).
        let scalar = quant::traits(fx.vec_dot_type).unwrap().quantize_row_scalar.unwrap();
        let mut out = vec![0u8; fx.x_q.len()];
        scalar(&fx.x, &mut out);
        assert!(out == fx.x_q, "{}: scalar x_q differs", fx.name);
    }
}

/// Checks `got[j][r]` against ggml's result for `batch` activation rows in `x_q`.
fn check_against_ggml(fx: &Fixture, what: &str, x_q: &[u8], want: &[f32], got: &[f32]) {
    let batch = want.len() / fx.rows;
    let arb = quant::row_bytes(fx.vec_dot_type, fx.cols);
    for j in 0..batch {
        let a = dequant(fx.vec_dot_type, &x_q[j * arb..(j + 1) * arb], fx.cols);
        for r in 0..fx.rows {
            let scale = abs_dot(&fx.w_deq[r * fx.cols..(r + 1) * fx.cols], &a);
            let (g, w) = (got[j * fx.rows + r], want[j * fx.rows + r]);
            assert!(
                (g - w).abs() <= 1e-5 * scale,
                "{} {what}: act {j} row {r}: got {g} ggml {w} (|diff| {:e} > 1e-5 * {scale:e})",
                fx.name,
                (g - w).abs()
            );
        }
    }
}

/// The README's coarse bound between a quantized-activation result and the exact product.
fn check_against_exact(fx: &Fixture, what: &str, x: &[f32], exact: &[f32], got: &[f32]) {
    let batch = exact.len() / fx.rows;
    let max_exact = exact.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    for j in 0..batch {
        for r in 0..fx.rows {
            let scale = abs_dot(&fx.w_deq[r * fx.cols..(r + 1) * fx.cols], &x[j * fx.cols..(j + 1) * fx.cols]);
            let (g, e) = (got[j * fx.rows + r], exact[j * fx.rows + r]);
            let tol = (2.5e-2 * scale).max(3e-2 * max_exact);
            assert!((g - e).abs() <= tol, "{} {what}: act {j} row {r}: got {g} exact {e}", fx.name);
        }
    }
}

#[test]
fn vec_dot_matches_ggml() {
    let all = fixtures();
    for fx in &all {
        let t = traits(fx);
        let rb = quant::row_bytes(fx.ty, fx.cols);
        for (label, dot) in [("vec_dot", t.vec_dot), ("vec_dot_scalar", t.vec_dot_scalar)] {
            let y: Vec<f32> = (0..fx.rows).map(|r| dot(fx.cols, &fx.w[r * rb..(r + 1) * rb], &fx.x_q)).collect();
            check_against_ggml(fx, label, &fx.x_q, &fx.y_ggml, &y);
            check_against_exact(fx, label, &fx.x, &fx.y_exact, &y);
            let arb = fx.xb_q.len() / fx.batch;
            let yb: Vec<f32> = (0..fx.batch * fx.rows)
                .map(|i| {
                    let (j, r) = (i / fx.rows, i % fx.rows);
                    dot(fx.cols, &fx.w[r * rb..(r + 1) * rb], &fx.xb_q[j * arb..(j + 1) * arb])
                })
                .collect();
            check_against_ggml(fx, label, &fx.xb_q, &fx.yb_ggml, &yb);
        }
    }
}

#[test]
fn matvec_and_matmul_match_ggml() {
    let all = fixtures();
    let pool = ThreadPool::new(3);
    for fx in &all {
        let mut y = vec![f32::NAN; fx.rows];
        quant::matvec(&fx.w, fx.ty, fx.rows, fx.cols, &fx.x, &mut y);
        check_against_ggml(fx, "matvec", &fx.x_q, &fx.y_ggml, &y);

        let mut acts = QuantizedActs::new();
        let mut y = vec![f32::NAN; fx.rows];
        quant::matvec_par(&pool, &fx.w, fx.ty, fx.rows, fx.cols, &fx.x, &mut y, &mut acts);
        check_against_ggml(fx, "matvec_par", &fx.x_q, &fx.y_ggml, &y);

        let mut yb = vec![f32::NAN; fx.batch * fx.rows];
        quant::matmul(&fx.w, fx.ty, fx.rows, fx.cols, &fx.xb, &mut yb);
        check_against_ggml(fx, "matmul", &fx.xb_q, &fx.yb_ggml, &yb);
        check_against_exact(fx, "matmul", &fx.xb, &fx.yb_exact, &yb);

        let mut yb = vec![f32::NAN; fx.batch * fx.rows];
        quant::matmul_par(&pool, &fx.w, fx.ty, fx.rows, fx.cols, &fx.xb, &mut yb, &mut acts);
        check_against_ggml(fx, "matmul_par", &fx.xb_q, &fx.yb_ggml, &yb);

        // Row ranges compose: two halves give the whole.
        let mut yb = vec![f32::NAN; fx.batch * fx.rows];
        let half = fx.rows / 2;
        quant::matmul_q(&fx.w, fx.ty, fx.rows, fx.cols, &acts, 0..half, &mut yb);
        quant::matmul_q(&fx.w, fx.ty, fx.rows, fx.cols, &acts, half..fx.rows, &mut yb);
        check_against_ggml(fx, "matmul_q halves", &fx.xb_q, &fx.yb_ggml, &yb);

        let mut y = vec![f32::NAN; fx.rows];
        let (lo, hi) = y.split_at_mut(half);
        quant::matvec_q(&fx.w, fx.ty, fx.cols, &fx.x_q, 0..half, lo);
        quant::matvec_q(&fx.w, fx.ty, fx.cols, &fx.x_q, half..fx.rows, hi);
        check_against_ggml(fx, "matvec_q halves", &fx.x_q, &fx.y_ggml, &y);
    }
}

#[test]
fn every_fixture_type_has_kernels() {
    let all = fixtures();
    if fixtures_root().is_none() {
        return;
    }
    assert!(!all.is_empty());
    for fx in &all {
        let t = traits(fx);
        assert_eq!((t.block_size, t.type_size), (fx.ty.block_size() as usize, fx.ty.type_size() as usize));
    }
    eprintln!(
        "{} fixtures: {}",
        all.len(),
        all.iter().map(|f| format!("{}({})", f.ty, traits(f).vec_dot_backend.name())).collect::<Vec<_>>().join(" ")
    );
}
