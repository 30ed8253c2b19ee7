//! The device seam: every op a block runs (llama.cpp's ggml ops: `mul_mat`, `mul_mat_id`,
//! `rms_norm`, `rope`, attention, `swiglu`, `add`, `get_rows`) goes through [`Device`], so
//! the blocks say *what* runs and a device says *where*. [`Cpu`] is today's engine: the
//! kernels of `quant/` and `ops/` on host slices, on the session's thread pool.
//!
//! What a second device (OpenCL) adds here: its own weight and activation buffers behind
//! these calls (associated types in place of `Mat` and `&[f32]`), uploaded at load. The
//! blocks, the batch logic and the memory rules stay as they are.

use super::ops::attention::{attention, AttnDims, AttnScratch, KvView};
use super::ops::expf::Rounding;
use super::ops::ffn::{geglu_inplace, gelu_inplace, swiglu_fused_rows, swiglu_inplace, swiglu_limit_inplace, swiglu_oai_inplace};
use super::ops::norm::{layer_norm_rows, rms_norm_rows, rms_norm_rows_inplace};
use super::offload::Offload;
use super::ops::rope::Rope;
use super::weights::Mat;
use crate::parallel::ThreadPool;
use crate::quant::{matvecs_par, Matvec, OutPtr, QuantizedActs};
use crate::GgmlType;

/// Reused buffers of [`Device::matmul_id`]: the rows routed to one expert, gathered.
#[derive(Default)]
pub(crate) struct ExpertScratch {
    /// (m, cols) the rows one expert takes
    x: Vec<f32>,
    /// (m, rows) their outputs
    y: Vec<f32>,
    /// (m,) where each output goes: `t * k + slot`
    dst: Vec<usize>,
}

impl ExpertScratch {
    /// Room for `rows` routed rows of up to `width` values, so decoding does not allocate.
    pub fn with_capacity(rows: usize, width: usize) -> ExpertScratch {
        ExpertScratch { x: Vec::with_capacity(rows * width), y: Vec::with_capacity(rows * width), dst: Vec::with_capacity(rows) }
    }
}

