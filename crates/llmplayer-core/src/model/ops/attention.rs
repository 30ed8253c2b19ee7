//! Causal multi-head attention with grouped KV heads, as llama.cpp's non-flash path computes
//! it: scores = (q·k) * scale, softmax (max-subtracted, sum in f64, ggml_soft_max_f32),
//! output = probabilities · V. Query head h reads KV head h / (n_head / n_head_kv).
//! Every (head, token) pair is independent; the pairs are spread over the thread pool, each
//! task with its own slot of scratch ([`AttnScratch`]).
//!
//! By cache type ([`KvView`]):
//! * f32: V stored transposed (dimension-major, ggml's `v_trans`), so both products are rows
//!   of contiguous dot products, in the order llama.cpp's AVX2 build sums them
//!   ([`f32dot`]: `ggml_vec_dot_f32` for q·k and one token's p·V, tinyBLAS for a batch's p·V);
//!   the softmax's exp is ggml's vector one (`expf`). With `flash` set, llama.cpp's flash
//!   attention instead (`flash.rs`; the session then stores f16-rounded values).
//! * f16: llama.cpp's `mul_mat(k, q)` with an F16 `k` converts q to f16 first (F16's
//!   `vec_dot_type`) and runs `ggml_vec_dot_f16` (f16 products summed in f32); likewise
//!   `mul_mat(v_trans, kq)` rounds the probabilities to f16. Same here, with the F16 row of the
//!   kernel table.
//! * q8_0: K as llama.cpp's `mul_mat` takes a Q8_0 K (q quantized to Q8_0 per head,
//!   `vec_dot_q8_0_q8_0`). llama.cpp accepts a quantized V only with flash attention, whose CPU
//!   kernel (`ggml_compute_forward_flash_attn_ext_f16`) dequantizes each V row to f32 and
//!   accumulates it weighted by exp(s - max) (online softmax), dividing by the sum at the end.
//!   Here V rows are not transposed either (a Q8_0 block is 32 values of one position), the
//!   softmax is the usual two-pass one, and each dequantized row is accumulated in f32
//!   weighted by its normalized probability: the same sum, up to rounding.

use super::expf::Rounding;
use super::f32dot::{self, Order};
use super::flash;
use super::grouped;
use super::latent;
use crate::model::kv::KvType;
use crate::parallel::ThreadPool;
use crate::quant::float::f16_to_f32;
use crate::quant::{as_blocks, row_bytes, traits, BlockQ8_0, QuantizeRowFn, VecDotFn};
use crate::GgmlType;

/// Multiply-accumulates below which attention stays on the calling thread.
const PAR_MIN_MACS: usize = 1 << 18;
/// Tokens from which a batch over an f32 cache runs grouped (`grouped.rs`); fewer keep one
/// task per (token, head) pair, the parallelism a decode step needs.
const GROUPED_MIN_TOKENS: usize = 16;

/// Head layout of one layer.
#[derive(Clone, Copy, Debug)]
pub struct AttnDims<'a> {
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim_k: usize,
    pub head_dim_v: usize,
    /// Multiplies q·k before the softmax.
    pub scale: f32,
    /// Round as llama.cpp's flash attention (see `ops::flash`).
    pub flash: bool,
    /// Which llama.cpp build's vector exp and sums the softmax reproduces.
    pub rounding: Rounding,
    /// Sliding window: a query at position p sees keys p - window < p0 <= p (llama.cpp's
    /// standard SWA mask).
    pub window: Option<usize>,
    /// Chunked attention (llama4): a query at position p sees keys from p rounded down to a
    /// multiple of the chunk (llama.cpp's chunked SWA mask). Positions are the cache's rows,
    /// so a chunked layer's cache starts at position 0.
    pub chunk: Option<usize>,
    /// Logit soft-capping (gemma2): scores become `tanh(s / cap) * cap` before the softmax.
    pub softcap: Option<f32>,
    /// (n_head,) learned attention sinks (gpt-oss): one more logit per head in the softmax's
    /// denominator, with no value.
    pub sinks: Option<&'a [f32]>,
}

