//! The gated delta rule of gated DeltaNet (llama.cpp's `ggml_gated_delta_net` on the CPU,
//! scalar gate per head), on one sequence's rows, and the L2 norm its queries and keys take
//! (`ggml_l2_norm`).
//!
//! A value head's state is the `(d_v, d_k)` matrix `M` (ggml's `[S_v, S_v]` state with row
//! `j` the column `S[:, j]` of the `(d_k, d_v)` matrix the papers write): row `j` maps a key
//! to value component `j`. Per row `t`:
//! `M = exp(g) M`, `δ = β (v - M k)`, `M += δ ⊗ k`, `o = scale · M q`.
//!
//! Kimi delta attention (KDA, the same ggml op with a `g` of `d_k` values per row) decays
//! each key channel by its own gate instead: `M[j][i] *= exp(g[i])` ([`kda_rule_head`]).

use super::expf::fma;
use super::f32dot::{dot_rows, Order};
use super::glibc::expf;

/// `x / max(‖x‖, eps)` in place, the square sum in f64 of f32 squares as ggml's `l2_norm`.
pub fn l2_norm(x: &mut [f32], eps: f32) {
    let sum: f64 = x.iter().map(|&v| (v * v) as f64).sum();
    let scale = 1.0 / (sum as f32).sqrt().max(eps);
    x.iter_mut().for_each(|v| *v *= scale);
}

/// `y += x * v` as `ggml_vec_mad_f32` rounds it on AVX2: fused over whole steps of 32, the
/// leftovers multiplied and added apart.
#[inline(always)]
fn vec_mad(y: &mut [f32], x: &[f32], v: f32) {
    let full = y.len() & !31;
    let (yf, yt) = y.split_at_mut(full);
    for (a, &b) in yf.iter_mut().zip(x) {
        *a = fma(b, v, *a);
    }
    for (a, &b) in yt.iter_mut().zip(&x[full..]) {
        *a += b * v;
    }
}

/// One value head's rows `t` of a run, each at `[t * stride..]` of its slice.
#[derive(Clone, Copy)]
pub struct HeadRows<'a> {
    /// key (and query) size
    pub d_k: usize,
    /// query and key (`d_k` each), value (`d_v`): the head's (L2-normed) vectors of row t
    pub q: &'a [f32],
    pub k: &'a [f32],
    pub v: &'a [f32],
    pub stride: usize,
    /// log-decay `g` and write strength `β` of row t, at `[t * gb_stride]` (KDA: `g` is the
    /// `d_k` values at `[t * gb_stride..]`)
    pub g: &'a [f32],
    pub beta: &'a [f32],
    pub gb_stride: usize,
}

/// The gated delta rule over `n` rows of one value head (see the module doc), `scale` the
/// query scale (`1 / sqrt(d_k)`): updates `s` ((d_v, d_k), row-major) and writes row t's
/// output to `y[t * y_stride..][..d_v]`.
pub fn delta_rule_head(x: HeadRows, n: usize, scale: f32, s: &mut [f32], y: &mut [f32], y_stride: usize) {
    rule_head::<false>(x, n, scale, s, y, y_stride)
}

/// [`delta_rule_head`] with KDA's per-channel decay: row t's `g` is `d_k` log-decays, one per
/// key channel, so state column i (of every row j) decays by `exp(g[i])`.
pub fn kda_rule_head(x: HeadRows, n: usize, scale: f32, s: &mut [f32], y: &mut [f32], y_stride: usize) {
    rule_head::<true>(x, n, scale, s, y, y_stride)
}

fn rule_head<const PER_CHANNEL: bool>(x: HeadRows, n: usize, scale: f32, s: &mut [f32], y: &mut [f32], y_stride: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has FMA (checked just above).
            return unsafe { rule_head_fma::<PER_CHANNEL>(x, n, scale, s, y, y_stride) };
        }
    }
    rule_head_any::<PER_CHANNEL>(x, n, scale, s, y, y_stride)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "fma")]
unsafe fn rule_head_fma<const PER_CHANNEL: bool>(x: HeadRows, n: usize, scale: f32, s: &mut [f32], y: &mut [f32], y_stride: usize) {
    rule_head_any::<PER_CHANNEL>(x, n, scale, s, y, y_stride)
}