pub(crate) trait Device: Sync {
    /// `out (n, w.rows) = x (n, w.cols) · Wᵀ`.
    fn matmul(&self, w: &Mat, x: &[f32], n: usize, out: &mut [f32], acts: &mut QuantizedActs);
    /// Row `t` of `x` (n, cols) through each expert `ids[t * k + j]` of `experts`, into row
    /// `t * k + j` of `out` (n * k, rows) (ggml `mul_mat_id`).
    #[allow(clippy::too_many_arguments)]
    fn matmul_id(&self, experts: &[Mat], x: &[f32], n: usize, ids: &[u32], k: usize, out: &mut [f32], acts: &mut QuantizedActs, s: &mut ExpertScratch);
    /// Row `r` of an embedding matrix for each token (ggml `get_rows`), into `out` (n, cols).
    fn get_rows(&self, w: &Mat, tokens: &[u32], out: &mut [f32]);
    /// RMSNorm of each `width`-wide row of `x`, times `w`, into `out`.
    fn rms_norm(&self, x: &[f32], w: Option<&[f32]>, eps: f32, width: usize, out: &mut [f32]);
    fn rms_norm_inplace(&self, x: &mut [f32], w: Option<&[f32]>, eps: f32, width: usize);
    /// LayerNorm of each `width`-wide row of `x`, times `w`, into `out`.
    fn layer_norm(&self, x: &[f32], w: Option<&[f32]>, eps: f32, width: usize, out: &mut [f32]);
    /// Rope on every `head_dim` head of each `row`-wide row of `x`, `cs`: (n, n_rot) cos/sin.
    fn rope(&self, rope: &Rope, cs: &[f32], x: &mut [f32], row: usize, head_dim: usize);
    /// Attention of `n` queries at positions `pos0..` of one sequence over its cache.
    #[allow(clippy::too_many_arguments)]
    fn attention(&self, d: &AttnDims, q: &[f32], n: usize, pos0: usize, kv: KvView<'_>, s: &mut AttnScratch, out: &mut [f32]);
    /// `gate = silu(gate) * up`.
    fn swiglu(&self, gate: &mut [f32], up: &[f32], r: Rounding);
    /// gpt-oss's clamped SwiGLU (ggml `swiglu_oai`): `g = min(gate, limit)`,
    /// `u = clamp(up, -limit, limit)`, `gate = g / (1 + expf(-alpha g)) * (u + 1)`.
    fn swiglu_oai(&self, gate: &mut [f32], up: &[f32], alpha: f32, limit: f32);
    /// step35's clamped SwiGLU: `gate = min(silu(gate), limit) * clamp(up, -limit, limit)`.
    fn swiglu_limit(&self, gate: &mut [f32], up: &[f32], limit: f32, r: Rounding);
    /// `gate = gelu(gate) * up` (ggml's table GELU).
    fn geglu(&self, gate: &mut [f32], up: &[f32]);
    /// `x = gelu(x)`.
    fn gelu(&self, x: &mut [f32]);
    /// Rows of `[gate | up]` (2 * n_ff wide) to `silu(gate) * up` rows in `out`.
    fn swiglu_fused(&self, fused: &[f32], n_ff: usize, out: &mut [f32], r: Rounding);
    /// `x += y * scale` (or `x += y`).
    fn add(&self, x: &mut [f32], y: &[f32], scale: Option<f32>);
    /// `f(i, chunk)` for each `chunk`-long piece `i` of `data`, in parallel (the recurrent
    /// mixers' per-head scans over their state).
    fn par_chunks(&self, data: &mut [f32], chunk: usize, f: &(dyn Fn(usize, &mut [f32]) + Sync));
}

/// Routed rows up to which [`Device::matmul_id`] runs one mat-vec per row in one parallel
/// region (when every expert takes at most one row).
const MATVECS_MAX_ROWS: usize = 256;

fn all_distinct(ids: &[u32]) -> bool {
    ids.iter().enumerate().all(|(i, a)| !ids[..i].contains(a))
}

/// The CPU: weights read in place from the model file's bytes, work split over `pool`; the
/// products of weights an [`Offload`] device holds go to that device first.
pub(crate) struct Cpu<'a> {
    pub file: &'a [u8],
    pub pool: &'a ThreadPool,
    pub offload: Option<&'a dyn Offload>,
}

