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
//! rest of the tile. Where the type has a register-blocked `vec_dot_4x4` kernel, four weight
//! rows meet four tokens at a time; otherwise, with `vec_dot_x4`, each weight block is decoded
//! once per four tokens. Types with panel kernels (`pack_panel`/`panel_dot`) take those for
//! batches of at least `PANEL_MIN_BATCH`: 16 rows are decoded and interleaved once per row
//! block, then every token runs through them. The `_q` functions take a row range so a thread pool can split rows.

use super::acts::{weight_traits, QuantizedActs, PANEL_MIN_BATCH, PANEL_ROWS, PANEL_TOKENS};
use super::traits::{PackPanelFn, PanelDotFn};
use super::{row_bytes, QuantTraits};
use crate::parallel::ThreadPool;
use crate::GgmlType;
use std::ops::Range;

/// Tokens per tile in mat-mat.
pub const TOKEN_TILE: usize = 8;
/// Target bytes of weights per row block in mat-mat (about half an L2).
const ROW_BLOCK_BYTES: usize = 256 * 1024;


fn check(t: &QuantTraits, w: &[u8], rows: usize, cols: usize, acts: &QuantizedActs) -> usize {
    assert_eq!(acts.ty, t.vec_dot_type, "activations must be {} for {} weights", t.vec_dot_type, t.ty);
    assert_eq!(acts.cols, cols, "activation width");
    let wrb = row_bytes(t.ty, cols);
    assert!(w.len() >= rows * wrb, "weights: need {} bytes, got {}", rows * wrb, w.len());
    wrb
}

/// Shared output pointer for tasks that write disjoint rows.
#[derive(Clone, Copy)]
pub struct OutPtr(*mut f32);
// SAFETY: only used to write disjoint elements from different tasks.
unsafe impl Send for OutPtr {}
unsafe impl Sync for OutPtr {}

impl OutPtr {
    pub fn new(out: &mut [f32]) -> OutPtr {
        OutPtr(out.as_mut_ptr())
    }
    /// The element `i` places on (the caller keeps within the slice it was made from).
    pub fn at(self, i: usize) -> *mut f32 {
        self.0.wrapping_add(i)
    }
}

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
    let mut range = range;
    if let (Some(pack), Some(dot)) = (t.pack_panel, t.panel_dot) {
        if acts.batch >= PANEL_MIN_BATCH && acts.sums_ready {
            let end = range.start + range.len() / PANEL_ROWS * PANEL_ROWS;
            // SAFETY: forwarded from the caller.
            unsafe { matmul_panels_raw(pack, dot, t.panel_block_bytes * cols / t.block_size, w, wrb, rows, cols, acts, range.start..end, out) };
            range.start = end;
        }
    }
    let row_block = (ROW_BLOCK_BYTES / wrb.max(1)).max(4);
    let mut r0 = range.start;
    while r0 < range.end {
        let r1 = (r0 + row_block).min(range.end);
        let mut j0 = 0;
        while j0 < acts.batch {
            let j1 = (j0 + TOKEN_TILE).min(acts.batch);
            let mut r = r0;
            // (A mat-vec skips it: the per-row loop below prefetches its weights.)
            if let (Some(k44), true) = (t.vec_dot_4x4, j1 - j0 >= 4) {
                while r + 4 <= r1 {
                    let wr = |k: usize| &w[(r + k) * wrb..(r + k + 1) * wrb];
                    let ws = [wr(0), wr(1), wr(2), wr(3)];
                    let mut j = j0;
                    while j + 4 <= j1 {
                        let y = k44(cols, ws, [acts.row(j), acts.row(j + 1), acts.row(j + 2), acts.row(j + 3)]);
                        for (k, yr) in y.iter().enumerate() {
                            for (l, &v) in yr.iter().enumerate() {
                                // SAFETY: j + l < batch and r + k < rows, and this task owns row r + k.
                                unsafe { *out.0.add((j + l) * rows + r + k) = v };
                            }
                        }
                        j += 4;
                    }
                    for (k, wk) in ws.into_iter().enumerate() {
                        // SAFETY: as above.
                        unsafe { row_tile(t, wk, cols, acts, j..j1, out.0.add(r + k), rows) };
                    }
                    r += 4;
                }
            }
            for r in r..r1 {
                if acts.batch == 1 {
                    prefetch_ahead(w, r * wrb + PREFETCH_BYTES, wrb);
                }
                // SAFETY: as above.
                unsafe { row_tile(t, &w[r * wrb..(r + 1) * wrb], cols, acts, j0..j1, out.0.add(r), rows) };
            }
            j0 = j1;
        }
        r0 = r1;
    }
}