#[inline(always)]
fn rule_head_any<const PER_CHANNEL: bool>(x: HeadRows, n: usize, scale: f32, s: &mut [f32], y: &mut [f32], y_stride: usize) {
    let d_k = x.d_k;
    let d_v = s.len() / d_k;
    for t in 0..n {
        let (q, k) = (&x.q[t * x.stride..][..d_k], &x.k[t * x.stride..][..d_k]);
        let v = &x.v[t * x.stride..][..d_v];
        let beta = x.beta[t * x.gb_stride];
        // The output row holds M k first, then the output.
        let yt = &mut y[t * y_stride..][..d_v];
        if PER_CHANNEL {
            // exp(g) per channel, in the output row until M k overwrites it (ggml keeps it in
            // its delta scratch the same way); then each state row times it.
            // (ggml requires d_k = d_v for it.)
            debug_assert_eq!(d_k, d_v);
            let g = &x.g[t * x.gb_stride..][..d_k];
            for (e, &gv) in yt.iter_mut().zip(g) {
                *e = expf(gv);
            }
            for row in s.chunks_exact_mut(d_k) {
                row.iter_mut().zip(yt.iter()).for_each(|(m, &e)| *m *= e);
            }
        } else {
            let decay = expf(x.g[t * x.gb_stride]);
            s.iter_mut().for_each(|m| *m *= decay);
        }
        dot_rows(k, s, d_k, yt, Order::VecDot);
        for ((row, &vj), &mk) in s.chunks_exact_mut(d_k).zip(v).zip(yt.iter()) {
            vec_mad(row, k, (vj - mk) * beta);
        }
        dot_rows(q, s, d_k, yt, Order::VecDot);
        yt.iter_mut().for_each(|o| *o *= scale);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rows of `[q | k | v | g | beta]` for `n` steps of one head (d_k = d_v = `d`).
    fn rows(n: usize, d: usize) -> Vec<f32> {
        let w = 3 * d + 2;
        let mut r: Vec<f32> = (0..n * w).map(|i| ((i * 37 % 23) as f32 - 11.0) / 8.0).collect();
        for t in 0..n {
            let row = &mut r[t * w..(t + 1) * w];
            l2_norm(&mut row[..d], 1e-6);
            l2_norm(&mut row[d..2 * d], 1e-6);
            row[3 * d] = -0.1 * (1.0 + row[3 * d].abs());
            row[3 * d + 1] = 1.0 / (1.0 + (-row[3 * d + 1]).exp());
        }
        r
    }

    fn head(r: &[f32], d: usize) -> HeadRows<'_> {
        let w = 3 * d + 2;
        HeadRows { d_k: d, q: r, k: &r[d..], v: &r[2 * d..], stride: w, g: &r[3 * d..], beta: &r[3 * d + 1..], gb_stride: w }
    }

    #[test]
    fn l2_norm_gives_unit_vectors_and_keeps_zeros() {
        let mut x = [3.0f32, 4.0];
        l2_norm(&mut x, 1e-6);
        assert_eq!(x, [0.6, 0.8]);
        let mut z = [0.0f32; 4];
        l2_norm(&mut z, 1e-6);
        assert_eq!(z, [0.0; 4]);
    }

    #[test]
    fn delta_rule_matches_its_definition() {
        let (n, d) = (5, 40);
        let r = rows(n, d);
        let x = head(&r, d);
        let scale = 1.0 / (d as f32).sqrt();
        let init: Vec<f32> = (0..d * d).map(|i| ((i * 13 % 7) as f32 - 3.0) / 50.0).collect();
        let mut s = init.clone();
        let mut y = vec![0.0; n * d];
        delta_rule_head(x, n, scale, &mut s, &mut y, d);
        // The definition with S (d_k, d_v) as the papers write it, in f64.
        let mut st: Vec<f64> = (0..d * d).map(|ij| init[(ij % d) * d + ij / d] as f64).collect();
        for t in 0..n {
            let at = |sl: &[f32], i: usize| sl[t * x.stride + i] as f64;
            let (g, beta) = (at(x.g, 0), at(x.beta, 0));
            st.iter_mut().for_each(|v| *v *= g.exp());
            for j in 0..d {
                let sk: f64 = (0..d).map(|i| st[i * d + j] * at(x.k, i)).sum();
                let delta = beta * (at(x.v, j) - sk);
                (0..d).for_each(|i| st[i * d + j] += at(x.k, i) * delta);
            }
            for j in 0..d {
                let o: f64 = (0..d).map(|i| st[i * d + j] * at(x.q, i)).sum::<f64>() * scale as f64;
                assert!((y[t * d + j] as f64 - o).abs() < 1e-5, "t {t} j {j}: {} vs {o}", y[t * d + j]);
            }
        }
        for (ij, &v) in st.iter().enumerate() {
            assert!((s[(ij % d) * d + ij / d] as f64 - v).abs() < 1e-5);
        }
    }

    #[test]
    fn kda_rule_matches_its_definition() {
        // Rows of [q | k | v | g (d values) | beta].
        let (n, d) = (4, 36);
        let w = 4 * d + 1;
        let mut r: Vec<f32> = (0..n * w).map(|i| ((i * 29 % 19) as f32 - 9.0) / 7.0).collect();
        for t in 0..n {
            let row = &mut r[t * w..(t + 1) * w];
            l2_norm(&mut row[..d], 1e-6);
            l2_norm(&mut row[d..2 * d], 1e-6);
            row[3 * d..4 * d].iter_mut().for_each(|g| *g = -0.05 * (1.0 + g.abs()));
            row[4 * d] = 1.0 / (1.0 + (-row[4 * d]).exp());
        }
        let x = HeadRows { d_k: d, q: &r, k: &r[d..], v: &r[2 * d..], stride: w, g: &r[3 * d..], beta: &r[4 * d..], gb_stride: w };
        let scale = 1.0 / (d as f32).sqrt();
        let init: Vec<f32> = (0..d * d).map(|i| ((i * 11 % 9) as f32 - 4.0) / 40.0).collect();
        let (mut s, mut y) = (init.clone(), vec![0.0; n * d]);
        kda_rule_head(x, n, scale, &mut s, &mut y, d);
        // The definition with S (d_k, d_v): row i of S decays by exp(g[i]), in f64.
        let mut st: Vec<f64> = (0..d * d).map(|ij| init[(ij % d) * d + ij / d] as f64).collect();
        for t in 0..n {
            let at = |i: usize| r[t * w + i] as f64;
            for i in 0..d {
                let e = at(3 * d + i).exp();
                (0..d).for_each(|j| st[i * d + j] *= e);
            }
            let beta = at(4 * d);
            for j in 0..d {
                let sk: f64 = (0..d).map(|i| st[i * d + j] * at(d + i)).sum();
                let delta = beta * (at(2 * d + j) - sk);
                (0..d).for_each(|i| st[i * d + j] += at(d + i) * delta);
            }
            for j in 0..d {
                let o: f64 = (0..d).map(|i| st[i * d + j] * at(i)).sum::<f64>() * scale as f64;
                assert!((y[t * d + j] as f64 - o).abs() < 1e-5, "t {t} j {j}: {} vs {o}", y[t * d + j]);
            }
        }
        for (ij, &v) in st.iter().enumerate() {
            assert!((s[(ij % d) * d + ij / d] as f64 - v).abs() < 1e-5);
        }
    }

    #[test]
    fn a_run_split_in_two_continues_its_state() {
        let (n, d) = (7, 32);
        let r = rows(n, d);
        let w = 3 * d + 2;
        let scale = 1.0 / (d as f32).sqrt();
        let (mut s_all, mut y_all) = (vec![0.0; d * d], vec![0.0; n * d]);
        delta_rule_head(head(&r, d), n, scale, &mut s_all, &mut y_all, d);
        let (mut s, mut y) = (vec![0.0; d * d], vec![0.0; n * d]);
        delta_rule_head(head(&r, d), 3, scale, &mut s, &mut y[..3 * d], d);
        delta_rule_head(head(&r[3 * w..], d), n - 3, scale, &mut s, &mut y[3 * d..], d);
        assert_eq!(s, s_all);
        assert_eq!(y, y_all);
    }
}
