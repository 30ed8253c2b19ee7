//! Matrix × vector (decode) and matrix × matrix (prefill) on quantized weights.
//!
//! `W` is `rows` rows of `cols` elements of type `ty` (ggml layout: row `r` at byte
//! `r * row_bytes(ty, cols)`); `x` is `batch` rows of `cols` f32; `out[j * rows + r] = W[r]·x[j]`
//! (ggml's `mul_mat` output layout). The activations are converted once to the weight type's
//! `vec_dot_type` ([`QuantizedActs`]) and reused for every weight row.
//!
//! Mat-mat walks the weights in blocks of rows small enough to stay in L2; within a block it
//! takes tokens in tiles of [`TOKEN_TILE`], and for each weight row runs the tile's dot
//! products back to back, so each weight row is fetched from memory once and from L1 for the
//! rest of the tile. Where the type has a register-blocked `vec_dot_x4` kernel, each weight
//! block is also decoded once per four tokens. The `_q` functions take a row range so a thread pool can split rows.

use super::{row_bytes, traits, QuantTraits};
use crate::parallel::ThreadPool;
use crate::GgmlType;
use std::ops::Range;

/// Tokens per tile in mat-mat.
pub const TOKEN_TILE: usize = 8;
/// Target bytes of weights per row block in mat-mat (about half an L2).
const ROW_BLOCK_BYTES: usize = 256 * 1024;

/// Activations converted to a `vec_dot_type`: `batch` rows of `row_bytes` bytes.
/// Reusable: `quantize` only grows the buffer.
#[derive(Clone, Debug)]
pub struct QuantizedActs {
    ty: GgmlType,
    cols: usize,
    batch: usize,
    row_bytes: usize,
    data: Vec<u8>,
}

impl Default for QuantizedActs {
    fn default() -> Self {
        QuantizedActs { ty: GgmlType::F32, cols: 0, batch: 0, row_bytes: 0, data: Vec::new() }
    }
}

impl QuantizedActs {
    pub fn new() -> Self {
        Self::default()
    }

    /// Converts `x` (`batch` rows of `cols`) to the activation type `ty`.
    ///
    /// # Panics
    /// If `ty` is not an activation type or `x.len()` is not a multiple of `cols`.
    pub fn quantize(&mut self, ty: GgmlType, x: &[f32], cols: usize) {
        assert!(cols > 0 && x.len() % cols == 0, "x is not a whole number of rows of {cols}");
        let q = traits(ty).and_then(|t| t.quantize_row).unwrap_or_else(|| panic!("{ty} is not an activation type"));
        let rb = row_bytes(ty, cols);
        let batch = x.len() / cols;
        self.data.resize(rb * batch, 0);
        for (xr, out) in x.chunks_exact(cols).zip(self.data.chunks_exact_mut(rb)) {
            q(xr, out);
        }
        (self.ty, self.cols, self.batch, self.row_bytes) = (ty, cols, batch, rb);
    }

    pub fn ty(&self) -> GgmlType {
        self.ty
    }
    pub fn cols(&self) -> usize {
        self.cols
    }
    pub fn batch(&self) -> usize {
        self.batch
    }
    pub fn row_bytes(&self) -> usize {
        self.row_bytes
    }
    /// The converted bytes of activation row `j`.
    pub fn row(&self, j: usize) -> &[u8] {
        &self.data[j * self.row_bytes..(j + 1) * self.row_bytes]
    }
}

fn weight_traits(ty: GgmlType) -> &'static QuantTraits {
    traits(ty).unwrap_or_else(|| panic!("no kernels for weight type {ty}"))
}

fn check(t: &QuantTraits, w: &[u8], rows: usize, cols: usize, acts: &QuantizedActs) -> usize {
    assert_eq!(acts.ty, t.vec_dot_type, "activations must be {} for {} weights", t.vec_dot_type, t.ty);
    assert_eq!(acts.cols, cols, "activation width");
    let wrb = row_bytes(t.ty, cols);
    assert!(w.len() >= rows * wrb, "weights: need {} bytes, got {}", rows * wrb, w.len());
    wrb
}

/// Shared output pointer for tasks that write disjoint rows.
#[derive(Clone, Copy)]
struct OutPtr(*mut f32);
// SAFETY: only used to write disjoint elements from different tasks.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

/// Computes rows `range` of `out` (`batch × rows`, see the module docs).
///
/// # Safety
/// `out` must be valid for `acts.batch * rows` writes and no other thread may access the
/// elements `out[j * rows + r]`, `r` in `range`, during the call.
#[allow(clippy::too_many_arguments)]
unsafe fn matmul_rows_raw(
    t: &QuantTraits,
    w: &[u8],
    wrb: usize,
    rows: usize,
    cols: usize,
    acts: &QuantizedActs,
    range: Range<usize>,
    out: OutPtr,
) {
    let dot = t.vec_dot;
    let row_block = (ROW_BLOCK_BYTES / wrb.max(1)).max(1);
    let mut r0 = range.start;
    while r0 < range.end {
        let r1 = (r0 + row_block).min(range.end);
        let mut j0 = 0;
        while j0 < acts.batch {
            let j1 = (j0 + TOKEN_TILE).min(acts.batch);
            for r in r0..r1 {
                let wr = &w[r * wrb..(r + 1) * wrb];
                let mut j = j0;
                if let Some(x4) = t.vec_dot_x4 {
                    while j + 4 <= j1 {
                        let y = x4(cols, wr, [acts.row(j), acts.row(j + 1), acts.row(j + 2), acts.row(j + 3)]);
                        for (k, v) in y.into_iter().enumerate() {
                            // SAFETY: j + k < batch and r < rows, and this task owns row r.
                            unsafe { *out.0.add((j + k) * rows + r) = v };
                        }
                        j += 4;
                    }
                }
                for j in j..j1 {
                    // SAFETY: as above.
                    unsafe { *out.0.add(j * rows + r) = dot(cols, wr, acts.row(j)) };
                }
            }
            j0 = j1;
        }
        r0 = r1;
    }
}