/// How far ahead of the row in hand a mat-vec asks the cache for weight bytes.
const PREFETCH_BYTES: usize = 8192;

/// Hints `len` bytes of `w` from `at` into the cache (those within `w`): a mat-vec streams
/// its weights once, and asking ahead keeps more of the memory's latency in flight than the
/// hardware prefetcher does (Q4_K mat-vec on 2 threads: ~12 -> ~16 GB/s here).
#[inline(always)]
fn prefetch_ahead(w: &[u8], at: usize, len: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        let end = (at + len).min(w.len());
        let mut off = at;
        while off < end {
            // SAFETY: a hint on an in-bounds address.
            unsafe { std::arch::x86_64::_mm_prefetch(w.as_ptr().add(off).cast(), std::arch::x86_64::_MM_HINT_T0) };
            off += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (w, at, len);
}

thread_local! {
    /// Each thread's packed panels for the row block in hand (grown once, then reused).
    static PANELS: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The panel path of [`matmul_rows_raw`] for `range` (a multiple of `PANEL_ROWS` rows): packs
/// an L2-sized block of 16-row panels, then runs every token through it, 8 at a time.
///
/// # Safety
/// As [`matmul_rows_raw`].
#[allow(clippy::too_many_arguments)]
unsafe fn matmul_panels_raw(
    pack: PackPanelFn,
    dot: PanelDotFn,
    panel_bytes: usize,
    w: &[u8],
    wrb: usize,
    rows: usize,
    cols: usize,
    acts: &QuantizedActs,
    range: Range<usize>,
    out: OutPtr,
) {
    let panels_per_block = (ROW_BLOCK_BYTES / panel_bytes).max(1);
    PANELS.with_borrow_mut(|buf| {
        let mut r0 = range.start;
        while r0 < range.end {
            let n_panels = ((range.end - r0) / PANEL_ROWS).min(panels_per_block);
            if buf.len() < n_panels * panel_bytes {
                buf.resize(n_panels * panel_bytes, 0);
            }
            for (k, panel) in buf.chunks_exact_mut(panel_bytes).take(n_panels).enumerate() {
                pack(&w[(r0 + k * PANEL_ROWS) * wrb..], wrb, cols, panel);
            }
            let mut j = 0;
            while j < acts.batch {
                let nt = (acts.batch - j).min(PANEL_TOKENS);
                for (k, panel) in buf.chunks_exact(panel_bytes).take(n_panels).enumerate() {
                    let y = dot(cols, panel, acts, j, nt);
                    let r = r0 + k * PANEL_ROWS;
                    for (t, yt) in y.iter().take(nt).enumerate() {
                        // SAFETY: rows r..r + 16 are in this task's range and j + t < batch.
                        unsafe { std::ptr::copy_nonoverlapping(yt.as_ptr(), out.0.add((j + t) * rows + r), PANEL_ROWS) };
                    }
                }
                j += nt;
            }
            r0 += n_panels * PANEL_ROWS;
        }
    });
}

/// One weight row against activation rows `tokens`: `out[j * stride] = w · act[j]`, four
/// tokens at a time where the type has a `vec_dot_x4`.
///
/// # Safety
/// `out` must be valid for writes at `j * stride` for every `j` in `tokens`.
unsafe fn row_tile(t: &QuantTraits, wr: &[u8], cols: usize, acts: &QuantizedActs, tokens: Range<usize>, out: *mut f32, stride: usize) {
    let mut j = tokens.start;
    if let Some(x4) = t.vec_dot_x4 {
        while j + 4 <= tokens.end {
            let y = x4(cols, wr, [acts.row(j), acts.row(j + 1), acts.row(j + 2), acts.row(j + 3)]);
            for (k, v) in y.into_iter().enumerate() {
                // SAFETY: the caller's contract.
                unsafe { *out.add((j + k) * stride) = v };
            }
            j += 4;
        }
    }
    for j in j..tokens.end {
        // SAFETY: the caller's contract.
        unsafe { *out.add(j * stride) = (t.vec_dot)(cols, wr, acts.row(j)) };
    }
}

/// Mat-mat over rows `range` only, on pre-converted activations: writes `out[j * rows + r]`
/// for every activation row `j` and `r` in `range`, leaving other elements untouched.
/// Convert with [`QuantizedActs::quantize_for`] so that large batches can take the panel
/// kernels (with plain `quantize` they take the row kernels).
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
    acts.quantize_for(ty, x, cols);
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
    rows.div_ceil(4 * n_threads).next_multiple_of(PANEL_ROWS).max(1)
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
    acts.quantize_for(ty, x, cols);
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

/// One mat-vec of [`matvecs_par`]: `out[r] = W[r] · act` for the `rows` rows of `w` (type `ty`,
/// `cols` wide), `act` one activation row already in the type's `vec_dot_type`.
pub struct Matvec<'a> {
    pub w: &'a [u8],
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    pub act: &'a [u8],
    pub out: *mut f32,
}

/// Runs the mat-vecs `job(0..n)` in one parallel region: every job's weight rows cut into
/// chunks, and all chunks of all jobs spread over the pool, so that several small products (a
/// mixture-of-experts layer's chosen experts, attention's per-head matrices) wake the pool
/// once instead of once each, and keep both threads busy. Each output is the same
/// `vec_dot` a single mat-vec computes.
///
/// # Safety
/// Every job's `out` must be valid for `rows` writes, disjoint from every other job's, and
/// untouched by anyone else during the call.
pub unsafe fn matvecs_par<'a>(pool: &ThreadPool, n: usize, job: impl Fn(usize) -> Matvec<'a> + Sync) {
    let (mut rows_all, mut macs) = (0, 0);
    for i in 0..n {
        let j = job(i);
        rows_all += j.rows;
        macs += j.rows * j.cols;
    }
    let n_threads = if macs < PAR_MIN_MACS { 1 } else { pool.n_threads() };
    let chunk = rows_all.div_ceil(4 * n_threads).next_multiple_of(16).max(16);
    let n_tasks: usize = (0..n).map(|i| job(i).rows.div_ceil(chunk)).sum();
    let run = |task: usize| {
        // The job and chunk of this task (jobs are few: a scan is cheap).
        let mut left = task;
        for i in 0..n {
            let j = job(i);
            let c = j.rows.div_ceil(chunk);
            if left >= c {
                left -= c;
                continue;
            }
            let t = weight_traits(j.ty);
            let wrb = row_bytes(j.ty, j.cols);
            assert!(j.w.len() >= j.rows * wrb && j.act.len() >= row_bytes(t.vec_dot_type, j.cols));
            for r in left * chunk..((left + 1) * chunk).min(j.rows) {
                prefetch_ahead(j.w, r * wrb + PREFETCH_BYTES, wrb);
                // SAFETY: the caller's contract; this task owns rows of this chunk only.
                unsafe { *j.out.add(r) = (t.vec_dot)(j.cols, &j.w[r * wrb..(r + 1) * wrb], j.act) };
            }
            return;
        }
    };
    if n_threads == 1 {
        (0..n_tasks).for_each(run);
    } else {
        pool.run(n_tasks, run);
    }
}

/// Multiply-accumulates below which [`matvecs_par`] stays on the calling thread.
const PAR_MIN_MACS: usize = 1 << 18;

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