impl Device for Cpu<'_> {
    fn par_chunks(&self, data: &mut [f32], chunk: usize, f: &(dyn Fn(usize, &mut [f32]) + Sync)) {
        self.pool.for_each_chunk_mut(data, chunk, f);
    }

    fn matmul(&self, w: &Mat, x: &[f32], n: usize, out: &mut [f32], acts: &mut QuantizedActs) {
        if let (Some(device), Some(start)) = (self.offload, w.file_start()) {
            if device.matmul(start, &x[..n * w.cols], n, &mut out[..n * w.rows]) {
                return;
            }
        }
        w.matmul(self.file, self.pool, x, n, out, acts);
    }

    fn matmul_id(&self, experts: &[Mat], x: &[f32], n: usize, ids: &[u32], k: usize, out: &mut [f32], acts: &mut QuantizedActs, s: &mut ExpertScratch) {
        let Some(first) = experts.first() else { return };
        let (cols, rows) = (first.cols, first.rows);
        let n_rows = n * k;
        // A stack the device holds (the plan takes stacks whole): each routed row through its
        // expert there; a product it fails is computed here, one row at a time.
        if let Some(device) = self.offload.filter(|d| first.file_start().is_some_and(|s| d.holds(s))) {
            for (i, &e) in ids[..n_rows].iter().enumerate() {
                let (w, t) = (&experts[e as usize], i / k);
                let (x, o) = (&x[t * cols..(t + 1) * cols], &mut out[i * rows..(i + 1) * rows]);
                if !w.file_start().is_some_and(|start| device.matmul(start, x, 1, o)) {
                    w.matmul(self.file, self.pool, x, 1, o, acts);
                }
            }
            return;
        }
        let vdt = crate::quant::traits(first.ty).map(|t| t.vec_dot_type);
        let quantized = vdt.is_some_and(|t| t != GgmlType::F32) && experts.iter().all(|w| w.ty == first.ty);
        if quantized && n_rows <= MATVECS_MAX_ROWS && all_distinct(&ids[..n_rows]) {
            // Every expert takes one row (decode): each is a plain mat-vec, rounded as
            // llama.cpp's vec_dot, and all of them run in one parallel region.
            acts.quantize(vdt.expect("checked"), &x[..n * cols], cols);
            let (acts, out) = (&*acts, OutPtr::new(&mut out[..n_rows * rows]));
            let job = |i: usize| {
                let w = &experts[ids[i] as usize];
                Matvec { w: w.bytes(self.file), ty: w.ty, rows, cols, act: acts.row(i / k), out: out.at(i * rows) }
            };
            // SAFETY: routed row i writes out[i * rows..(i + 1) * rows] only.
            unsafe { matvecs_par(self.pool, n_rows, job) };
            return;
        }
        for (e, w) in experts.iter().enumerate() {
            s.dst.clear();
            s.dst.extend(ids[..n * k].iter().enumerate().filter(|(_, &id)| id as usize == e).map(|(i, _)| i));
            let m = s.dst.len();
            if m == 0 {
                continue;
            }
            s.x.resize(m * cols, 0.0);
            s.y.resize(m * rows, 0.0);
            for (xr, &i) in s.x.chunks_exact_mut(cols).zip(&s.dst) {
                let t = i / k;
                xr.copy_from_slice(&x[t * cols..(t + 1) * cols]);
            }
            if crate::quant::batch_rounds_as_vec_dot(w.ty) {
                w.matmul(self.file, self.pool, &s.x, m, &mut s.y, acts);
            } else {
                // llama.cpp's mul_mat_id runs `vec_dot` per row, where this type's batched
                // kernels round as tinyBLAS (its mul_mat): row by row here too.
                for (xr, yr) in s.x.chunks_exact(cols).zip(s.y.chunks_exact_mut(rows)) {
                    w.matmul(self.file, self.pool, xr, 1, yr, acts);
                }
            }
            for (yr, &i) in s.y.chunks_exact(rows).zip(&s.dst) {
                out[i * rows..(i + 1) * rows].copy_from_slice(yr);
            }
        }
    }

    fn get_rows(&self, w: &Mat, tokens: &[u32], out: &mut [f32]) {
        for (o, &t) in out.chunks_exact_mut(w.cols).zip(tokens) {
            w.row(self.file, t as usize, o);
        }
    }

    fn rms_norm(&self, x: &[f32], w: Option<&[f32]>, eps: f32, width: usize, out: &mut [f32]) {
        rms_norm_rows(x, w, eps, width, out);
    }

    fn rms_norm_inplace(&self, x: &mut [f32], w: Option<&[f32]>, eps: f32, width: usize) {
        rms_norm_rows_inplace(x, w, eps, width);
    }

    fn layer_norm(&self, x: &[f32], w: Option<&[f32]>, eps: f32, width: usize, out: &mut [f32]) {
        layer_norm_rows(x, w, eps, width, out);
    }

    fn rope(&self, rope: &Rope, cs: &[f32], x: &mut [f32], row: usize, head_dim: usize) {
        rope.apply_rows(cs, x, row, head_dim);
    }

    fn attention(&self, d: &AttnDims, q: &[f32], n: usize, pos0: usize, kv: KvView<'_>, s: &mut AttnScratch, out: &mut [f32]) {
        attention(self.pool, d, q, n, pos0, kv, s, out);
    }

    fn swiglu(&self, gate: &mut [f32], up: &[f32], r: Rounding) {
        swiglu_inplace(gate, up, r);
    }

    fn swiglu_oai(&self, gate: &mut [f32], up: &[f32], alpha: f32, limit: f32) {
        swiglu_oai_inplace(gate, up, alpha, limit);
    }

    fn swiglu_limit(&self, gate: &mut [f32], up: &[f32], limit: f32, r: Rounding) {
        swiglu_limit_inplace(gate, up, limit, r);
    }

    fn geglu(&self, gate: &mut [f32], up: &[f32]) {
        geglu_inplace(gate, up);
    }

    fn gelu(&self, x: &mut [f32]) {
        gelu_inplace(x);
    }

    fn swiglu_fused(&self, fused: &[f32], n_ff: usize, out: &mut [f32], r: Rounding) {
        swiglu_fused_rows(fused, n_ff, out, r);
    }

    fn add(&self, x: &mut [f32], y: &[f32], scale: Option<f32>) {
        match scale {
            Some(s) => x.iter_mut().zip(y).for_each(|(a, &b)| *a += b * s),
            None => x.iter_mut().zip(y).for_each(|(a, &b)| *a += b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_id_routes_each_row_through_its_experts() {
        let (n_exp, rows, cols, n, k) = (4, 5, 8, 6, 2);
        let val = |i: usize| ((i * 37 % 17) as f32 - 8.0) * 0.25;
        let experts: Vec<Mat> = (0..n_exp).map(|e| Mat::from_f32(rows, cols, &(0..rows * cols).map(|i| val(i + 100 * e)).collect::<Vec<_>>())).collect();
        let x: Vec<f32> = (0..n * cols).map(|i| val(i + 7)).collect();
        // Row t takes experts (t % 4, (t + 1) % 4), expert 3 in only some rows.
        let ids: Vec<u32> = (0..n).flat_map(|t| [(t % n_exp) as u32, ((t + 2) % 3) as u32]).collect();
        let pool = ThreadPool::new(1);
        let cpu = Cpu { file: &[], pool: &pool, offload: None };
        let (mut acts, mut s) = (QuantizedActs::new(), ExpertScratch::default());
        let mut out = vec![f32::NAN; n * k * rows];
        cpu.matmul_id(&experts, &x, n, &ids, k, &mut out, &mut acts, &mut s);
        for t in 0..n {
            for j in 0..k {
                let mut want = vec![0f32; rows];
                cpu.matmul(&experts[ids[t * k + j] as usize], &x[t * cols..(t + 1) * cols], 1, &mut want, &mut acts);
                assert_eq!(&out[(t * k + j) * rows..][..rows], &want[..], "row {t}, slot {j}");
            }
        }
    }

    /// One row per expert (decode, and one token's heads) takes the one-region mat-vec path:
    /// the same values, bit for bit, as each row through its expert alone, on one thread or two.
    #[test]
    fn matmul_id_one_row_per_expert_matches_each_matvec() {
        let (n_exp, rows, cols) = (4, 512, 256);
        let ty = GgmlType::Q8_0;
        let rb = crate::quant::row_bytes(ty, cols);
        let val = |i: usize| ((i * 7919 % 1013) as f32 / 1013.0 - 0.5) * 0.1;
        let mut file = vec![0u8; n_exp * rows * rb];
        let w: Vec<f32> = (0..n_exp * rows * cols).map(val).collect();
        crate::quant::quantize_row(ty, &w, &mut file);
        let experts: Vec<Mat> = (0..n_exp).map(|e| Mat::in_file(ty, rows, cols, e * rows * rb)).collect();
        for threads in [1, 2] {
            let pool = ThreadPool::new(threads);
            let cpu = Cpu { file: &file, pool: &pool, offload: None };
            let (mut acts, mut s) = (QuantizedActs::new(), ExpertScratch::default());
            // (n, k, ids): one token through 3 experts; 3 rows each through its own expert.
            for (n, k, ids) in [(1, 3, vec![2u32, 0, 3]), (3, 1, vec![1u32, 3, 0])] {
                let x: Vec<f32> = (0..n * cols).map(|i| val(i + 5)).collect();
                let mut out = vec![f32::NAN; n * k * rows];
                cpu.matmul_id(&experts, &x, n, &ids, k, &mut out, &mut acts, &mut s);
                for (i, &e) in ids.iter().enumerate() {
                    let mut want = vec![0f32; rows];
                    cpu.matmul(&experts[e as usize], &x[i / k * cols..(i / k + 1) * cols], 1, &mut want, &mut acts);
                    assert_eq!(&out[i * rows..(i + 1) * rows], &want[..], "{threads} threads, n {n}, row {i}");
                }
            }
        }
    }
}
