//! [`check_fixture`]: one golden `quant-<type>.gguf` file against the kernels of this build
//! (see the module docs of `check`).

use crate::gguf::GgufFile;
use crate::parallel::ThreadPool;
use crate::quant::{matmul, matmul_par, matmul_q, matvec, matvec_par, matvec_q, row_bytes, QuantizedActs};
use crate::GgmlType;
use super::exact::{bitwise_mismatch, ggml_dot, held_bitwise, mat_mat_batched, Path};
use super::{abs_dot, dequant, f32s, has_fast_quantizer, kernels, within, Failures, FixtureReport, GGML_DOT_TOL};
use crate::quant::QuantTraits;

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

    check_bitwise(&mut c, t, pool);

    let report = FixtureReport {
        ty: fx.ty,
        vec_dot_type: fx.vec_dot_type,
        rows,
        cols,
        batch,
        backend: t.vec_dot_isa,
        has_x4: t.vec_dot_x4.is_some(),
        fast_quantizer: has_fast_quantizer(vt),
        negative_zeros,
        max_rel_err: c.max_rel_err,
        dots_checked: c.dots_checked,
    };
    c.fails.into_result(&what, report)
}

/// [`ggml_dot`] (`exact.rs`) against ggml's outputs bit for bit, on every row: the reference
/// that the selected kernels are held to; then, bit for bit, those of this build's kernels
/// that `held_bitwise` lists (`vec_dot` and mat-vec, `vec_dot_x4`, mat-mat, threaded too).
fn check_bitwise(c: &mut FixtureChecker, t: &QuantTraits, pool: &ThreadPool) {
    let fx = c.fx;
    let (rows, cols, batch) = (fx.rows, fx.cols, fx.batch);
    let (rb, arb) = (row_bytes(fx.ty, cols), row_bytes(fx.vec_dot_type, cols));
    let w = |r: usize| &fx.w[r * rb..(r + 1) * rb];
    let xb = |j: usize| &fx.xb_q[j * arb..(j + 1) * arb];
    if ggml_dot(fx.ty, cols, w(0), fx.x_q, false).is_none() {
        return;
    }
    for r in 0..rows {
        for j in 0..=batch {
            let (a, batched, want) = if j == 0 { (fx.x_q, false, fx.y_ggml[r]) } else { (xb(j - 1), true, fx.yb_ggml[(j - 1) * rows + r]) };
            let got = ggml_dot(fx.ty, cols, w(r), a, batched).unwrap();
            if got.to_bits() != want.to_bits() {
                c.fails.push(format!("ggml_dot (batched {batched}) act {j} row {r}: {got:e}, ggml {want:e}"));
            }
        }
    }
    let mut check = |path: Path, what: &str, r: usize, a: &[u8], batched: bool, got: f32| {
        if held_bitwise(t, path) {
            c.dots_checked += 1;
            if let Some(m) = bitwise_mismatch(fx.ty, cols, w(r), a, batched, got) {
                c.fails.push(format!("{what} row {r} (bit for bit): {m}"));
            }
        }
    };
    for r in 0..rows {
        check(Path::VecDot, "vec_dot x_q", r, fx.x_q, false, (t.vec_dot)(cols, w(r), fx.x_q));
        for j in 0..batch {
            check(Path::VecDot, &format!("vec_dot xb_q[{j}]"), r, xb(j), false, (t.vec_dot)(cols, w(r), xb(j)));
        }
        if let Some(x4) = t.vec_dot_x4 {
            for j0 in (0..batch.saturating_sub(3)).step_by(4) {
                let got = x4(cols, w(r), [xb(j0), xb(j0 + 1), xb(j0 + 2), xb(j0 + 3)]);
                for (k, g) in got.into_iter().enumerate() {
                    check(Path::X4, &format!("vec_dot_x4 xb_q[{}]", j0 + k), r, xb(j0 + k), true, g);
                }
            }
        }
    }
    let mut y = vec![f32::NAN; rows];
    matvec(fx.w, fx.ty, rows, cols, &fx.x, &mut y);
    for (r, &g) in y.iter().enumerate() {
        check(Path::VecDot, "matvec", r, fx.x_q, false, g);
    }
    if !held_bitwise(t, Path::MatMul) {
        return;
    }
    let mut acts = QuantizedActs::new();
    for threaded in [false, true] {
        let mut yb = vec![f32::NAN; batch * rows];
        if threaded {
            matmul_par(pool, fx.w, fx.ty, rows, cols, &fx.xb, &mut yb, &mut acts);
        } else {
            matmul(fx.w, fx.ty, rows, cols, &fx.xb, &mut yb);
        }
        for (i, &g) in yb.iter().enumerate() {
            let (j, r) = (i / rows, i % rows);
            check(Path::MatMul, &format!("matmul (threaded {threaded}) act {j}"), r, xb(j), mat_mat_batched(fx.ty, j, batch), g);
        }
    }
}
