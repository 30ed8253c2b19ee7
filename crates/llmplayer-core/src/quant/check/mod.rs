//! Self-checks of the quantization kernels: the one implementation run by the native tests
//! and by the WebAssembly build.
//!
//! * [`check_fixture`]: one golden `quant-<type>.gguf` file (`shared/fixtures/quants`, see its
//!   README.md) against the kernels of this build. Every expectation comes from the file:
//!   dequantization bit-exact against `w_deq` on every row (u32 patterns, so -0.0 counts);
//!   activation conversion byte-exact against `x_q` / `xb_q` (selected and scalar
//!   quantizers); `vec_dot`, `vec_dot_scalar`, `vec_dot_x4`, `vec_dot_4x4`, the panel kernels
//!   (16 rows packed, every activation row in one call), mat-vec and mat-mat (plain,
//!   threaded, row ranges, through [`QuantizedActs`](crate::quant::QuantizedActs)) within
//!   `1e-5 * sum_c |w_deq[r][c] * deq(x_q)[c]|` of `y_ggml` / `yb_ggml`, plus the README's
//!   coarse bound against `y_exact` / `yb_exact`.
//! * [`check_fast_vs_scalar`]: the selected kernels of one type (AVX2 or simd128 `vec_dot`,
//!   `vec_dot_x4`, `vec_dot_4x4`, SIMD activation quantizers, the mat-mat tiling including
//!   panels) against the scalar oracle on random data: random weight bytes with sane scale
//!   fields, so every quant bit pattern is exercised.
//!
//! `fixture.rs` and `random.rs` hold the two; `tests/quants.rs` and the crate's unit tests
//! call them natively; the `llmplayer-wasm-check` module exports them to Node
//! (`test/quant-wasm.test.ts`), so both
//! builds run the same checks. Both functions report problems as `Err` (every failure found,
//! the first few in full) rather than panicking. Nothing here is used at inference time:
//! builds that do not call it (the `llmplayer-wasm` module, the addon) drop it at link time.

mod exact;
mod exact_k;
mod fixture;
mod random;

pub use exact::ggml_dot;
pub use fixture::{check_fixture, check_fixture_with_pool};
pub use random::check_fast_vs_scalar;

use super::{traits, Isa, QuantTraits};
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
    pub backend: Isa,
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
    pub backend: Isa,
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
