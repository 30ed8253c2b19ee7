//! Self-checks of the quantization kernels: the one implementation run by the native tests
//! and by the WebAssembly build.
//!
//! * [`check_fixture`]: one golden `quant-<type>.gguf` file (`shared/fixtures/quants`, see its
//!   README.md) against the kernels of this build. Every expectation comes from the file:
//!   dequantization bit-exact against `w_deq` on every row (u32 patterns, so -0.0 counts);
//!   activation conversion byte-exact against `x_q` / `xb_q` (selected and scalar
//!   quantizers); `vec_dot`, `vec_dot_scalar`, `vec_dot_x4`, mat-vec and mat-mat (plain,
//!   threaded, row ranges, through [`QuantizedActs`]) within
//!   `1e-5 * sum_c |w_deq[r][c] * deq(x_q)[c]|` of `y_ggml` / `yb_ggml`, plus the README's
//!   coarse bound against `y_exact` / `yb_exact`.
//! * [`check_fast_vs_scalar`]: the selected kernels of one type (AVX2 or simd128 `vec_dot`,
//!   `vec_dot_x4`, SIMD activation quantizers, the mat-mat tiling) against the scalar oracle
//!   on random data: random weight bytes with sane scale fields, so every quant bit pattern
//!   is exercised.
//!
//! `tests/quants.rs` and the crate's unit tests call these natively; the
//! `llmplayer-wasm-check` module exports them to Node (`test/quant-wasm.test.ts`), so both
//! builds run the same checks. Both functions report problems as `Err` (every failure found,
//! the first few in full) rather than panicking. Nothing here is used at inference time:
//! builds that do not call it (the `llmplayer-wasm` module, the addon) drop it at link time.

use super::float::{f32_to_bf16, f32_to_f16};
use super::{
    matmul, matmul_par, matmul_q, matvec, matvec_par, matvec_q, row_bytes, traits, Backend, QuantTraits, QuantizedActs,
};
use crate::gguf::GgufFile;
use crate::parallel::ThreadPool;
use crate::GgmlType;

/// Tolerance of a quantized dot product against ggml's (README section 6.3), relative to
/// `sum_c |w_deq[r][c] * deq(x_q)[c]|`.
pub const GGML_DOT_TOL: f32 = 1e-5;
/// Tolerance of a selected kernel against the scalar one (and of the scalar one against the
/// exact f64 product) on random data, relative to the same sum of absolute products.
pub const FAST_VS_SCALAR_TOL: f64 = 2e-5;

/// Failures listed in full in an error message; the rest are only counted.
const MAX_LISTED: usize = 20;

/// What [`check_fixture`] verified.
#[derive(Clone, Debug)]
pub struct FixtureReport {
    pub ty: GgmlType,
    pub vec_dot_type: GgmlType,
    pub rows: usize,
    pub cols: usize,
    pub batch: usize,
    /// Which implementation the table's `vec_dot` is in this build.
    pub backend: Backend,
    /// Whether the type has a `vec_dot_x4` kernel in this build (checked when it has).
    pub has_x4: bool,
    /// Whether the activation type's selected quantizer differs from its scalar one.
    pub fast_quantizer: bool,
    /// -0.0 elements of `w_deq`, all reproduced bit for bit.
    pub negative_zeros: usize,
    /// Largest `|got - ggml| / sum|w_deq * deq(x_q)|` over every dot-product check.
    pub max_rel_err: f32,
    /// Dot products compared with ggml's.
    pub dots_checked: usize,
}

/// What [`check_fast_vs_scalar`] verified.
#[derive(Clone, Debug)]
pub struct RandomReport {
    pub ty: GgmlType,
    pub backend: Backend,
    pub has_x4: bool,
    /// Whether the selected quantizer differs from the scalar one (activation types only).
    pub fast_quantizer: bool,
    /// Dot products compared with the scalar kernel (single, x4 and mat-mat).
    pub dots_checked: usize,
    /// Rows converted by both quantizers and compared byte for byte.
    pub quantized_rows_checked: usize,
    /// Largest `|fast - scalar| / sum|w * a|`.
    pub max_rel_err: f64,
}

/// Failures collected while checking, reported together.
struct Failures {
    listed: Vec<String>,
    total: usize,
}