impl AttnDims<'_> {
    /// The first key a query over `n_kv` keys (the query at n_kv - 1) sees: 0 unless a window
    /// or a chunk hides the older ones.
    #[inline]
    pub(super) fn first_visible(&self, n_kv: usize) -> usize {
        let w = self.window.map_or(0, |w| n_kv.saturating_sub(w));
        let c = self.chunk.map_or(0, |c| n_kv.saturating_sub(1) / c * c);
        w.max(c)
    }

    /// The first key a query over `n_kv` keys sees, and where the products with V may start:
    /// that key rounded down to 32, so the skipped terms are the masked keys' exact zeros and
    /// every later term keeps its lane (32: `ggml_vec_dot_f32`'s step; tinyBLAS's 8 divides
    /// it).
    #[inline]
    pub(super) fn visible_from(&self, n_kv: usize) -> (usize, usize) {
        let first = self.first_visible(n_kv);
        (first, first / 32 * 32)
    }

    /// Head `h`'s sink logit, if the layer has sinks.
    #[inline]
    pub(super) fn sink(&self, h: usize) -> Option<f32> {
        self.sinks.map(|s| s[h])
    }

    /// Turns one row of raw q·k scores of query head `h` into probabilities, as the two-pass
    /// path does: scale, soft-cap and mask ([`AttnDims::cap_and_mask`]), softmax (with the
    /// head's sink). `s[..first]` (keys never scored: see [`AttnDims::visible_from`]) only
    /// become -inf.
    #[inline]
    pub(super) fn probabilities(&self, s: &mut [f32], first: usize, h: usize) {
        s[first..].iter_mut().for_each(|v| *v *= self.scale);
        self.cap_and_mask(&mut s[first..]);
        s[..first].fill(f32::NEG_INFINITY);
        softmax_with_sink(s, self.rounding, self.sink(h));
    }

    /// Soft-caps and masks one row of scaled scores (`s`: positions 0..n_kv, the query at
    /// n_kv - 1) as llama.cpp does: `scale(tanh(scale(kq, 1/cap)), cap)`, then the window's
    /// or chunk's -inf (exp gives 0 for it, so the sums are the visible keys').
    #[inline]
    fn cap_and_mask(&self, s: &mut [f32]) {
        if let Some(cap) = self.softcap {
            let inv = 1.0 / cap;
            s.iter_mut().for_each(|v| *v = (*v * inv).tanh() * cap);
        }
        let hidden = self.first_visible(s.len());
        s[..hidden].fill(f32::NEG_INFINITY);
    }
}

/// One layer of the KV cache, positions `0..n_ctx` (see `model::kv`).
#[derive(Clone, Copy)]
pub enum KvView<'a> {
    /// K (n_ctx, n_head_kv * head_dim_k), V transposed (n_head_kv * head_dim_v, n_ctx).
    F32 { k: &'a [f32], v_t: &'a [f32] },
    /// The same layouts, f16 little-endian bytes.
    F16 { k: &'a [u8], v_t: &'a [u8] },
    /// K (n_ctx, n_head_kv * head_dim_k) and V (n_ctx, n_head_kv * head_dim_v) as Q8_0 rows.
    Q8_0 { k: &'a [u8], v: &'a [u8] },
    /// MLA latents (`ops::latent`): K (n_ctx, head_dim_k), one KV head, V the first
    /// head_dim_v values of each K row; f32, or f16 bytes.
    LatentF32 { k: &'a [f32] },
    LatentF16 { k: &'a [u8] },
}

/// Per-task scratch, allocated with the session so attention never allocates.
pub struct AttnScratch {
    /// (n_slots, n_ctx) softmax rows, one per task
    scores: Vec<f32>,
    /// (n_slots, conv_bytes) per task: the query head converted to the cache's dot type, then
    /// (f16) the probabilities as f16; empty for f32
    conv: Vec<u8>,
    conv_bytes: usize,
    /// (n_slots, tile_len) per task, for flash attention: f32 caches, the query rounded to f16
    /// (head_dim_k,); f16 caches, the K and V tiles widened to f32 ((TILE, head_dim_k) keys,
    /// then (head_dim_v, TILE) values)
    tile: Vec<f32>,
    tile_len: usize,
    n_slots: usize,
    n_ctx: usize,
}

impl AttnScratch {
    pub fn new(ty: KvType, n_slots: usize, n_ctx: usize, head_dim_k: usize, head_dim_v: usize) -> AttnScratch {
        let tile_len = match ty {
            // (MLA latents: p·V accumulators)
            KvType::F32 => head_dim_k.max(latent::MAX_SLOTS * head_dim_v),
            KvType::F16 => flash::TILE * (head_dim_k + head_dim_v),
            KvType::Q8_0 => 0,
        };
        let conv_bytes = match ty {
            KvType::F32 => 0,
            KvType::F16 => 2 * (head_dim_k + n_ctx),
            KvType::Q8_0 => row_bytes(GgmlType::Q8_0, head_dim_k),
        };
        AttnScratch {
            scores: vec![0.0; n_slots * n_ctx],
            conv: vec![0; n_slots * conv_bytes],
            conv_bytes,
            tile: vec![0.0; n_slots * tile_len],
            tile_len,
            n_slots,
            n_ctx,
        }
    }

    pub fn resize_slots(&mut self, n_slots: usize) {
        self.n_slots = n_slots;
        self.scores.resize(n_slots * self.n_ctx, 0.0);
        self.conv.resize(n_slots * self.conv_bytes, 0);
        self.tile.resize(n_slots * self.tile_len, 0.0);
    }
}

/// A pointer tasks use to write disjoint ranges of one buffer.
#[derive(Clone, Copy)]
pub(super) struct Shared<T>(*mut T, usize);
// SAFETY: tasks only materialize disjoint sub-slices (see `slice`).
unsafe impl<T> Send for Shared<T> {}
unsafe impl<T> Sync for Shared<T> {}

impl<T> Shared<T> {
    pub(super) fn new(v: &mut [T]) -> Self {
        Shared(v.as_mut_ptr(), v.len())
    }
    /// # Safety
    /// No two live slices obtained from this pointer may overlap.
    #[allow(clippy::mut_from_ref)]
    pub(super) unsafe fn slice(&self, start: usize, len: usize) -> &mut [T] {
        assert!(start + len <= self.1);
        unsafe { std::slice::from_raw_parts_mut(self.0.add(start), len) }
    }
}

/// In-place softmax of an attention row `x` (ggml_vec_soft_max_f32: exp(x - max) with ggml's
/// vector exp, summed as ggml does, then scaled by 1/sum), which llama.cpp pads with masked
/// keys to whole vectors.
pub fn softmax(x: &mut [f32], r: Rounding) {
    softmax_with_sink(x, r, None)
}

/// In-place softmax of a row llama.cpp does not pad (`ggml_soft_max` of router logits or of
/// the chosen experts' ones): as [`softmax`], but a last partial vector takes
/// `ggml_vec_soft_max_f32`'s scalar tail (libm `expf`, summed one by one).
pub fn softmax_row(x: &mut [f32], r: Rounding) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum = super::expf::exp_sub_sum_row(x, max, r);
    let inv = (1.0 / sum) as f32;
    x.iter_mut().for_each(|v| *v *= inv);
}

