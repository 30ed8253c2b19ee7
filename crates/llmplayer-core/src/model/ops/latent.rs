//! Attention over a multi-head latent attention cache (llama.cpp's K-only cache of
//! deepseek2): one KV head whose rows are `[normalized latent | roped shared key]`
//! (head_dim_k wide), with V the first head_dim_v values of each row, so no V is stored.
//! llama.cpp reads V as a transposed copy of that view made for every pass and dots the
//! probabilities with each of its rows; here each probability instead scales its K row into
//! interleaved accumulators, so the cache is read once, in order, and nothing is copied, while
//! every output sums in the order llama.cpp's AVX2 build does (`f32dot`): a batch's
//! `mul_mat(v, kq)` as tinyBLAS (8 lanes, `hsum`), one token's as `ggml_vec_dot_f32` over the
//! padded length (4 x 8 lanes, `GGML_F32x8_REDUCE`). An int8 activation downstream can flip
//! on one ulp, so the order matters (deepseek2.Q4_K_M's prefill has such a flip).
//!
//! Scores: q·k as the dense f32 path computes them (`ggml_vec_dot_f32`); an f16 cache
//! rounds q to f16 first and the probabilities before the product, as `mul_mat` with F16
//! operands does (summed in the crate's order, like the dense f16 path).

use super::attention::{softmax, AttnDims};
use super::expf::fma;
use super::f32dot::{self, Order};
use crate::quant::float::{f16_to_f32, f32_to_f16};
use crate::quant::{QuantizeRowFn, VecDotFn};

/// Accumulator slots per output of `p·V`: tinyBLAS's 8 lanes (a batch) or
/// `ggml_vec_dot_f32`'s 4 x 8 (one token).
pub(super) const MAX_SLOTS: usize = 32;

/// One (query head, token) pair over an f32 latent cache `k` (n_ctx, head_dim_k); `s` is
/// (n_kv,), `acc` (MAX_SLOTS * head_dim_v,), `o` (head_dim_v,).
#[allow(clippy::too_many_arguments)]
pub(super) fn head_f32(d: &AttnDims, qv: &[f32], k: &[f32], batched: bool, s: &mut [f32], acc: &mut [f32], o: &mut [f32]) {
    let hk = d.head_dim_k;
    f32dot::dot_rows(qv, k, hk, s, Order::VecDot);
    s.iter_mut().for_each(|v| *v *= d.scale);
    softmax(s, d.rounding);
    let slots = if batched { 8 } else { MAX_SLOTS };
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has FMA (checked just above).
            return unsafe { pv_fma(s, k, hk, slots, acc, o) };
        }
    }
    pv_any(s, k, hk, slots, acc, o)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn pv_fma(s: &[f32], k: &[f32], hk: usize, slots: usize, acc: &mut [f32], o: &mut [f32]) {
    pv_any(s, k, hk, slots, acc, o)
}

/// `o[c] = sum_j s[j] * k[j * hk + c]`: position j FMA'd into slot `j % slots` of each
/// output, then the slots reduced as tinyBLAS's `hsum` (8) or `GGML_F32x8_REDUCE` (32).
/// Slot by slot and in tiles of outputs, so each tile's accumulators stay in registers over
/// the slot's positions (every K element is read once) and the reduction runs across outputs.
#[inline(always)]
fn pv_any(s: &[f32], k: &[f32], hk: usize, slots: usize, acc: &mut [f32], o: &mut [f32]) {
    let hv = o.len();
    let acc = &mut acc[..slots * hv];
    for sl in 0..slots {
        let a_sl = &mut acc[sl * hv..(sl + 1) * hv];
        let mut c0 = 0;
        while c0 + PV_TILE <= hv {
            pv_tile::<PV_TILE>(s, k, hk, sl, slots, c0, &mut a_sl[c0..c0 + PV_TILE]);
            c0 += PV_TILE;
        }
        while c0 + 8 <= hv {
            pv_tile::<8>(s, k, hk, sl, slots, c0, &mut a_sl[c0..c0 + 8]);
            c0 += 8;
        }
        while c0 < hv {
            pv_tile::<1>(s, k, hk, sl, slots, c0, &mut a_sl[c0..c0 + 1]);
            c0 += 1;
        }
    }
    let mut c0 = 0;
    while c0 + 8 <= hv {
        reduce::<8>(acc, hv, slots, c0, &mut o[c0..c0 + 8]);
        c0 += 8;
    }
    while c0 < hv {
        reduce::<1>(acc, hv, slots, c0, &mut o[c0..c0 + 1]);
        c0 += 1;
    }
}