impl Failures {
    fn new() -> Failures {
        Failures { listed: Vec::new(), total: 0 }
    }
    fn push(&mut self, msg: String) {
        self.total += 1;
        if self.listed.len() < MAX_LISTED {
            self.listed.push(msg);
        }
    }
    fn into_result<T>(self, what: &str, ok: T) -> Result<T, String> {
        if self.total == 0 {
            return Ok(ok);
        }
        let mut msg = format!("{what}: {} failure(s)", self.total);
        for l in &self.listed {
            msg.push_str("\n  ");
            msg.push_str(l);
        }
        if self.total > self.listed.len() {
            msg.push_str(&format!("\n  ... and {} more", self.total - self.listed.len()));
        }
        Err(msg)
    }
}

fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

fn kernels(ty: GgmlType) -> Result<&'static QuantTraits, String> {
    traits(ty).ok_or_else(|| format!("no kernels for {ty}"))
}

fn dequant(ty: GgmlType, bytes: &[u8], n: usize) -> Vec<f32> {
    let mut out = vec![0.0; n];
    (traits(ty).expect("activation type has kernels").dequantize_row)(bytes, &mut out);
    out
}

/// `diff <= tol`, false for NaN.
fn within<T: PartialOrd>(diff: T, tol: T) -> bool {
    diff <= tol
}

/// `sum_c |w[c] * a[c]|` in f64: the scale of the rounding error of one output.
fn abs_dot(w: &[f32], a: &[f32]) -> f64 {
    w.iter().zip(a).map(|(p, q)| (*p as f64 * *q as f64).abs()).sum()
}

/// Whether the table holds a quantizer for `t.ty` other than the scalar one (a SIMD one).
pub fn has_fast_quantizer(t: &QuantTraits) -> bool {
    match (t.quantize_row, t.quantize_row_scalar) {
        (Some(f), Some(s)) => f as usize != s as usize,
        _ => false,
    }
}

// ------------------------------------------------------------------ golden fixtures

/// The arrays of one fixture file, borrowed or decoded.
struct Fixture<'a> {
    ty: GgmlType,
    vec_dot_type: GgmlType,
    rows: usize,
    cols: usize,
    batch: usize,
    w: &'a [u8],
    w_deq: Vec<f32>,
    x: Vec<f32>,
    xb: Vec<f32>,
    x_q: &'a [u8],
    xb_q: &'a [u8],
    y_exact: Vec<f32>,
    y_ggml: Vec<f32>,
    yb_exact: Vec<f32>,
    yb_ggml: Vec<f32>,
    /// `sum_c |w_deq[r][c] * deq(x_q)[c]|` for `x_q` (`[r]`) and `xb_q` (`[j * rows + r]`).
    scale_q: Vec<f32>,
    scale_bq: Vec<f32>,
}

