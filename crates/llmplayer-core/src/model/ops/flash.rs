//! Attention rounded as llama.cpp's CPU flash attention (`ggml_compute_forward_flash_attn_ext_f16`
//! in ggml-cpu `ops.cpp`), which `llama-perplexity`, `llama-cli` and `llama-server` use by
//! default on the CPU (`-fa auto`). Its graph casts an f32 cache to f16 first (`build_attn_mha`),
//! so K and V are f16 whatever `-ctk/-ctv` say; the session stores them as f16 in this mode. On
//! real weights that is worth about 0.1% of perplexity (SmolLM2 Q4_1, `gpl-3.0.txt`, ctx 512:
//! 18.3459 with flash attention for f32 and f16 caches alike, 18.3643 without, one build).
//!
//! Per query row (one head), llama.cpp picks by the batch's token count:
//! * 64 tokens or more, the tiled kernel ([`row_tiled`]): keys in tiles of 64 from position 0,
//!   widened to f32; scores are one FMA chain over the head dimension from 0 (its `simd_gemm`),
//!   times the scale; per tile with a visible key: `m' = max(m, tile max)`; when it grows, the
//!   output and the sum are scaled by `expf(m - m')` (libm); the tile's probabilities are the
//!   vector exp of `s - m'`, summed as `ggml_vec_soft_max_f32` and added in f64, stored in f32;
//!   each output lane is one FMA chain over the tile's keys. Output times `1 / sum` at the end.
//! * fewer, the one-row kernel ([`row_online`]): q rounded to f16, `ggml_vec_dot_f16` times
//!   the scale per key; a new maximum scales the output and sum by `expf(m - s)`, else the
//!   weight is `expf(s - m)` (libm both); the output is kept in f16 (`ggml_vec_mad_f16`,
//!   `ggml_vec_scale_f16`: rounded after every step); `sum = fma(sum, ms, w)` (the reference
//!   build contracts it).
//!
//! Attention sinks (gpt-oss) join the maximum and the sum after the last key.
//!
//! Soft-capping, sliding windows and chunks ([`Logits`]) as both kernels apply them: the scale is
//! divided by the cap beforehand, the scaled score becomes `cap * tanhf(s)`, and keys outside
//! the window are skipped (one-row kernel) or get -inf, so exp gives them 0 (tiled kernel,
//! which skips a tile with no visible key).
//!
//! (llama.cpp splits a single query over 512 or more keys across threads and merges the
//! partial sums; that rounding depends on its thread count and is not reproduced.)

use super::expf::{self, fma, Rounding};
use super::glibc;
use crate::quant::float::{f16_to_f32, f32_to_f16};
use crate::quant::traits;
use crate::GgmlType;

/// Keys per tile of the tiled kernel (`GGML_FA_TILE_KV`), and the token count from which
/// llama.cpp uses it (`GGML_FA_TILE_Q`).
pub const TILE: usize = 64;

#[inline(always)]
fn h(b: &[u8], i: usize) -> f32 {
    f16_to_f32(u16::from_le_bytes([b[2 * i], b[2 * i + 1]]))
}

#[inline(always)]
fn round_f16(x: f32) -> f32 {
    f16_to_f32(f32_to_f16(x))
}

/// How one query's raw q·k dots become softmax logits, and which keys it sees: `first..n_kv`.
#[derive(Clone, Copy, Debug)]
pub struct Logits {
    /// The attention scale, divided by the soft-cap when there is one (as llama.cpp does).
    scale: f32,
    softcap: Option<f32>,
    /// The first visible key (0 without a window or chunk).
    pub first: usize,
    /// The head's attention sink, folded in after the keys ([`Logits::finish`]).
    sink: Option<f32>,
}

impl Logits {
    pub fn new(scale: f32, softcap: Option<f32>, first: usize, sink: Option<f32>) -> Logits {
        let scale = softcap.map_or(scale, |c| scale / c);
        Logits { scale, softcap, first, sink }
    }

    /// After the last key: the sink joins the running maximum `m` and sum (llama.cpp's
    /// kernels: when it exceeds the maximum the output and sum are scaled by `expf(m - sink)`
    /// and 1 is added, else `expf(sink - m)` is; `S*ms + vs`, which the reference build
    /// contracts to an fma in the tiled kernel (`fused`) and not in the one-row one); then the
    /// output is divided by the sum.
    #[inline(always)]
    fn finish(&self, m: f32, mut sum: f32, o: &mut [f32], fused: bool) {
        if let Some(sk) = self.sink {
            let (mut ms, mut vs) = (1f32, 1f32);
            if sk > m {
                ms = glibc::expf(m - sk);
                o.iter_mut().for_each(|x| *x *= ms);
            } else {
                vs = glibc::expf(sk - m);
            }
            sum = if fused { fma(sum, ms, vs) } else { sum * ms + vs };
        }
        let inv = if sum == 0.0 { 0.0 } else { 1.0 / sum };
        o.iter_mut().for_each(|x| *x *= inv);
    }