/// Mat-mat over rows `range` only, on pre-converted activations: writes `out[j * rows + r]`
/// for every activation row `j` and `r` in `range`, leaving other elements untouched.
pub fn matmul_q(
    w: &[u8],
    ty: GgmlType,
    rows: usize,
    cols: usize,
    acts: &QuantizedActs,
    range: Range<usize>,
    out: &mut [f32],
) {
    let t = weight_traits(ty);
    let wrb = check(t, w, rows, cols, acts);
    assert!(range.end <= rows, "row range out of bounds");
    assert!(out.len() >= acts.batch * rows, "out: need {} floats", acts.batch * rows);
    // SAFETY: `out` is exclusively borrowed and large enough.
    unsafe { matmul_rows_raw(t, w, wrb, rows, cols, acts, range, OutPtr(out.as_mut_ptr())) }
}

/// Mat-vec over rows `range` only: `out[i] = W[range.start + i] · act`, where `act` is one
/// activation row already in the weight type's `vec_dot_type`. `out.len()` must equal
/// `range.len()`, so callers can hand disjoint `chunks_mut` of the output to threads.
pub fn matvec_q(w: &[u8], ty: GgmlType, cols: usize, act: &[u8], range: Range<usize>, out: &mut [f32]) {
    let t = weight_traits(ty);
    let wrb = row_bytes(ty, cols);
    assert_eq!(out.len(), range.len(), "out must cover the row range");
    assert!(w.len() >= range.end * wrb, "weights too short for the row range");
    assert!(act.len() >= row_bytes(t.vec_dot_type, cols), "activation row too short");
    let dot = t.vec_dot;
    for (o, r) in out.iter_mut().zip(range) {
        *o = dot(cols, &w[r * wrb..(r + 1) * wrb], act);
    }
}

/// Single-threaded `out = W · x` for a batch of activations (`x.len() = batch * cols`,
/// `out.len() >= batch * rows`).
pub fn matmul(w: &[u8], ty: GgmlType, rows: usize, cols: usize, x: &[f32], out: &mut [f32]) {
    let mut acts = QuantizedActs::new();
    acts.quantize(weight_traits(ty).vec_dot_type, x, cols);
    matmul_q(w, ty, rows, cols, &acts, 0..rows, out);
}

/// Single-threaded `out = W · x` for one activation vector.
pub fn matvec(w: &[u8], ty: GgmlType, rows: usize, cols: usize, x: &[f32], out: &mut [f32]) {
    assert_eq!(x.len(), cols, "x must have cols elements");
    matmul(w, ty, rows, cols, x, out)
}

/// Row chunks for `n_threads`: a few per thread so uneven progress balances out.
fn row_chunks(rows: usize, n_threads: usize) -> usize {
    if n_threads <= 1 {
        return rows.max(1);
    }
    rows.div_ceil(4 * n_threads).next_multiple_of(4).max(1)
}

/// `out = W · x` on a thread pool, splitting weight rows between threads. `acts` is scratch
/// for the converted activations (reuse it across calls to avoid allocation).
#[allow(clippy::too_many_arguments)]
pub fn matmul_par(
    pool: &ThreadPool,
    w: &[u8],
    ty: GgmlType,
    rows: usize,
    cols: usize,
    x: &[f32],
    out: &mut [f32],
    acts: &mut QuantizedActs,
) {
    let t = weight_traits(ty);
    acts.quantize(t.vec_dot_type, x, cols);
    let wrb = check(t, w, rows, cols, acts);
    assert!(out.len() >= acts.batch * rows, "out: need {} floats", acts.batch * rows);
    let chunk = row_chunks(rows, pool.n_threads());
    let acts = &*acts;
    let out = OutPtr(out.as_mut_ptr());
    pool.run(rows.div_ceil(chunk), |i| {
        let range = i * chunk..((i + 1) * chunk).min(rows);
        // SAFETY: tasks own disjoint row ranges; `out` outlives `run`.
        unsafe { matmul_rows_raw(t, w, wrb, rows, cols, acts, range, out) }
    });
}

/// `out = W · x` for one activation vector on a thread pool.
#[allow(clippy::too_many_arguments)]
pub fn matvec_par(
    pool: &ThreadPool,
    w: &[u8],
    ty: GgmlType,
    rows: usize,
    cols: usize,
    x: &[f32],
    out: &mut [f32],
    acts: &mut QuantizedActs,
) {
    assert_eq!(x.len(), cols, "x must have cols elements");
    matmul_par(pool, w, ty, rows, cols, x, out, acts)
}