fn load<'a>(f: &GgufFile<'a>) -> Result<Fixture<'a>, String> {
    let tensor = |name: &str, ty: Option<GgmlType>, bytes: usize| -> Result<&'a [u8], String> {
        let t = f.tensor(name).ok_or_else(|| format!("no tensor {name}"))?;
        if let Some(ty) = ty {
            if t.ty != ty {
                return Err(format!("tensor {name} is {}, want {ty}", t.ty));
            }
        }
        let data = f.tensor_data(t);
        if data.len() != bytes {
            return Err(format!("tensor {name} has {} bytes, want {bytes}", data.len()));
        }
        Ok(data)
    };
    let meta_u32 = |key: &str| f.get_u32(key).ok_or_else(|| format!("no u32 metadata {key}"));
    let meta_ty = |key: &str| -> Result<GgmlType, String> {
        let name = f.get_str(key).ok_or_else(|| format!("no string metadata {key}"))?;
        GgmlType::from_name(name).ok_or_else(|| format!("{key}: unknown type {name}"))
    };
    let ty = meta_ty("fixture.type")?;
    for (key, want, got) in [
        ("fixture.type_id", ty.id(), meta_u32("fixture.type_id")?),
        ("fixture.block_size", ty.block_size(), meta_u32("fixture.block_size")?),
        ("fixture.type_size", ty.type_size(), meta_u32("fixture.type_size")?),
    ] {
        if got != want {
            return Err(format!("{key} is {got}, {ty} has {want}"));
        }
    }
    let vec_dot_type = meta_ty("fixture.vec_dot_type")?;
    let (rows, cols, batch) =
        (meta_u32("fixture.rows")? as usize, meta_u32("fixture.cols")? as usize, meta_u32("fixture.batch")? as usize);
    if rows < 2 || cols == 0 || batch == 0 || cols % ty.block_size() as usize != 0 {
        return Err(format!("bad shape rows={rows} cols={cols} batch={batch}"));
    }
    if cols % vec_dot_type.block_size() as usize != 0 {
        return Err(format!("cols={cols} is not a whole number of {vec_dot_type} blocks"));
    }
    let f32t = Some(GgmlType::F32);
    let arb = row_bytes(vec_dot_type, cols);
    let mut fx = Fixture {
        ty,
        vec_dot_type,
        rows,
        cols,
        batch,
        w: tensor("w", Some(ty), rows * row_bytes(ty, cols))?,
        w_deq: f32s(tensor("w_deq", f32t, rows * cols * 4)?),
        x: f32s(tensor("x", f32t, cols * 4)?),
        xb: f32s(tensor("xb", f32t, batch * cols * 4)?),
        x_q: tensor("x_q", Some(vec_dot_type), arb)?,
        xb_q: tensor("xb_q", Some(vec_dot_type), batch * arb)?,
        y_exact: f32s(tensor("y_exact", f32t, rows * 4)?),
        y_ggml: f32s(tensor("y_ggml", f32t, rows * 4)?),
        yb_exact: f32s(tensor("yb_exact", f32t, batch * rows * 4)?),
        yb_ggml: f32s(tensor("yb_ggml", f32t, batch * rows * 4)?),
        scale_q: Vec::new(),
        scale_bq: Vec::new(),
    };
    kernels(vec_dot_type)?;
    let scales = |x_q: &[u8], fx: &Fixture| -> Vec<f32> {
        let mut out = Vec::new();
        for a in x_q.chunks_exact(arb) {
            let a = dequant(vec_dot_type, a, cols);
            out.extend((0..rows).map(|r| abs_dot(&fx.w_deq[r * cols..(r + 1) * cols], &a) as f32));
        }
        out
    };
    fx.scale_q = scales(fx.x_q, &fx);
    fx.scale_bq = scales(fx.xb_q, &fx);
    Ok(fx)
}

/// Comparisons of results with the fixture's expectations.
struct FixtureChecker<'a> {
    fx: &'a Fixture<'a>,
    fails: Failures,
    max_rel_err: f32,
    dots_checked: usize,
}

impl FixtureChecker<'_> {
    /// `got[j * rows + r]` against ggml's result for one activation row (`x_q`, `batched` false)
    /// or every row of `xb_q`.
    fn ggml(&mut self, what: &str, batched: bool, got: &[f32]) {
        let fx = self.fx;
        let (want, scale) = if batched { (&fx.yb_ggml, &fx.scale_bq) } else { (&fx.y_ggml, &fx.scale_q) };
        for (i, (&g, &w)) in got.iter().zip(want.iter()).enumerate() {
            self.ggml_one(what, i / fx.rows, i % fx.rows, g, w, scale[i]);
        }
        if got.len() != want.len() {
            self.fails.push(format!("{what}: {} outputs, want {}", got.len(), want.len()));
        }
    }

    fn ggml_one(&mut self, what: &str, j: usize, r: usize, got: f32, want: f32, scale: f32) {
        let diff = (got - want).abs();
        self.dots_checked += 1;
        if scale > 0.0 {
            self.max_rel_err = self.max_rel_err.max(diff / scale);
        }
        if !within(diff, GGML_DOT_TOL * scale) {
            self.fails.push(format!(
                "{what}: act {j} row {r}: got {got} ggml {want} (|diff| {diff:e} > {GGML_DOT_TOL:e} * {scale:e})"
            ));
        }
    }

    /// The README's coarse bound between a quantized-activation result and the exact product.
    fn exact(&mut self, what: &str, batched: bool, got: &[f32]) {
        let fx = self.fx;
        let (x, exact) = if batched { (&fx.xb, &fx.yb_exact) } else { (&fx.x, &fx.y_exact) };
        let max_exact = exact.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        for (i, (&g, &e)) in got.iter().zip(exact.iter()).enumerate() {
            let (j, r) = (i / fx.rows, i % fx.rows);
            let scale = abs_dot(&fx.w_deq[r * fx.cols..(r + 1) * fx.cols], &x[j * fx.cols..(j + 1) * fx.cols]) as f32;
            let tol = (2.5e-2 * scale).max(3e-2 * max_exact);
            if !within((g - e).abs(), tol) {
                self.fails.push(format!("{what}: act {j} row {r}: got {g} exact {e} (tolerance {tol:e})"));
            }
        }
    }
}