/// [`softmax`] with an attention sink (ggml `soft_max_ext` with sinks): the maximum takes the
/// sink in and the sum gets `expf(sink - max)` (libm), as if the sink were one more score.
pub fn softmax_with_sink(x: &mut [f32], r: Rounding, sink: Option<f32>) {
    let mut max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if let Some(sk) = sink {
        max = max.max(sk);
    }
    let mut sum = super::expf::exp_sub_sum(x, max, r);
    if let Some(sk) = sink {
        sum += super::glibc::expf(sk - max) as f64;
    }
    let inv = (1.0 / sum) as f32;
    x.iter_mut().for_each(|v| *v *= inv);
}

/// Attention of `n_tok` queries at positions `pos0..pos0 + n_tok` over cache rows
/// `0..=pos` (causal).
///
/// * `q`: (n_tok, n_head * head_dim_k) roped queries
/// * `kv`: the layer's cache, positions `0..pos0 + n_tok` valid
/// * `scratch`: sized for at least `pos0 + n_tok` positions
/// * `out`: (n_tok, n_head * head_dim_v)
#[allow(clippy::too_many_arguments)]
pub fn attention(
    pool: &ThreadPool,
    d: &AttnDims,
    q: &[f32],
    n_tok: usize,
    pos0: usize,
    kv: KvView<'_>,
    scratch: &mut AttnScratch,
    out: &mut [f32],
) {
    let (hk, hv) = (d.head_dim_k, d.head_dim_v);
    let (q_row, k_row, o_row) = (d.n_head * hk, d.n_head_kv * hk, d.n_head * hv);
    let v_rows = d.n_head_kv * hv;
    let n_ctx = match kv {
        KvView::F32 { v_t, .. } => v_t.len() / v_rows,
        KvView::F16 { v_t, .. } => v_t.len() / (2 * v_rows),
        KvView::Q8_0 { v, .. } => v.len() / row_bytes(GgmlType::Q8_0, v_rows),
        KvView::LatentF32 { k } => k.len() / k_row,
        KvView::LatentF16 { k } => k.len() / (2 * k_row),
    };
    let latent = matches!(kv, KvView::LatentF32 { .. } | KvView::LatentF16 { .. });
    assert!(!latent || (d.n_head_kv == 1 && hv <= hk), "a latent cache has one KV head, V a prefix of K");
    let k_len = match kv {
        KvView::F32 { k, .. } | KvView::LatentF32 { k } => k.len(),
        KvView::F16 { k, .. } | KvView::LatentF16 { k } => k.len() / 2,
        KvView::Q8_0 { k, .. } => k.len() / row_bytes(GgmlType::Q8_0, k_row) * k_row,
    };
    let group = d.n_head / d.n_head_kv;
    let (n_slots, slot, cb, tl) = (scratch.n_slots, scratch.n_ctx, scratch.conv_bytes, scratch.tile_len);
    assert!(slot >= pos0 + n_tok && n_ctx >= pos0 + n_tok, "context scratch too short");
    assert!(q.len() >= n_tok * q_row && out.len() >= n_tok * o_row);
    assert!(k_len >= (pos0 + n_tok) * k_row);
    // The converter and dot product of the cache's type (one table lookup per call).
    let kernels = |ty: GgmlType| {
        let t = traits(ty).expect("kv cache kernels");
        (t.quantize_row.expect("activation type"), t.vec_dot)
    };
    let kern = match kv {
        KvView::F32 { .. } | KvView::LatentF32 { .. } => None,
        KvView::F16 { .. } | KvView::LatentF16 { .. } => Some(kernels(GgmlType::F16)),
        KvView::Q8_0 { .. } => Some(kernels(GgmlType::Q8_0)),
    };

    // A batch over an f32 cache: groups of query rows share each read of K and V.
    if let (KvView::F32 { k, v_t }, false, true) = (kv, d.flash, n_tok >= GROUPED_MIN_TOKENS) {
        let rows = n_slots / pool.n_threads().max(1);
        if rows >= 2 {
            return grouped::attention_f32(pool, d, q, n_tok, pos0, k, v_t, n_ctx, rows, &mut scratch.scores, slot, out);
        }
    }
    let n_pairs = d.n_head * n_tok;
    // Small jobs (short contexts of tiny models) stay on the calling thread.
    let work = n_pairs * (pos0 + n_tok) * (hk + hv);
    let n_tasks = if work < PAR_MIN_MACS { 1 } else { n_slots.min(n_pairs) };
    let outp = Shared::new(out);
    let scp = Shared::new(&mut scratch.scores);
    let cvp = Shared::new(&mut scratch.conv);
    let tlp = Shared::new(&mut scratch.tile);
    pool.run(n_tasks, |task| {
        // SAFETY: task `task` owns score and conversion slot `task` (n_tasks <= n_slots).
        let s_all = unsafe { scp.slice(task * slot, slot) };
        let conv = unsafe { cvp.slice(task * cb, cb) };
        let tile = unsafe { tlp.slice(task * tl, tl) };
        // Pairs task, task + n_tasks, ...: interleaving balances the causal triangle.
        for pair in (task..n_pairs).step_by(n_tasks) {
            let (t, h) = (pair / d.n_head, pair % d.n_head);
            let n_kv = pos0 + t + 1;
            let kvh = h / group;
            let qv = &q[t * q_row + h * hk..][..hk];
            let s = &mut s_all[..n_kv];
            // SAFETY: pair (t, h) is visited by exactly one task; its output range is
            // disjoint from every other pair's.
            let o = unsafe { outp.slice(t * o_row + h * hv, hv) };
            match (kv, kern) {
                (KvView::F32 { k, v_t }, _) if d.flash => {
                    let (k, v_t) = (&k[kvh * hk..], &v_t[kvh * hv * n_ctx..]);
                    let lg = flash::Logits::new(d.scale, d.softcap, d.first_visible(n_kv), d.sink(h));
                    if n_tok >= flash::TILE {
                        let c = flash::Cache::F32 { k, v_t };
                        flash::row_tiled(qv, c, k_row, n_ctx, n_kv, lg, d.rounding, s, o)
                    } else {
                        flash::row_online_f32(qv, k, k_row, v_t, n_ctx, n_kv, lg, tile, s, o)
                    }
                }
                (KvView::F16 { k, v_t }, _) if d.flash => {
                    let (k, v_t) = (&k[2 * kvh * hk..], &v_t[2 * kvh * hv * n_ctx..]);
                    let lg = flash::Logits::new(d.scale, d.softcap, d.first_visible(n_kv), d.sink(h));
                    if n_tok >= flash::TILE {
                        let c = flash::Cache::F16 { k, v_t, tile: &mut *tile };
                        flash::row_tiled(qv, c, k_row, n_ctx, n_kv, lg, d.rounding, s, o)
                    } else {
                        flash::row_online(qv, k, k_row, v_t, n_ctx, n_kv, lg, tile, s, o)
                    }
                }
                (KvView::F32 { k, v_t }, _) => head_f32(d, qv, k, v_t, h, n_ctx, n_tok > 1, s, o),
                (KvView::F16 { k, v_t }, Some(kern)) => head_f16(d, qv, k, v_t, h, n_ctx, kern, s, conv, o),
                (KvView::Q8_0 { k, v }, Some(kern)) => head_q8_0(d, qv, k, v, h, kern, s, conv, o),
                // Two-pass whatever `flash` says (llama.cpp's flash path for MLA is not
                // reproduced).
                (KvView::LatentF32 { k }, _) => latent::head_f32(d, qv, k, n_tok > 1, s, tile, o),
                (KvView::LatentF16 { k }, Some(kern)) => latent::head_f16(d, qv, k, kern, s, conv, o),
                _ => unreachable!("kernels are looked up for every quantized view"),
            }
        }
    });
}