/// Outputs `c0..c0 + W` from their slots (`acc`: (slots, hv)), elementwise across outputs.
#[inline(always)]
fn reduce<const W: usize>(acc: &[f32], hv: usize, slots: usize, c0: usize, o: &mut [f32]) {
    let l = |i: usize| -> [f32; W] { acc[i * hv + c0..][..W].try_into().expect("W values") };
    let add = |a: [f32; W], b: [f32; W]| -> [f32; W] { std::array::from_fn(|c| a[c] + b[c]) };
    let r = if slots == 8 {
        let t: [[f32; W]; 4] = std::array::from_fn(|i| add(l(i + 4), l(i)));
        add(add(t[0], t[2]), add(t[1], t[3]))
    } else {
        let v: [[f32; W]; 8] = std::array::from_fn(|i| add(add(l(i), l(16 + i)), add(l(8 + i), l(24 + i))));
        let t: [[f32; W]; 4] = std::array::from_fn(|i| add(v[i], v[i + 4]));
        add(add(t[0], t[1]), add(t[2], t[3]))
    };
    o.copy_from_slice(&r);
}

/// Outputs per register tile of [`pv_any`] (eight AVX2 registers).
const PV_TILE: usize = 64;

/// Slot `sl`'s sums for outputs `c0..c0 + W`: positions sl, sl + slots, ... in order.
#[inline(always)]
fn pv_tile<const W: usize>(s: &[f32], k: &[f32], hk: usize, sl: usize, slots: usize, c0: usize, out: &mut [f32]) {
    let mut a = [0f32; W];
    let mut j = sl;
    while j < s.len() {
        let (p, kr) = (s[j], &k[j * hk + c0..][..W]);
        for (x, &v) in a.iter_mut().zip(kr) {
            *x = fma(p, v, *x);
        }
        j += slots;
    }
    out.copy_from_slice(&a);
}

/// [`head_f32`] over an f16 latent cache (bytes): q rounded to f16 in `conv`
/// ((2 * head_dim_k,) bytes) for `ggml_vec_dot_f16`, the probabilities rounded to f16.
#[allow(clippy::too_many_arguments)]
pub(super) fn head_f16(d: &AttnDims, qv: &[f32], k: &[u8], (to_f16, dot): (QuantizeRowFn, VecDotFn), s: &mut [f32], conv: &mut [u8], o: &mut [f32]) {
    let (hk, hv) = (d.head_dim_k, d.head_dim_v);
    let qh = &mut conv[..2 * hk];
    to_f16(qv, qh);
    for (j, sj) in s.iter_mut().enumerate() {
        *sj = dot(hk, &k[j * 2 * hk..], qh) * d.scale;
    }
    softmax(s, d.rounding);
    o.fill(0.0);
    for (j, &p) in s.iter().enumerate() {
        let p = f16_to_f32(f32_to_f16(p));
        let row = &k[j * 2 * hk..][..2 * hv];
        o.iter_mut().zip(row.chunks_exact(2)).for_each(|(a, b)| *a += p * f16_to_f32(u16::from_le_bytes([b[0], b[1]])));
    }
}

#[cfg(test)]
mod tests {
    use super::super::attention::{attention, AttnScratch, KvView};
    use super::super::expf::Rounding;
    use crate::model::kv::KvType;
    use crate::parallel::ThreadPool;

    /// A latent cache gives what a plain cache with V copied out of K gives, bit for bit (the
    /// same sums in the same order), one token and a batch.
    #[test]
    fn latent_matches_a_cache_with_v_copied_out() {
        let (n_head, hk, hv, n_ctx, n_tok) = (4, 40, 32, 37, 5);
        let d = super::AttnDims { n_head, n_head_kv: 1, head_dim_k: hk, head_dim_v: hv, scale: 0.3, flash: false, rounding: Rounding::Avx2, window: None, softcap: None, chunk: None, sinks: None };
        let mut seed = 7u32;
        let mut rnd = || {
            seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        let k: Vec<f32> = (0..n_ctx * hk).map(|_| rnd()).collect();
        let q: Vec<f32> = (0..n_tok * n_head * hk).map(|_| rnd()).collect();
        let mut v_t = vec![0.0; hv * n_ctx];
        for j in 0..n_ctx {
            for c in 0..hv {
                v_t[c * n_ctx + j] = k[j * hk + c];
            }
        }
        let pool = ThreadPool::new(1);
        for n_tok in [1, n_tok] {
            let pos0 = n_ctx - n_tok;
            let run = |kv: KvView| {
                let mut s = AttnScratch::new(KvType::F32, 1, n_ctx, hk, hv);
                let mut out = vec![0.0; n_tok * n_head * hv];
                attention(&pool, &d, &q, n_tok, pos0, kv, &mut s, &mut out);
                out
            };
            let (a, b) = (run(KvView::LatentF32 { k: &k }), run(KvView::F32 { k: &k, v_t: &v_t }));
            assert_eq!(a, b, "{n_tok} tokens");
        }
    }
}