/// Checks this build's kernels against one golden `quant-<type>.gguf` fixture (see the module
/// docs), running the threaded paths on a fresh 3-thread pool (1 thread on wasm32).
pub fn check_fixture(f: &GgufFile) -> Result<FixtureReport, String> {
    check_fixture_with_pool(f, &ThreadPool::new(3))
}

/// [`check_fixture`] with the caller's pool for `matvec_par` / `matmul_par`.
pub fn check_fixture_with_pool(f: &GgufFile, pool: &ThreadPool) -> Result<FixtureReport, String> {
    let fx = load(f)?;
    let what = format!("quant fixture {}", fx.ty);
    let t = kernels(fx.ty).map_err(|e| format!("{what}: {e}"))?;
    let vt = kernels(fx.vec_dot_type)?;
    if (t.block_size, t.type_size) != (fx.ty.block_size() as usize, fx.ty.type_size() as usize) {
        return Err(format!("{what}: table has block {} x {} bytes", t.block_size, t.type_size));
    }
    if t.vec_dot_type != fx.vec_dot_type {
        return Err(format!("{what}: table vec_dot_type {}, fixture {}", t.vec_dot_type, fx.vec_dot_type));
    }
    let (quantize, quantize_scalar) = match (vt.quantize_row, vt.quantize_row_scalar) {
        (Some(q), Some(s)) => (q, s),
        _ => return Err(format!("{what}: {} has no quantizer", fx.vec_dot_type)),
    };
    let (rows, cols, batch) = (fx.rows, fx.cols, fx.batch);
    let rb = row_bytes(fx.ty, cols);
    let arb = row_bytes(fx.vec_dot_type, cols);
    let mut c = FixtureChecker { fx: &fx, fails: Failures::new(), max_rel_err: 0.0, dots_checked: 0 };

    // Dequantization: bit-exact on every row.
    let mut negative_zeros = 0;
    for r in 0..rows {
        let got = dequant(fx.ty, &fx.w[r * rb..(r + 1) * rb], cols);
        let want = &fx.w_deq[r * cols..(r + 1) * cols];
        negative_zeros += want.iter().filter(|v| v.to_bits() == (-0.0f32).to_bits()).count();
        if let Some(col) = (0..cols).find(|&i| got[i].to_bits() != want[i].to_bits()) {
            c.fails.push(format!("dequantize row {r} col {col}: got {:e} want {:e}", got[col], want[col]));
        }
    }

    // Activation conversion: byte-exact, through QuantizedActs and the scalar quantizer.
    let mut acts = QuantizedActs::new();
    acts.quantize(fx.vec_dot_type, &fx.x, cols);
    if acts.row(0) != fx.x_q {
        c.fails.push("QuantizedActs: x_q differs".into());
    }
    acts.quantize(fx.vec_dot_type, &fx.xb, cols);
    if acts.batch() != batch || acts.row_bytes() != arb {
        c.fails.push(format!("QuantizedActs: batch {} x {} bytes", acts.batch(), acts.row_bytes()));
    } else {
        for j in 0..batch {
            if acts.row(j) != &fx.xb_q[j * arb..(j + 1) * arb] {
                c.fails.push(format!("QuantizedActs: xb_q[{j}] differs"));
            }
        }
    }
    for (label, q) in [("selected", quantize), ("scalar", quantize_scalar)] {
        let mut out = vec![0u8; arb];
        for j in 0..=batch {
            let (x, want) = if j == 0 {
                (&fx.x[..], fx.x_q)
            } else {
                (&fx.xb[(j - 1) * cols..j * cols], &fx.xb_q[(j - 1) * arb..j * arb])
            };
            q(x, &mut out);
            if out != want {
                let name = if j == 0 { "x_q".to_string() } else { format!("xb_q[{}]", j - 1) };
                c.fails.push(format!("{label} quantizer: {name} differs"));
            }
        }
    }

    // Single dot products, selected and scalar, on x_q and every row of xb_q.
    for (label, dot) in [("vec_dot", t.vec_dot), ("vec_dot_scalar", t.vec_dot_scalar)] {
        let y: Vec<f32> = (0..rows).map(|r| dot(cols, &fx.w[r * rb..(r + 1) * rb], fx.x_q)).collect();
        c.ggml(label, false, &y);
        c.exact(label, false, &y);
        let yb: Vec<f32> = (0..batch * rows)
            .map(|i| {
                let (j, r) = (i / rows, i % rows);
                dot(cols, &fx.w[r * rb..(r + 1) * rb], &fx.xb_q[j * arb..(j + 1) * arb])
            })
            .collect();
        c.ggml(label, true, &yb);
        c.exact(label, true, &yb);
    }

    // The x4 micro-kernel on each group of four rows of xb_q (and on x_q four times).
    if let Some(x4) = t.vec_dot_x4 {
        for r in 0..rows {
            let w = &fx.w[r * rb..(r + 1) * rb];
            let mut j0 = 0;
            while j0 + 4 <= batch {
                let a = |k: usize| &fx.xb_q[(j0 + k) * arb..(j0 + k + 1) * arb];
                let got = x4(cols, w, [a(0), a(1), a(2), a(3)]);
                for (k, g) in got.into_iter().enumerate() {
                    let i = (j0 + k) * rows + r;
                    c.ggml_one("vec_dot_x4", j0 + k, r, g, fx.yb_ggml[i], fx.scale_bq[i]);
                }
                j0 += 4;
            }
            let got = x4(cols, w, [fx.x_q; 4]);
            for g in got {
                c.ggml_one("vec_dot_x4 (x_q)", 0, r, g, fx.y_ggml[r], fx.scale_q[r]);
            }
        }
    }

    // The 4x4 micro-kernel on each group of four rows against four rows of xb_q.
    if let Some(k44) = t.vec_dot_4x4 {
        let wr = |r: usize| &fx.w[r * rb..(r + 1) * rb];
        let a = |j: usize| &fx.xb_q[j * arb..(j + 1) * arb];
        for r0 in (0..rows.saturating_sub(3)).step_by(4) {
            for j0 in (0..batch.saturating_sub(3)).step_by(4) {
                let got = k44(cols, [wr(r0), wr(r0 + 1), wr(r0 + 2), wr(r0 + 3)], [a(j0), a(j0 + 1), a(j0 + 2), a(j0 + 3)]);
                for (k, gr) in got.iter().enumerate() {
                    for (l, &g) in gr.iter().enumerate() {
                        let i = (j0 + l) * rows + r0 + k;
                        c.ggml_one("vec_dot_4x4", j0 + l, r0 + k, g, fx.yb_ggml[i], fx.scale_bq[i]);
                    }
                }
            }
        }
    }

    // The panel kernels on each group of 16 rows against xb (and x): packed panel, every
    // activation row in one call.
    if let (Some(pack), Some(dot)) = (t.pack_panel, t.panel_dot) {
        let mut panel = vec![0u8; cols / t.block_size * t.panel_block_bytes];
        for (xs, n, label, want, scale) in
            [(&fx.xb, batch, "panel_dot", &fx.yb_ggml, &fx.scale_bq), (&fx.x, 1, "panel_dot (x)", &fx.y_ggml, &fx.scale_q)]
        {
            let mut acts = QuantizedActs::new();
            acts.quantize(t.vec_dot_type, xs, cols);
            acts.prepare_block_sums();
            for r0 in (0..rows.saturating_sub(15)).step_by(16) {
                pack(&fx.w[r0 * rb..], rb, cols, &mut panel);
                let mut j0 = 0;
                while j0 < n {
                    let nt = (n - j0).min(8);
                    let got = dot(cols, &panel, &acts, j0, nt);
                    for (l, gt) in got.iter().take(nt).enumerate() {
                        for (k, &g) in gt.iter().enumerate() {
                            let i = (j0 + l) * rows + r0 + k;
                            c.ggml_one(label, j0 + l, r0 + k, g, want[i], scale[i]);
                        }
                    }
                    j0 += nt;
                }
            }
        }
    }

    // Mat-vec and mat-mat: plain, threaded, and in row ranges that compose.
    let mut y = vec![f32::NAN; rows];
    matvec(fx.w, fx.ty, rows, cols, &fx.x, &mut y);
    c.ggml("matvec", false, &y);

    let mut acts = QuantizedActs::new();
    let mut y = vec![f32::NAN; rows];
    matvec_par(pool, fx.w, fx.ty, rows, cols, &fx.x, &mut y, &mut acts);
    c.ggml("matvec_par", false, &y);

    let mut yb = vec![f32::NAN; batch * rows];
    matmul(fx.w, fx.ty, rows, cols, &fx.xb, &mut yb);
    c.ggml("matmul", true, &yb);
    c.exact("matmul", true, &yb);

    let mut yb = vec![f32::NAN; batch * rows];
    matmul_par(pool, fx.w, fx.ty, rows, cols, &fx.xb, &mut yb, &mut acts);
    c.ggml("matmul_par", true, &yb);

    let half = rows / 2;
    let mut yb = vec![f32::NAN; batch * rows];
    matmul_q(fx.w, fx.ty, rows, cols, &acts, 0..half, &mut yb);
    matmul_q(fx.w, fx.ty, rows, cols, &acts, half..rows, &mut yb);
    c.ggml("matmul_q halves", true, &yb);

    let mut y = vec![f32::NAN; rows];
    let (lo, hi) = y.split_at_mut(half);
    matvec_q(fx.w, fx.ty, cols, fx.x_q, 0..half, lo);
    matvec_q(fx.w, fx.ty, cols, fx.x_q, half..rows, hi);
    c.ggml("matvec_q halves", false, &y);

    let report = FixtureReport {
        ty: fx.ty,
        vec_dot_type: fx.vec_dot_type,
        rows,
        cols,
        batch,
        backend: t.vec_dot_backend,
        has_x4: t.vec_dot_x4.is_some(),
        fast_quantizer: has_fast_quantizer(vt),
        negative_zeros,
        max_rel_err: c.max_rel_err,
        dots_checked: c.dots_checked,
    };
    c.fails.into_result(&what, report)
}