/// One (query head `h`, token) pair over an f32 cache; `s` is (n_kv,), `o` is (head_dim_v,).
/// Both products in the order llama.cpp's AVX2 build runs them (`ops::f32dot`): a batch's
/// probabilities times V through tinyBLAS, one token's through `ggml_vec_dot_f32`.
#[allow(clippy::too_many_arguments)]
#[inline]
fn head_f32(d: &AttnDims, qv: &[f32], k_cache: &[f32], v_cache: &[f32], h: usize, n_ctx: usize, batched: bool, s: &mut [f32], o: &mut [f32]) {
    let (hk, hv) = (d.head_dim_k, d.head_dim_v);
    let kvh = h / (d.n_head / d.n_head_kv);
    let k_row = d.n_head_kv * hk;
    // Keys outside the window are not scored (the mask makes them -inf whatever they are).
    let (first, from) = d.visible_from(s.len());
    f32dot::dot_rows(qv, &k_cache[kvh * hk + first * k_row..], k_row, &mut s[first..], Order::VecDot);
    d.probabilities(s, first, h);
    // One token's dot runs over llama.cpp's padded KV length (zeros past n_kv).
    let order = if batched { Order::TinyBlas } else { Order::VecDotPadded };
    f32dot::dot_rows(&s[from..], &v_cache[kvh * hv * n_ctx + from..], n_ctx, o, order);
}