    #[inline(always)]
    fn apply(&self, dot: f32) -> f32 {
        let s = dot * self.scale;
        match self.softcap {
            Some(cap) => cap * s.tanh(),
            None => s,
        }
    }
}

/// Where the tiled kernel reads K and V: an f32 cache whose values are f16-rounded (read in
/// place), or an f16 cache (each tile widened to f32 in a scratch buffer first).
pub enum Cache<'a> {
    /// K rows `k_stride` apart from the head's first key; V transposed, (head_dim_v, n_ctx)
    F32 { k: &'a [f32], v_t: &'a [f32] },
    /// The same layouts as f16 bytes, and (TILE * (head_dim_k + head_dim_v),) scratch
    F16 { k: &'a [u8], v_t: &'a [u8], tile: &'a mut [f32] },
}

/// One query row over keys `0..n_kv`, tiled kernel.
///
/// * `q`: (head_dim_k,) f32; `k_stride`: elements between keys; `n_ctx`: V's row length
/// * `lg`: scale, soft-cap, first visible key
/// * `r`: whose vector exp; `p`: (TILE,) scratch; `o`: (head_dim_v,) output
#[allow(clippy::too_many_arguments)]
pub fn row_tiled(q: &[f32], cache: Cache<'_>, k_stride: usize, n_ctx: usize, n_kv: usize, lg: Logits, r: Rounding, p: &mut [f32], o: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has FMA (checked just above).
            return unsafe { row_tiled_fma(q, cache, k_stride, n_ctx, n_kv, lg, r, p, o) };
        }
    }
    row_tiled_any(q, cache, k_stride, n_ctx, n_kv, lg, r, p, o)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn row_tiled_fma(q: &[f32], cache: Cache<'_>, k_stride: usize, n_ctx: usize, n_kv: usize, lg: Logits, r: Rounding, p: &mut [f32], o: &mut [f32]) {
    row_tiled_any(q, cache, k_stride, n_ctx, n_kv, lg, r, p, o)
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn row_tiled_any(q: &[f32], mut cache: Cache<'_>, k_stride: usize, n_ctx: usize, n_kv: usize, lg: Logits, r: Rounding, p: &mut [f32], o: &mut [f32]) {
    let (hk, hv) = (q.len(), o.len());
    let widen = traits(GgmlType::F16).expect("f16 kernels").dequantize_row;
    let (mut m, mut sum) = (f32::NEG_INFINITY, 0f32);
    o.fill(0.0);
    // Tiles wholly before the window are skipped, as llama.cpp skips all-masked tiles.
    for t0 in (lg.first / TILE * TILE..n_kv).step_by(TILE) {
        let len = TILE.min(n_kv - t0);
        let p = &mut p[..len];
        // The tile's keys (rows `ks` apart) and values (rows `vs` apart).
        let (kt, ks, vt, vs): (&[f32], usize, &[f32], usize) = match &mut cache {
            Cache::F32 { k, v_t } => (&k[t0 * k_stride..], k_stride, &v_t[t0..], n_ctx),
            Cache::F16 { k, v_t, tile } => {
                let (kw, vw) = tile.split_at_mut(TILE * hk);
                for (j, row) in kw.chunks_exact_mut(hk).take(len).enumerate() {
                    widen(&k[2 * (t0 + j) * k_stride..][..2 * hk], row);
                }
                for (dv, row) in vw.chunks_exact_mut(TILE).take(hv).enumerate() {
                    widen(&v_t[2 * (dv * n_ctx + t0)..][..2 * len], &mut row[..len]);
                }
                (kw, hk, vw, TILE)
            }
        };
        // Eight keys at a time: eight independent FMA chains over the head dimension.
        for (j0, pc) in (0..len).step_by(8).zip(p.chunks_mut(8)) {
            let rows: [&[f32]; 8] = std::array::from_fn(|l| &kt[(j0 + l.min(pc.len() - 1)) * ks..][..hk]);
            let mut acc = [0f32; 8];
            for (d, &qd) in q.iter().enumerate() {
                for (a, row) in acc.iter_mut().zip(rows.iter()) {
                    *a = fma(row[d], qd, *a);
                }
            }
            for (pv, a) in pc.iter_mut().zip(acc) {
                *pv = lg.apply(a);
            }
        }
        if lg.first > t0 {
            p[..lg.first - t0].fill(f32::NEG_INFINITY);
        }
        let tmax = p.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let m_new = m.max(tmax);
        if m_new > m {
            let ms = glibc::expf(m - m_new);
            o.iter_mut().for_each(|x| *x *= ms);
            sum *= ms;
        }
        m = m_new;
        sum = (sum as f64 + expf::exp_sub_sum(p, m, r)) as f32;
        // Eight output lanes at a time: each one FMA chain over the tile's keys.
        for (dv0, oc) in (0..hv).step_by(8).zip(o.chunks_mut(8)) {
            let rows: [&[f32]; 8] = std::array::from_fn(|l| &vt[(dv0 + l.min(oc.len() - 1)) * vs..][..len]);
            let mut acc = [0f32; 8];
            acc[..oc.len()].copy_from_slice(oc);
            for (i, &pv) in p.iter().enumerate() {
                for (a, row) in acc.iter_mut().zip(rows.iter()) {
                    *a = fma(row[i], pv, *a);
                }
            }
            oc.copy_from_slice(&acc[..oc.len()]);
        }
    }
    lg.finish(m, sum, o, true);
}

/// [`row_online`] over an f32 cache of f16-rounded values: q rounded to f16 too, whose
/// products are exact in f32, so `ggml_vec_dot_f32`'s order (also `ggml_vec_dot_f16`'s) gives
/// its result.
/// `q16`: (head_dim_k,) scratch, `s`: (n_kv,) scratch for the scores.
#[allow(clippy::too_many_arguments)]
pub fn row_online_f32(q: &[f32], k: &[f32], k_stride: usize, v_t: &[f32], n_ctx: usize, n_kv: usize, lg: Logits, q16: &mut [f32], s: &mut [f32], o: &mut [f32]) {
    let q16 = &mut q16[..q.len()];
    q16.iter_mut().zip(q).for_each(|(d, &x)| *d = round_f16(x));
    let s = &mut s[lg.first..n_kv];
    super::f32dot::dot_rows(q16, &k[lg.first * k_stride..], k_stride, s, super::f32dot::Order::VecDot);
    online(s, |dv, j| v_t[dv * n_ctx + lg.first + j], lg, o);
}

/// The online softmax of the one-row kernel over the visible keys' raw scores `s`, V read by
/// `v(dim, j)` (j indexes `s`).
#[inline(always)]
fn online(s: &[f32], v: impl Fn(usize, usize) -> f32, lg: Logits, o: &mut [f32]) {
    let (mut m, mut sum) = (f32::NEG_INFINITY, 0f32);
    o.fill(0.0);
    for (j, &sj) in s.iter().enumerate() {
        let sj = lg.apply(sj);
        let (mut ms, mut w) = (1f32, 1f32);
        if sj > m {
            ms = glibc::expf(m - sj);
            m = sj;
            o.iter_mut().for_each(|x| *x = round_f16(*x * ms));
        } else {
            w = glibc::expf(sj - m);
        }
        for (dv, od) in o.iter_mut().enumerate() {
            *od = round_f16(fma(v(dv, j), w, *od));
        }
        sum = fma(sum, ms, w);
    }
    lg.finish(m, sum, o, false);
}

/// One query row over keys `0..n_kv` of an f16 cache, one-row kernel (arguments as
/// [`row_tiled`]; `tile`: (2 * head_dim_k,) scratch for q rounded to f16 and a widened key,
/// `s`: (n_kv,) scratch for the scores). `ggml_vec_dot_f16` sums the exact f16 products in
/// `ggml_vec_dot_f32`'s order, so that is what runs on the widened values.
#[allow(clippy::too_many_arguments)]
pub fn row_online(q: &[f32], k: &[u8], k_stride: usize, v_t: &[u8], n_ctx: usize, n_kv: usize, lg: Logits, tile: &mut [f32], s: &mut [f32], o: &mut [f32]) {
    let hk = q.len();
    let widen = traits(GgmlType::F16).expect("f16 kernels").dequantize_row;
    let (q16, key) = tile.split_at_mut(hk);
    q16.iter_mut().zip(q).for_each(|(d, &x)| *d = round_f16(x));
    let key = &mut key[..hk];
    let s = &mut s[lg.first..n_kv];
    for (j, sj) in s.iter_mut().enumerate() {
        widen(&k[2 * (lg.first + j) * k_stride..][..2 * hk], key);
        super::f32dot::dot_rows(q16, key, 0, std::slice::from_mut(sj), super::f32dot::Order::VecDot);
    }
    online(s, |dv, j| h(v_t, dv * n_ctx + lg.first + j), lg, o);
}