// ------------------------------------------------------------------ random data

/// xorshift64*: tiny, deterministic.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in [-1, 1).
    fn f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    fn fill(&mut self, b: &mut [u8]) {
        for x in b {
            *x = self.next_u64() as u8;
        }
    }
}

fn put_f16(b: &mut [u8], off: usize, v: f32) {
    b[off..off + 2].copy_from_slice(&f32_to_f16(v).to_le_bytes());
}

/// One random, finite block of `ty`: random quant bytes, scale fields set to small values.
/// `ty` must have kernels.
fn random_block(ty: GgmlType, rng: &mut Rng) -> Vec<u8> {
    use GgmlType::*;
    let mut b = vec![0u8; ty.type_size() as usize];
    rng.fill(&mut b);
    let mut scale = || 0.01 + 0.02 * rng.f32().abs();
    match ty {
        F32 => b.copy_from_slice(&rng.f32().to_le_bytes()),
        F16 => b.copy_from_slice(&f32_to_f16(rng.f32()).to_le_bytes()),
        BF16 => b.copy_from_slice(&f32_to_bf16(rng.f32()).to_le_bytes()),
        Q4_0 | Q5_0 | Q8_0 | IQ4_NL | Q1_0 | Q2_0 | IQ2_XXS | IQ2_XS | IQ2_S | IQ3_XXS | IQ3_S | IQ1_S | IQ4_XS => {
            put_f16(&mut b, 0, scale())
        }
        Q4_1 | Q5_1 | Q4_K | Q5_K => {
            put_f16(&mut b, 0, scale());
            put_f16(&mut b, 2, scale());
        }
        Q2_K => {
            put_f16(&mut b, 80, scale());
            put_f16(&mut b, 82, scale());
        }
        Q3_K => put_f16(&mut b, 108, scale()),
        Q6_K => put_f16(&mut b, 208, scale()),
        TQ1_0 => put_f16(&mut b, 52, scale()),
        TQ2_0 => put_f16(&mut b, 64, scale()),
        IQ1_M => {
            // The f16 scale is spread over the high nibbles of the four scale words.
            let h = f32_to_f16(scale());
            for k in 0..4 {
                b[48 + 2 * k + 1] = (b[48 + 2 * k + 1] & 0x0f) | ((((h >> (4 * k)) & 0xf) as u8) << 4);
            }
        }
        MXFP4 => b[0] = 110 + (rng.next_u64() % 24) as u8,
        Q8_1 => {
            put_f16(&mut b, 0, scale());
            put_f16(&mut b, 2, scale());
        }
        Q8_K => {
            let d = scale();
            b[..4].copy_from_slice(&d.to_le_bytes());
        }
        // UE4M3 scale bytes: every pattern decodes to a finite value (0x7f reads as 0).
        NVFP4 => {}
        I8 | I16 | I32 | I64 | F64 => unreachable!("{ty} has no kernels"),
    }
    b
}

