//! Causal multi-head attention with grouped KV heads over an f32 KV cache, as llama.cpp's
//! non-flash path computes it: scores = (q·k) * scale, softmax (max-subtracted, sum in
//! f64, ggml_soft_max_f32), output[d] = p · vᵀ[d] with V stored transposed (dimension-major,
//! ggml's `v_trans`), so both products are rows of contiguous dot products
//! ([`dot_rows_f32`]: SIMD, summed in the order of ggml's f32 dot). Query head h reads KV
//! head h / (n_head / n_head_kv).
//! Every (head, token) pair is independent; the pairs are spread over the thread pool,
//! each task with its own row of score scratch.

use crate::parallel::ThreadPool;
use crate::quant::dot_rows_f32;

/// Multiply-accumulates below which attention stays on the calling thread.
const PAR_MIN_MACS: usize = 1 << 18;

/// Head layout of one layer.
#[derive(Clone, Copy, Debug)]
pub struct AttnDims {
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim_k: usize,
    pub head_dim_v: usize,
    /// Multiplies q·k before the softmax.
    pub scale: f32,
}

/// A pointer tasks use to write disjoint ranges of one output buffer.
#[derive(Clone, Copy)]
struct SharedOut(*mut f32, usize);
// SAFETY: tasks only materialize disjoint sub-slices (see `slice`).
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}

impl SharedOut {
    /// # Safety
    /// No two live slices obtained from this pointer may overlap.
    #[allow(clippy::mut_from_ref)]
    unsafe fn slice(&self, start: usize, len: usize) -> &mut [f32] {
        assert!(start + len <= self.1);
        unsafe { std::slice::from_raw_parts_mut(self.0.add(start), len) }
    }
}

/// In-place softmax of `x` (ggml_vec_soft_max_f32: exp(x - max), sum in f64, scale by 1/sum).
pub fn softmax(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f64;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v as f64;
    }
    let inv = (1.0 / sum) as f32;
    x.iter_mut().for_each(|v| *v *= inv);
}

/// Attention of `n_tok` queries at positions `pos0..pos0 + n_tok` over cache rows
/// `0..=pos` (causal).
///
/// * `q`: (n_tok, n_head * head_dim_k) roped queries
/// * `k_cache`: (n_ctx, n_head_kv * head_dim_k), rows `0..pos0 + n_tok` valid
/// * `v_cache`: (n_head_kv * head_dim_v, n_ctx) transposed, columns `0..pos0 + n_tok` valid
/// * `scores`: (n_slots, slot) scratch with `slot >= pos0 + n_tok`
/// * `out`: (n_tok, n_head * head_dim_v)
#[allow(clippy::too_many_arguments)]
pub fn attention(
    pool: &ThreadPool,
    d: &AttnDims,
    q: &[f32],
    n_tok: usize,
    pos0: usize,
    k_cache: &[f32],
    v_cache: &[f32],
    scores: &mut [f32],
    n_slots: usize,
    out: &mut [f32],
) {
    let (hk, hv) = (d.head_dim_k, d.head_dim_v);
    let (q_row, k_row, o_row) = (d.n_head * hk, d.n_head_kv * hk, d.n_head * hv);
    let v_rows = d.n_head_kv * hv;
    let n_ctx = v_cache.len() / v_rows;
    let group = d.n_head / d.n_head_kv;
    let slot = scores.len() / n_slots;
    assert!(slot >= pos0 + n_tok && n_ctx >= pos0 + n_tok, "context scratch too short");
    assert!(q.len() >= n_tok * q_row && out.len() >= n_tok * o_row);
    assert!(k_cache.len() >= (pos0 + n_tok) * k_row);

    let n_pairs = d.n_head * n_tok;
    // Small jobs (short contexts of tiny models) stay on the calling thread.
    let work = n_pairs * (pos0 + n_tok) * (hk + hv);
    let n_tasks = if work < PAR_MIN_MACS { 1 } else { n_slots.min(n_pairs) };
    let outp = SharedOut(out.as_mut_ptr(), out.len());
    let scp = SharedOut(scores.as_mut_ptr(), scores.len());
    pool.run(n_tasks, |task| {
        // SAFETY: task `task` owns score slot `task` (n_tasks <= n_slots).
        let s_all = unsafe { scp.slice(task * slot, slot) };
        // Pairs task, task + n_tasks, ...: interleaving balances the causal triangle.
        for pair in (task..n_pairs).step_by(n_tasks) {
            let (t, h) = (pair / d.n_head, pair % d.n_head);
            let n_kv = pos0 + t + 1;
            let kvh = h / group;
            let qv = &q[t * q_row + h * hk..][..hk];
            let s = &mut s_all[..n_kv];
            if hk < 32 {
                // Tiny heads: an inlined loop beats a call through the kernel table.
                for (sj, kj) in s.iter_mut().zip(k_cache.chunks_exact(k_row)) {
                    let kh = &kj[kvh * hk..][..hk];
                    *sj = qv.iter().zip(kh).map(|(a, b)| a * b).sum::<f32>() * d.scale;
                }
            } else {
                dot_rows_f32(qv, &k_cache[kvh * hk..], k_row, s);
                s.iter_mut().for_each(|v| *v *= d.scale);
            }
            softmax(s);
            // SAFETY: pair (t, h) is visited by exactly one task; its output range is
            // disjoint from every other pair's.
            let o = unsafe { outp.slice(t * o_row + h * hv, hv) };
            dot_rows_f32(s, &v_cache[kvh * hv * n_ctx..], n_ctx, o);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_position_returns_its_value() {
        let pool = ThreadPool::new(1);
        let d = AttnDims { n_head: 2, n_head_kv: 1, head_dim_k: 2, head_dim_v: 2, scale: 1.0 };
        let q = [1.0, 0.0, 0.0, 1.0];
        let k = [0.5, 0.5];
        let v = [3.0, -1.0]; // transposed (2 dims, n_ctx 1)
        let mut scores = vec![0.0; 4];
        let mut out = [0.0; 4];
        attention(&pool, &d, &q, 1, 0, &k, &v, &mut scores, 2, &mut out);
        assert_eq!(out, [3.0, -1.0, 3.0, -1.0]);
    }

    #[test]
    fn softmax_sums_to_one() {
        let mut x = [1.0f32, 2.0, 3.0, -50.0];
        softmax(&mut x);
        assert!((x.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(x[2] > x[1] && x[1] > x[0]);
    }
}