/// [`head_f32`] over an f16 cache (bytes): q and the probabilities are rounded to f16 in
/// `conv` ((2 * (head_dim_k + n_ctx),) bytes) before `ggml_vec_dot_f16`-style dots.
#[allow(clippy::too_many_arguments)]
#[inline]
fn head_f16(
    d: &AttnDims,
    qv: &[f32],
    k: &[u8],
    v_t: &[u8],
    h: usize,
    n_ctx: usize,
    (to_f16, dot): (QuantizeRowFn, VecDotFn),
    s: &mut [f32],
    conv: &mut [u8],
    o: &mut [f32],
) {
    let (hk, hv) = (d.head_dim_k, d.head_dim_v);
    let kvh = h / (d.n_head / d.n_head_kv);
    let k_row = 2 * d.n_head_kv * hk;
    let n_kv = s.len();
    let (qh, ph) = conv.split_at_mut(2 * hk);
    to_f16(qv, qh);
    for (j, sj) in s.iter_mut().enumerate() {
        *sj = dot(hk, &k[j * k_row + 2 * kvh * hk..], qh) * d.scale;
    }
    d.cap_and_mask(s);
    softmax_with_sink(s, d.rounding, d.sink(h));
    to_f16(s, &mut ph[..2 * n_kv]);
    for (dv, od) in o.iter_mut().enumerate() {
        *od = dot(n_kv, &v_t[2 * (kvh * hv + dv) * n_ctx..], ph);
    }
}