fn random_row(ty: GgmlType, n: usize, rng: &mut Rng) -> Vec<u8> {
    (0..n / ty.block_size() as usize).flat_map(|_| random_block(ty, rng)).collect()
}

/// Random activations converted by the scalar quantizer of `ty`.
fn random_acts(ty: GgmlType, n: usize, rng: &mut Rng) -> Vec<u8> {
    let x: Vec<f32> = (0..n).map(|_| rng.f32() * 3.0).collect();
    let mut q = vec![0u8; row_bytes(ty, n)];
    (traits(ty).unwrap().quantize_row_scalar.unwrap())(&x, &mut q);
    q
}

/// Comparisons of selected kernels with the scalar oracle.
struct RandomChecker {
    fails: Failures,
    max_rel_err: f64,
    dots_checked: usize,
}

impl RandomChecker {
    /// `fast` against `scalar` for weight row `w` and activation row `a`.
    #[allow(clippy::too_many_arguments)]
    fn dot(&mut self, t: &QuantTraits, what: &str, n: usize, w: &[u8], a: &[u8], fast: f32, scalar: f32) {
        let (wd, ad) = (dequant(t.ty, w, n), dequant(t.vec_dot_type, a, n));
        let scale = abs_dot(&wd, &ad);
        let tol = FAST_VS_SCALAR_TOL * scale + 1e-30;
        let diff = ((fast - scalar) as f64).abs();
        self.dots_checked += 1;
        if scale > 0.0 {
            self.max_rel_err = self.max_rel_err.max(diff / scale);
        }
        if !within(diff, tol) {
            self.fails.push(format!("{what} n={n}: fast {fast} scalar {scalar} (scale {scale:e})"));
        }
    }
}

/// Checks the selected kernels of `ty` against the scalar ones on random data from `seed`
/// (see the module docs): `vec_dot` (and the scalar `vec_dot` against the exact f64 product),
/// `vec_dot_x4`, mat-mat through [`QuantizedActs`] (x4 groups, tails, row ranges), the
/// selected quantizer byte for byte (activation types), and finite dequantization.
/// `Err` for a type without kernels.
pub fn check_fast_vs_scalar(ty: GgmlType, seed: u64) -> Result<RandomReport, String> {
    let t = kernels(ty)?;
    let mut rng = Rng::new(seed ^ ((ty.id() as u64) << 40));
    let mut c = RandomChecker { fails: Failures::new(), max_rel_err: 0.0, dots_checked: 0 };
    let backend = t.vec_dot_backend.name();

    // Single dot products; 256 is a multiple of every block size.
    for n in [256usize, 768, 4096] {
        for _ in 0..4 {
            let w = random_row(ty, n, &mut rng);
            let a = random_acts(t.vec_dot_type, n, &mut rng);
            let fast = (t.vec_dot)(n, &w, &a);
            let slow = (t.vec_dot_scalar)(n, &w, &a);
            c.dot(t, &format!("vec_dot ({backend})"), n, &w, &a, fast, slow);
            let (wd, ad) = (dequant(ty, &w, n), dequant(t.vec_dot_type, &a, n));
            let exact: f64 = wd.iter().zip(&ad).map(|(p, q)| *p as f64 * *q as f64).sum();
            let tol = FAST_VS_SCALAR_TOL * abs_dot(&wd, &ad) + 1e-30;
            if !within(((slow as f64) - exact).abs(), tol) {
                c.fails.push(format!("vec_dot_scalar n={n}: {slow}, exact {exact}"));
            }
        }
    }

    // The x4 micro-kernel against four scalar dots.
    if let Some(x4) = t.vec_dot_x4 {
        for n in [256usize, 4096] {
            let w = random_row(ty, n, &mut rng);
            let acts: Vec<Vec<u8>> = (0..4).map(|_| random_acts(t.vec_dot_type, n, &mut rng)).collect();
            let got = x4(n, &w, [&acts[0], &acts[1], &acts[2], &acts[3]]);
            for (k, a) in acts.iter().enumerate() {
                let want = (t.vec_dot_scalar)(n, &w, a);
                c.dot(t, &format!("vec_dot_x4 ({backend}) act {k}"), n, &w, a, got[k], want);
            }
        }
    }

    // The 4x4 micro-kernel against sixteen scalar dots.
    if let Some(k44) = t.vec_dot_4x4 {
        let n = 1024;
        let w: Vec<Vec<u8>> = (0..4).map(|_| random_row(ty, n, &mut rng)).collect();
        let acts: Vec<Vec<u8>> = (0..4).map(|_| random_acts(t.vec_dot_type, n, &mut rng)).collect();
        let got = k44(n, [&w[0], &w[1], &w[2], &w[3]], [&acts[0], &acts[1], &acts[2], &acts[3]]);
        for (r, wr) in w.iter().enumerate() {
            for (k, a) in acts.iter().enumerate() {
                let want = (t.vec_dot_scalar)(n, wr, a);
                c.dot(t, &format!("vec_dot_4x4 ({backend}) row {r} act {k}"), n, wr, a, got[r][k], want);
            }
        }
    }

    // Mat-mat through the selected quantizer: token tiles, 4x4 and x4 groups and their tails,
    // panels (16 rows, batches from 10 up) and row ranges; each output against the scalar dot
    // on the same converted activations.
    let (rows, cols) = (39usize, 512usize);
    let wrb = row_bytes(ty, cols);
    let w: Vec<u8> = (0..rows).flat_map(|_| random_row(ty, cols, &mut rng)).collect();
    for batch in [1usize, 4, 5, 11, 16, 19, 40] {
        let x: Vec<f32> = (0..batch * cols).map(|_| rng.f32() * 3.0).collect();
        let mut acts = QuantizedActs::new();
        acts.quantize_for(ty, &x, cols);
        let mut out = vec![f32::NAN; batch * rows];
        matmul_q(&w, ty, rows, cols, &acts, 0..3, &mut out);
        matmul_q(&w, ty, rows, cols, &acts, 3..rows, &mut out);
        for j in 0..batch {
            for r in 0..rows {
                let wr = &w[r * wrb..(r + 1) * wrb];
                let want = (t.vec_dot_scalar)(cols, wr, acts.row(j));
                c.dot(
                    t,
                    &format!("matmul_q batch {batch} act {j} row {r}"),
                    cols,
                    wr,
                    acts.row(j),
                    out[j * rows + r],
                    want,
                );
            }
        }
    }

    // Activation quantizers: selected against scalar, byte for byte.
    let mut quantized_rows_checked = 0;
    if let (Some(fast), Some(scalar)) = (t.quantize_row, t.quantize_row_scalar) {
        for n in [256usize, 1024, 4096] {
            for case in 0..6 {
                let mut x: Vec<f32> = (0..n).map(|_| rng.f32() * 10f32.powi(case - 3)).collect();
                if case == 0 {
                    // Exact ties for the rounding rules: multiples of amax/254.
                    for (i, v) in x.iter_mut().enumerate() {
                        *v = ((i % 255) as f32 - 127.0) * 0.5;
                    }
                }
                if case == 1 {
                    x[..256].fill(0.0); // all-zero blocks
                }
                let mut a = vec![0u8; row_bytes(ty, n)];
                let mut b = vec![0u8; row_bytes(ty, n)];
                fast(&x, &mut a);
                scalar(&x, &mut b);
                quantized_rows_checked += 1;
                if a != b {
                    c.fails.push(format!("quantize_row n={n} case {case}: selected quantizer differs from scalar"));
                }
            }
        }
    }

    // Dequantization of random blocks stays finite.
    let n = t.block_size * 8;
    let w = random_row(ty, n, &mut rng);
    if let Some(v) = dequant(ty, &w, n).into_iter().find(|v| !v.is_finite()) {
        c.fails.push(format!("dequantize: non-finite {v} from a random block"));
    }

    let report = RandomReport {
        ty,
        backend: t.vec_dot_backend,
        has_x4: t.vec_dot_x4.is_some(),
        fast_quantizer: has_fast_quantizer(t),
        dots_checked: c.dots_checked,
        quantized_rows_checked,
        max_rel_err: c.max_rel_err,
    };
    c.fails.into_result(&format!("{ty} ({backend}) fast vs scalar, seed {seed}"), report)
}