/// [`head_f32`] over a Q8_0 cache: q quantized to Q8_0 in `conv`
/// ((row_bytes(Q8_0, head_dim_k),) bytes) for the scores, V rows dequantized and accumulated
/// in f32 with their probabilities.
#[allow(clippy::too_many_arguments)]
#[inline]
fn head_q8_0(
    d: &AttnDims,
    qv: &[f32],
    k: &[u8],
    v: &[u8],
    h: usize,
    (to_q8, dot): (QuantizeRowFn, VecDotFn),
    s: &mut [f32],
    conv: &mut [u8],
    o: &mut [f32],
) {
    let (hk, hv) = (d.head_dim_k, d.head_dim_v);
    let kvh = h / (d.n_head / d.n_head_kv);
    let (kh_bytes, vh_bytes) = (row_bytes(GgmlType::Q8_0, hk), row_bytes(GgmlType::Q8_0, hv));
    let (k_row, v_row) = (d.n_head_kv * kh_bytes, d.n_head_kv * vh_bytes);
    to_q8(qv, conv);
    for (j, sj) in s.iter_mut().enumerate() {
        *sj = dot(hk, &k[j * k_row + kvh * kh_bytes..], conv) * d.scale;
    }
    d.cap_and_mask(s);
    softmax_with_sink(s, d.rounding, d.sink(h));
    o.fill(0.0);
    for (j, &p) in s.iter().enumerate() {
        let blocks: &[BlockQ8_0] = as_blocks(&v[j * v_row + kvh * vh_bytes..][..vh_bytes]);
        for (b, oc) in blocks.iter().zip(o.chunks_exact_mut(32)) {
            // p * (d * q) with p * d formed once per block: one rounding apart from
            // dequantizing first, and a multiply fewer per element.
            let w = p * f16_to_f32(b.d);
            let qs = b.qs;
            for (x, &qq) in oc.iter_mut().zip(qs.iter()) {
                *x += w * qq as f32;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_position_returns_its_value() {
        let pool = ThreadPool::new(1);
        let d = AttnDims { n_head: 2, n_head_kv: 1, head_dim_k: 2, head_dim_v: 2, scale: 1.0, flash: false, rounding: Rounding::Avx2, window: None, chunk: None, softcap: None, sinks: None };
        let q = [1.0, 0.0, 0.0, 1.0];
        let k = [0.5, 0.5];
        let v = [3.0, -1.0]; // transposed (2 dims, n_ctx 1)
        let mut scratch = AttnScratch::new(KvType::F32, 2, 1, 2, 2);
        let mut out = [0.0; 4];
        attention(&pool, &d, &q, 1, 0, KvView::F32 { k: &k, v_t: &v }, &mut scratch, &mut out);
        assert_eq!(out, [3.0, -1.0, 3.0, -1.0]);
    }

    /// A deterministic pseudo-random cache: K and V rows (n_ctx, n_head_kv * 64), queries
    /// (n_tok, n_head * 64), values in [-2, 2) with a few outliers, as real heads have.
    fn random_case(n_ctx: usize, n_tok: usize, d: &AttnDims) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let x = (state >> 40) as f32 / (1u64 << 24) as f32 * 4.0 - 2.0;
            if state % 97 == 0 { x * 8.0 } else { x }
        };
        let k = (0..n_ctx * d.n_head_kv * d.head_dim_k).map(|_| next()).collect();
        let v = (0..n_ctx * d.n_head_kv * d.head_dim_v).map(|_| next()).collect();
        let q = (0..n_tok * d.n_head * d.head_dim_k).map(|_| next()).collect();
        (q, k, v)
    }

    /// What a cache of this type computes, in f64 on the rounded operands: `round_q`,
    /// `round_k`, `round_v` turn a row into the values the cache type's dot products see, and
    /// `round_p` the probabilities.
    #[allow(clippy::too_many_arguments)]
    fn reference(
        d: &AttnDims,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        n_tok: usize,
        pos0: usize,
        round_q: &dyn Fn(&[f32]) -> Vec<f32>,
        round_kv: &dyn Fn(&[f32]) -> Vec<f32>,
        round_p: &dyn Fn(&[f32]) -> Vec<f32>,
    ) -> Vec<f32> {
        let (hk, hv) = (d.head_dim_k, d.head_dim_v);
        let (kr, vr) = (d.n_head_kv * hk, d.n_head_kv * hv);
        let (k, v) = (round_kv(k), round_kv(v));
        let mut out = vec![0.0; n_tok * d.n_head * hv];
        for t in 0..n_tok {
            for h in 0..d.n_head {
                let kvh = h / (d.n_head / d.n_head_kv);
                let qv = round_q(&q[(t * d.n_head + h) * hk..][..hk]);
                let n_kv = pos0 + t + 1;
                let first_w = d.window.map_or(0, |w| n_kv.saturating_sub(w));
                let first_c = d.chunk.map_or(0, |c| (n_kv - 1) / c * c);
                let first = first_w.max(first_c);
                let s: Vec<f64> = (0..n_kv)
                    .map(|j| qv.iter().zip(&k[j * kr + kvh * hk..][..hk]).map(|(a, b)| *a as f64 * *b as f64).sum::<f64>() * d.scale as f64)
                    .map(|x| d.softcap.map_or(x, |c| (x / c as f64).tanh() * c as f64))
                    .enumerate()
                    .map(|(j, x)| if j < first { f64::NEG_INFINITY } else { x })
                    .collect();
                // A sink is one more logit in the denominator, with no value.
                let sink = d.sinks.map(|sk| sk[h] as f64);
                let max = s.iter().copied().chain(sink).fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = s.iter().map(|x| (x - max).exp()).collect();
                let sum: f64 = e.iter().sum::<f64>() + sink.map_or(0.0, |sk| (sk - max).exp());
                let p = round_p(&e.iter().map(|x| (x / sum) as f32).collect::<Vec<_>>());
                for dv in 0..hv {
                    let o: f64 = (0..n_kv).map(|j| p[j] as f64 * v[j * vr + kvh * hv + dv] as f64).sum();
                    out[(t * d.n_head + h) * hv + dv] = o as f32;
                }
            }
        }
        out
    }

    fn max_diff(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
    }

    /// The f16 and q8_0 paths compute what their rounding model says (llama.cpp's non-flash
    /// F16 numerics; Q8_0 q·k and dequantized V), far closer to that than to exact f32
    /// (measured: f16 2.4e-7 from its model vs 4.3e-3 from f32; q8_0 1.2e-6 vs 7.3e-2).
    #[test]
    fn quantized_caches_follow_their_rounding() {
        // Without and with attention sinks (one above every score, to take the other branch).
        for sinks in [None, Some(&[0.3f32, -2.0, 1.5, 40.0][..])] {
            quantized_caches_case(sinks);
        }
    }

    fn quantized_caches_case(sinks: Option<&[f32]>) {
        use crate::quant::quantize_row;
        let pool = ThreadPool::new(1);
        let d = AttnDims { n_head: 4, n_head_kv: 2, head_dim_k: 64, head_dim_v: 64, scale: 0.125, flash: false, rounding: Rounding::Avx2, window: None, chunk: None, softcap: None, sinks };
        let (n_ctx, n_tok, pos0) = (40, 3, 37);
        let (q, k, v) = random_case(n_ctx, n_tok, &d);
        let vr = d.n_head_kv * d.head_dim_v;
        let transpose = |rows: &[f32]| -> Vec<f32> { (0..vr * n_ctx).map(|i| rows[(i % n_ctx) * vr + i / n_ctx]).collect() };
        let round = |ty: GgmlType| {
            move |x: &[f32]| -> Vec<f32> {
                let mut b = vec![0u8; row_bytes(ty, x.len())];
                quantize_row(ty, x, &mut b);
                let mut y = vec![0.0; x.len()];
                (traits(ty).unwrap().dequantize_row)(&b, &mut y);
                y
            }
        };
        let same = |x: &[f32]| x.to_vec();
        let run = |ty: KvType, view: KvView<'_>| {
            let mut scratch = AttnScratch::new(ty, 2, n_ctx, d.head_dim_k, d.head_dim_v);
            let mut out = vec![0.0; n_tok * d.n_head * d.head_dim_v];
            attention(&pool, &d, &q, n_tok, pos0, view, &mut scratch, &mut out);
            out
        };
        let exact = reference(&d, &q, &k, &v, n_tok, pos0, &same, &same, &same);
        let v_t = transpose(&v);
        let ours32 = run(KvType::F32, KvView::F32 { k: &k, v_t: &v_t });
        assert!(max_diff(&ours32, &exact) < 2e-6, "f32: {}", max_diff(&ours32, &exact));

        let h = round(GgmlType::F16);
        let want16 = reference(&d, &q, &k, &v, n_tok, pos0, &h, &h, &h);
        let mut kh = vec![0u8; 2 * k.len()];
        let mut vh = vec![0u8; 2 * v.len()];
        quantize_row(GgmlType::F16, &k, &mut kh);
        quantize_row(GgmlType::F16, &v_t, &mut vh);
        let ours16 = run(KvType::F16, KvView::F16 { k: &kh, v_t: &vh });
        let (d16, off16) = (max_diff(&ours16, &want16), max_diff(&ours16, &exact));
        assert!(d16 < 1e-6 && off16 > 100.0 * d16, "f16: {d16} from its model, {off16} from f32");

        let q8 = round(GgmlType::Q8_0);
        let want8 = reference(&d, &q, &k, &v, n_tok, pos0, &q8, &q8, &same);
        let mut k8 = vec![0u8; row_bytes(GgmlType::Q8_0, k.len())];
        let mut v8 = vec![0u8; row_bytes(GgmlType::Q8_0, v.len())];
        quantize_row(GgmlType::Q8_0, &k, &mut k8);
        quantize_row(GgmlType::Q8_0, &v, &mut v8);
        let ours8 = run(KvType::Q8_0, KvView::Q8_0 { k: &k8, v: &v8 });
        let (d8, off8) = (max_diff(&ours8, &want8), max_diff(&ours8, &exact));
        assert!(d8 < 5e-6 && off8 > 100.0 * d8, "q8_0: {d8} from its model, {off8} from f32");
    }

    /// Flash attention over an f16 cache: the tiled kernel (64 tokens and more) computes the
    /// softmax of f32 q against f16-rounded K and V in f32, the one-row kernel rounds q to f16
    /// and keeps the output in f16 (so it is only within f16 steps of its model).
    #[test]
    fn flash_attention_follows_its_rounding() {
        use crate::quant::quantize_row;
        let pool = ThreadPool::new(1);
        let h = |x: &[f32]| -> Vec<f32> {
            let mut b = vec![0u8; 2 * x.len()];
            quantize_row(GgmlType::F16, x, &mut b);
            b.chunks_exact(2).map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]]))).collect()
        };
        let same = |x: &[f32]| x.to_vec();
        // Then with a sliding window (the tiled case skips a whole tile and masks part of the
        // next) and soft-capping; then chunks and attention sinks (one above every score).
        let sinks: &[f32] = &[0.3, -2.0, 1.5, 40.0];
        let cases = [
            (70, 10, 2e-5f32, None, None, None, None),
            (3, 150, 1e-2, None, None, None, None),
            (70, 100, 2e-5, Some(90), Some(0.5), None, None),
            (3, 150, 1e-2, Some(40), Some(0.5), None, None),
            (70, 100, 2e-5, None, None, Some(100), Some(sinks)),
            (3, 150, 1e-2, None, None, Some(64), Some(sinks)),
        ];
        for (n_tok, pos0, tol, window, softcap, chunk, sinks) in cases {
            let n_ctx = pos0 + n_tok;
            let d = AttnDims { n_head: 4, n_head_kv: 2, head_dim_k: 64, head_dim_v: 64, scale: 0.125, flash: true, rounding: Rounding::Avx2, window, chunk, softcap, sinks };
            let (q, k, v) = random_case(n_ctx, n_tok, &d);
            let vr = d.n_head_kv * d.head_dim_v;
            let v_t: Vec<f32> = (0..vr * n_ctx).map(|i| v[(i % n_ctx) * vr + i / n_ctx]).collect();
            let (mut kh, mut vh) = (vec![0u8; 2 * k.len()], vec![0u8; 2 * v_t.len()]);
            quantize_row(GgmlType::F16, &k, &mut kh);
            quantize_row(GgmlType::F16, &v_t, &mut vh);
            let mut scratch = AttnScratch::new(KvType::F16, 2, n_ctx, d.head_dim_k, d.head_dim_v);
            let mut out = vec![0.0; n_tok * d.n_head * d.head_dim_v];
            attention(&pool, &d, &q, n_tok, pos0, KvView::F16 { k: &kh, v_t: &vh }, &mut scratch, &mut out);
            let want = if n_tok >= flash::TILE {
                reference(&d, &q, &k, &v, n_tok, pos0, &same, &h, &same)
            } else {
                reference(&d, &q, &k, &v, n_tok, pos0, &h, &h, &same)
            };
            let exact = reference(&d, &q, &k, &v, n_tok, pos0, &same, &same, &same);
            // An f32 cache of f16-rounded values (what the session stores in this mode) reads
            // the same numbers and must give the same bits.
            let (k16, vt16) = (h(&k), h(&v_t));
            let mut s32 = AttnScratch::new(KvType::F32, 2, n_ctx, d.head_dim_k, d.head_dim_v);
            let mut out32 = vec![0.0; out.len()];
            attention(&pool, &d, &q, n_tok, pos0, KvView::F32 { k: &k16, v_t: &vt16 }, &mut s32, &mut out32);
            assert!(out32.iter().zip(&out).all(|(a, b)| a.to_bits() == b.to_bits()), "{n_tok} tokens: f32 and f16 caches differ");
            let (dm, off) = (max_diff(&out, &want), max_diff(&out, &exact));
            // f32 rounding of an online softmax over 80 keys (tiled); one-row: an output
            // rounded to f16 at each of 153 keys (a wrong weight or key is off by O(1)).
            assert!(dm < tol && (n_tok < flash::TILE || off > 100.0 * dm), "{n_tok} tokens: {dm} from its model ({off} from f32)");
        }
    }

    /// A batch over 2k cached f32 positions: the grouped path (`grouped.rs`: four-key score
    /// kernel, four-by-two output blocks over key pieces, rows of several tokens sharing the
    /// keys) gives the per-(token, head) path's bits, and both are the f64 reference's values
    /// to f32 rounding. Cases: Qwen2.5-0.5B's heads (14 over 2, 64 wide: a KV head's seven
    /// rows per token split across groups of four); 80-wide heads (not a multiple of 32)
    /// with a sliding window and soft-capping; Gemma's 256-wide single KV head.
    #[test]
    fn grouped_batches_equal_per_pair_at_2k() {
        let pool = ThreadPool::new(2);
        let same = |x: &[f32]| x.to_vec();
        let cases = [(14, 2, 64, 37, 2011, None, None), (8, 2, 80, 21, 2040, Some(700), Some(30.0)), (4, 1, 256, 17, 1900, Some(512), None)];
        for (n_head, n_head_kv, hd, n_tok, pos0, window, softcap) in cases {
            let n_ctx = pos0 + n_tok + 5;
            let d = AttnDims { n_head, n_head_kv, head_dim_k: hd, head_dim_v: hd, scale: 1.0 / (hd as f32).sqrt(), flash: false, rounding: Rounding::Avx2, window, chunk: None, softcap, sinks: None };
            let (q, k, v) = random_case(n_ctx, n_tok, &d);
            let vr = n_head_kv * hd;
            let v_t: Vec<f32> = (0..vr * n_ctx).map(|i| v[(i % n_ctx) * vr + i / n_ctx]).collect();
            let run = |slots_per_thread: usize| {
                let mut scratch = AttnScratch::new(KvType::F32, 2 * slots_per_thread, n_ctx, hd, hd);
                let mut out = vec![0.0; n_tok * n_head * hd];
                attention(&pool, &d, &q, n_tok, pos0, KvView::F32 { k: &k, v_t: &v_t }, &mut scratch, &mut out);
                out
            };
            // Four score slots per thread: grouped; one: a task per (token, head).
            let (grouped, pairs) = (run(4), run(1));
            assert!(grouped.iter().zip(&pairs).all(|(a, b)| a.to_bits() == b.to_bits()), "{n_head}x{hd}: grouped and per-pair differ");
            let want = reference(&d, &q, &k, &v, n_tok, pos0, &same, &same, &same);
            let dm = max_diff(&grouped, &want);
            // f32 rounding over 2k keys: measured 7.7e-7 of the largest output (|o| up to 16:
            // the outliers); a wrong key, weight or lane is off by O(1).
            let big = want.iter().fold(0f32, |m, x| m.max(x.abs()));
            assert!(dm < 2e-6 * big, "{n_head}x{hd}: {dm} from the f64 reference (largest {big})");
        }
    }

    /// A row llama.cpp does not pad (gpt-oss's softmax over its 4 chosen experts' logits)
    /// takes `ggml_vec_soft_max_f32`'s scalar tail: llama.cpp's own output for these logits
    /// (layer 0 of the gpt-oss-20b-shaped bench model, one token, its graph dump) is matched bit
    /// for bit, which the padded-row rounding of attention misses by an ulp in two of the four.
    #[test]
    fn unpadded_rows_round_as_ggml_scalar_tail() {
        let logits = [0x40377e26u32, 0x3fb17f68, 0x3f8e538f, 0x3f87690b].map(f32::from_bits);
        let llama_cpp = [0x3f23a8ddu32, 0x3e14f6f6, 0x3de25981, 0x3dd671af];
        let mut row = logits;
        softmax_row(&mut row, Rounding::Avx2);
        assert_eq!(row.map(f32::to_bits), llama_cpp);
        let mut padded = logits;
        softmax(&mut padded, Rounding::Avx2);
        assert_ne!(padded.map(f32::to_bits), llama_cpp, "the padded rounding differs here (else this case tests nothing)");
    }

    #[test]
    fn softmax_sums_to_one() {
        let mut x = [1.0f32, 2.0, 3.0, -50.0];
        softmax(&mut x, Rounding::Avx2);
        assert!((x.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(x[2] > x[1] && x[1] > x[0]);
    }
}
