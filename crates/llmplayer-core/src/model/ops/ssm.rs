//! The state-space ops of Mamba-2 and Mamba-1 (llama.cpp's `ggml_ssm_conv` and `ggml_ssm_scan`,
//! with a scalar decay per head or, for Mamba-1, one per channel and state), on one
//! sequence's rows. Each keeps its state per sequence: the conv the last `d_conv - 1` input
//! rows, the scan one `(head_dim, d_state)` matrix per head (Mamba-1: one `d_state` row per
//! channel).

use super::expf::{fma, silu_inplace, Rounding};
use super::glibc::{expf, logf};

/// Softplus as ggml computes it (`ggml_compute_softplus_f32`): `logf(1 + expf(x))`, `x` itself
/// above 20 (glibc's functions, on every target).
pub fn softplus(x: f32) -> f32 {
    if x > 20.0 {
        x
    } else {
        logf(1.0 + expf(x))
    }
}

/// (ch, d_conv) taps as the GGUF stores them to (d_conv, ch), what [`Conv`] reads.
pub fn taps_by_time(w: &[f32], ch: usize, d_conv: usize) -> Vec<f32> {
    (0..d_conv * ch).map(|i| w[(i % ch) * d_conv + i / ch]).collect()
}

/// Causal depthwise conv over time with the previous rows held in `state`, then the bias
/// and SiLU (ggml `ssm_conv` + add + silu):
/// `out[t][c] = silu(b[c] + Σ_k w[c][k] · in[t + k - (d_conv - 1)][c])`.
/// * `w_t`: (d_conv, ch) taps, oldest first (the GGUF's (ch, d_conv) transposed, so that a
///   tap of every channel is one contiguous row); `b`: (ch,) or none
///
/// SiLU rounds as ggml's vectorised one (`r`); the conv's sum is unfused, tap by tap, as
/// ggml's `ssm_conv`.
///
/// In two parts, so that rows can be computed apart (each output row reads only input rows):
/// [`Conv::rows`], then [`Conv::shift`] once.
pub struct Conv<'a> {
    /// (d_conv, ch) taps by time; (ch,) bias
    pub w_t: &'a [f32],
    pub b: Option<&'a [f32]>,
    pub d_conv: usize,
    pub ch: usize,
}

impl Conv<'_> {
    /// Output rows `t0..t0 + out.len() / ch` of a run whose input rows are `x` and whose
    /// earlier rows are `state` (not yet shifted).
    pub fn rows(&self, x: &[f32], x_stride: usize, t0: usize, state: &[f32], out: &mut [f32], r: Rounding) {
        let (ch, k1) = (self.ch, self.d_conv - 1);
        // Row j of the extended input: the state's rows, then x's.
        let row = |j: usize| -> &[f32] {
            if j < k1 {
                &state[j * ch..(j + 1) * ch]
            } else {
                &x[(j - k1) * x_stride..][..ch]
            }
        };
        for (i, o) in out.chunks_exact_mut(ch).enumerate() {
            let t = t0 + i;
            o.fill(0.0);
            for k in 0..self.d_conv {
                for ((ov, &rv), &wv) in o.iter_mut().zip(row(t + k)).zip(&self.w_t[k * ch..(k + 1) * ch]) {
                    *ov += wv * rv;
                }
            }
            if let Some(b) = self.b {
                o.iter_mut().zip(b).for_each(|(ov, &bv)| *ov += bv);
            }
            silu_inplace(o, r);
        }
    }

    /// The state after a run of `n` input rows `x`: the last `d_conv - 1` rows of [state; x].
    pub fn shift(&self, x: &[f32], x_stride: usize, n: usize, state: &mut [f32]) {
        let (ch, k1) = (self.ch, self.d_conv - 1);
        if n >= k1 {
            for j in 0..k1 {
                state[j * ch..(j + 1) * ch].copy_from_slice(&x[(n - k1 + j) * x_stride..][..ch]);
            }
        } else {
            state.copy_within(n * ch..k1 * ch, 0);
            for j in 0..n {
                state[(k1 - n + j) * ch..(k1 - n + j + 1) * ch].copy_from_slice(&x[j * x_stride..][..ch]);
            }
        }
    }
}

/// One head of the Mamba-2 scan over `n` rows (ggml `ssm_scan`, scalar `A`):
/// `dt' = softplus(dt[t])`, `S = S·exp(dt'·A) + dt'·x[t] ⊗ B[t]`, `y[t] = S·C[t]`.
/// * `x`: row t's head input at `x[t * stride..][..head_dim]`
/// * `b`, `c`: row t's group vectors at `[t * stride..][..d_state]`
/// * `dt`: (n,) each row's time step (biased, before softplus)
/// * `s`: (head_dim, d_state) the head's state, updated
/// * `y`: (n, head_dim) output rows, `y_stride` apart
///
/// Rounded as llama.cpp's AVX2 build (see [`scan_row`]).
#[allow(clippy::too_many_arguments)]
pub fn scan_head(x: &[f32], b: &[f32], c: &[f32], stride: usize, dt: &[f32], a: f32, s: &mut [f32], head_dim: usize, y: &mut [f32], y_stride: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has FMA (checked just above).
            return unsafe { scan_head_fma(x, b, c, stride, dt, a, s, head_dim, y, y_stride) };
        }
    }
    scan_head_with(x, b, c, stride, dt, a, s, head_dim, y, y_stride)
}

/// The AVX2 scan: each 64-value block of a state row stays in eight registers while a tile of
/// 32 rows goes by (their B and C stay in L1), so the state is read and written once per tile
/// instead of once per row. Same roundings as [`scan_row`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn scan_head_fma(x: &[f32], b: &[f32], c: &[f32], stride: usize, dt: &[f32], a: f32, s: &mut [f32], head_dim: usize, y: &mut [f32], y_stride: usize) {
    use std::arch::x86_64::*;
    const TILE: usize = 32;
    const BLOCK: usize = 64;
    let d_state = s.len() / head_dim;
    if !d_state.is_multiple_of(BLOCK) {
        return scan_head_with(x, b, c, stride, dt, a, s, head_dim, y, y_stride);
    }
    let (mut dts, mut das) = ([0f32; TILE], [0f32; TILE]);
    for t0 in (0..dt.len()).step_by(TILE) {
        let m = (dt.len() - t0).min(TILE);
        for (k, &v) in dt[t0..t0 + m].iter().enumerate() {
            dts[k] = softplus(v);
            das[k] = expf(dts[k] * a);
        }
        for i in 0..head_dim {
            // Per row of the tile, ggml's four accumulators, carried from block to block.
            let mut accs = [[_mm256_setzero_ps(); 4]; TILE];
            for blk in (0..d_state).step_by(BLOCK) {
                let sp = s[i * d_state + blk..][..BLOCK].as_mut_ptr();
                // SAFETY: `sp` points at BLOCK values of `s`; b and c rows hold d_state values
                // from `t * stride` (the caller's layout), so `blk + BLOCK` of them.
                let mut st: [__m256; 8] = std::array::from_fn(|j| _mm256_loadu_ps(sp.add(8 * j)));
                for (t, acc) in accs[..m].iter_mut().enumerate() {
                    let row = (t0 + t) * stride;
                    let (bp, cp) = (b[row + blk..][..BLOCK].as_ptr(), c[row + blk..][..BLOCK].as_ptr());
                    let (vda, vx) = (_mm256_set1_ps(das[t]), _mm256_set1_ps(x[row + i] * dts[t]));
                    for (j, sj) in st.iter_mut().enumerate() {
                        let v = _mm256_fmadd_ps(*sj, vda, _mm256_mul_ps(_mm256_loadu_ps(bp.add(8 * j)), vx));
                        *sj = v;
                        acc[j % 4] = _mm256_fmadd_ps(v, _mm256_loadu_ps(cp.add(8 * j)), acc[j % 4]);
                    }
                }
                for (j, sj) in st.iter().enumerate() {
                    _mm256_storeu_ps(sp.add(8 * j), *sj);
                }
            }
            for (t, acc) in accs[..m].iter().enumerate() {
                // GGML_F32x8_REDUCE
                let v = _mm256_add_ps(_mm256_add_ps(acc[0], acc[2]), _mm256_add_ps(acc[1], acc[3]));
                let h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
                let h = _mm_hadd_ps(h, h);
                y[(t0 + t) * y_stride + i] = _mm_cvtss_f32(_mm_hadd_ps(h, h));
            }
        }
    }
}

#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn scan_head_with(x: &[f32], b: &[f32], c: &[f32], stride: usize, dt: &[f32], a: f32, s: &mut [f32], head_dim: usize, y: &mut [f32], y_stride: usize) {
    let d_state = s.len() / head_dim;
    for (t, &dt) in dt.iter().enumerate() {
        let dts = softplus(dt);
        let da = expf(dts * a);
        let (bt, ct) = (&b[t * stride..][..d_state], &c[t * stride..][..d_state]);
        let xt = &x[t * stride..][..head_dim];
        let yt = &mut y[t * y_stride..][..head_dim];
        for ((srow, &xv), yv) in s.chunks_exact_mut(d_state).zip(xt).zip(yt.iter_mut()) {
            *yv = scan_row(srow, bt, ct, da, xv * dts);
        }
    }
}

/// `s = s·da + b·xdt`, returning `s·c` rounded as ggml's AVX2 `ssm_scan` as GCC compiles it:
/// the update contracted to `fma(s, da, round(b·xdt))` (checked against llama.cpp's state,
/// which the unfused form and the other contraction miss by an ulp now and then), the dot in
/// four 8-lane accumulators of fused multiply-adds over steps of 32, reduced as
/// `GGML_F32x8_REDUCE`, then the leftovers one by one.
#[inline(always)]
fn scan_row(s: &mut [f32], b: &[f32], c: &[f32], da: f32, xdt: f32) -> f32 {
    let full = s.len() & !31;
    let mut acc = [[0f32; 8]; 4];
    let (s32, s_rest) = s.split_at_mut(full);
    for ((sv, bv), cv) in s32.chunks_exact_mut(32).zip(b.chunks_exact(32)).zip(c.chunks_exact(32)) {
        for (j, aj) in acc.iter_mut().enumerate() {
            for (l, al) in aj.iter_mut().enumerate() {
                let i = 8 * j + l;
                let v = fma(sv[i], da, bv[i] * xdt);
                sv[i] = v;
                *al = fma(v, cv[i], *al);
            }
        }
    }
    let mut sum = reduce8x4(&acc);
    for ((sv, &bv), &cv) in s_rest.iter_mut().zip(&b[full..]).zip(&c[full..]) {
        *sv = fma(*sv, da, bv * xdt);
        sum = fma(*sv, cv, sum);
    }
    sum
}

/// `GGML_F32x8_REDUCE` of four accumulators: `(a0 + a2) + (a1 + a3)`, its halves added, then
/// two horizontal adds.
#[inline(always)]
fn reduce8x4(acc: &[[f32; 8]; 4]) -> f32 {
    let v: [f32; 8] = std::array::from_fn(|l| (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]));
    let t: [f32; 4] = std::array::from_fn(|l| v[l] + v[l + 4]);
    (t[0] + t[1]) + (t[2] + t[3])
}

/// One row of the Mamba-1 scan over a block of channels (ggml `ssm_scan` with `A` of
/// `(d_state, d_inner)`, head_dim 1): per channel `h`, `dt' = softplus(dt[h])`,
/// `S[h] = S[h]·exp(dt'·A[h]) + B·(x[h]·dt')` element-wise, `y[h] = S[h]·C`.
/// * `x`, `dt`: (k,) the row's channel inputs and time steps (biased, before softplus)
/// * `a`: (k, d_state) the channels' decays (-exp(A_log)); `b`, `c`: (d_state,) the row's
/// * `s`: (k, d_state) the channels' states, updated; `y`: (k,) outputs
///
/// Rounded as ggml's scalar loop (its Mamba-1 path has no SIMD) as GCC contracts it: the
/// update `fma(s, expf(dt'·a), round(b·x_dt))`, as in [`scan_row`], and the dot one
/// `fma(s, c, sum)` per state, in order.
pub fn scan_mamba1_row(x: &[f32], dt: &[f32], a: &[f32], b: &[f32], c: &[f32], s: &mut [f32], y: &mut [f32]) {
    let d_state = b.len();
    for ((((&xv, &dv), ah), sh), yv) in x.iter().zip(dt).zip(a.chunks_exact(d_state)).zip(s.chunks_exact_mut(d_state)).zip(y.iter_mut()) {
        let dts = softplus(dv);
        let xdt = xv * dts;
        let mut sum = 0.0f32;
        for (((sv, &av), &bv), &cv) in sh.iter_mut().zip(ah).zip(b).zip(c) {
            *sv = fma(*sv, expf(dts * av), bv * xdt);
            sum = fma(*sv, cv, sum);
        }
        *yv = sum;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conv_carries_its_window_across_calls() {
        // One channel (so the taps' layout is the same either way), taps [1, 2, 3]: out[t] = silu(x[t-2] + 2 x[t-1] + 3 x[t]).
        let (w, ch, d) = ([1.0, 2.0, 3.0], 1, 3);
        let xs = [1.0f32, -2.0, 0.5, 4.0, 3.0];
        let silu = |v: f32| super::super::expf::silu(v, Rounding::Avx2);
        let want: Vec<f32> = (0..5)
            .map(|t| {
                let at = |j: isize| if j < 0 { 0.0 } else { xs[j as usize] };
                silu(at(t as isize - 2) + 2.0 * at(t as isize - 1) + 3.0 * at(t as isize))
            })
            .collect();
        // All at once, then in pieces of 1 and 4, then 2 and 3: the same outputs and state.
        for split in [5, 1, 2] {
            let (mut state, mut out) = (vec![0.0; 2], vec![0.0; 5]);
            let conv = Conv { w_t: &w, b: None, d_conv: d, ch };
            let (o1, o2) = out.split_at_mut(split);
            for (x, o) in [(&xs[..split], o1), (&xs[split..], o2)] {
                conv.rows(x, 1, 0, &state, o, Rounding::Avx2);
                conv.shift(x, 1, x.len(), &mut state);
            }
            for (o, w) in out.iter().zip(&want) {
                assert!((o - w).abs() < 1e-6, "split {split}: {out:?} vs {want:?}");
            }
            assert_eq!(state, [4.0, 3.0]);
        }
    }

    /// The dispatched (AVX2 tiled) scan against the plain one: the same bits, over several
    /// tiles and two blocks.
    #[test]
    fn tiled_scan_matches_the_plain_one() {
        let (hd, ds, n, stride) = (3, 128, 70, 300);
        let rows: Vec<f32> = (0..n * stride).map(|i| ((i * 7919 % 97) as f32 - 48.0) / 40.0).collect();
        let (x, b, c) = (&rows[0..], &rows[3..], &rows[3 + ds..]);
        let dt: Vec<f32> = (0..n).map(|t| rows[t * stride + 290] - 1.0).collect();
        let (mut s1, mut y1) = (vec![0.05f32; hd * ds], vec![0.0; n * hd]);
        let (mut s2, mut y2) = (s1.clone(), y1.clone());
        scan_head(x, b, c, stride, &dt, -0.3, &mut s1, hd, &mut y1, hd);
        scan_head_with(x, b, c, stride, &dt, -0.3, &mut s2, hd, &mut y2, hd);
        let same = |p: &[f32], q: &[f32]| p.iter().zip(q).all(|(u, v)| u.to_bits() == v.to_bits());
        assert!(same(&s1, &s2) && same(&y1, &y2));
    }

    /// The Mamba-1 scan against its definition in f64 (the roundings differ, so a bound),
    /// over a few rows: state and outputs.
    #[test]
    fn mamba1_scan_matches_its_definition() {
        let (k, ds, n) = (3, 5, 6);
        let val = |i: usize| ((i * 7919 % 97) as f32 - 48.0) / 40.0;
        let a: Vec<f32> = (0..k * ds).map(|i| -(val(i).abs() + 0.1)).collect();
        let mut s: Vec<f32> = (0..k * ds).map(|i| val(i + 500) / 4.0).collect();
        let mut want: Vec<f64> = s.iter().map(|&v| v as f64).collect();
        for t in 0..n {
            let x: Vec<f32> = (0..k).map(|h| val(1000 + t * 10 + h)).collect();
            let dt: Vec<f32> = (0..k).map(|h| val(2000 + t * 10 + h) * 3.0).collect();
            let b: Vec<f32> = (0..ds).map(|j| val(3000 + t * 10 + j)).collect();
            let c: Vec<f32> = (0..ds).map(|j| val(4000 + t * 10 + j)).collect();
            let mut y = vec![0.0; k];
            scan_mamba1_row(&x, &dt, &a, &b, &c, &mut s, &mut y);
            for h in 0..k {
                let d = (1.0 + (dt[h] as f64).exp()).ln();
                let mut acc = 0.0f64;
                for j in 0..ds {
                    let w = &mut want[h * ds + j];
                    *w = *w * (d * a[h * ds + j] as f64).exp() + b[j] as f64 * x[h] as f64 * d;
                    acc += *w * c[j] as f64;
                }
                assert!((y[h] as f64 - acc).abs() < 1e-5, "row {t} channel {h}: {} vs {acc}", y[h]);
            }
        }
        for (u, v) in s.iter().zip(&want) {
            assert!((*u as f64 - v).abs() < 1e-5);
        }
    }

    #[test]
    fn scan_matches_its_definition() {
        // d_state 37: one 32-lane step and five leftovers.
        let (hd, ds, n) = (2, 37, 4);
        let stride = 120;
        let mut rows = vec![0.0f32; n * stride];
        for (i, v) in rows.iter_mut().enumerate() {
            *v = ((i * 37 % 11) as f32 - 5.0) / 4.0;
        }
        let (x, b, c) = (&rows[0..], &rows[2..], &rows[2 + ds..]);
        let dt: Vec<f32> = (0..n).map(|t| rows[t * stride + 2 + 2 * ds]).collect();
        let a = -0.7;
        let mut s = vec![0.1f32; hd * ds];
        let mut want_s = s.clone();
        let mut y = vec![0.0; n * hd];
        scan_head(x, b, c, stride, &dt, a, &mut s, hd, &mut y, hd);
        for t in 0..n {
            let dts = softplus(dt[t]);
            for i in 0..hd {
                let mut acc = 0.0;
                for j in 0..ds {
                    let v = &mut want_s[i * ds + j];
                    *v = fma(*v, expf(dts * a), b[t * stride + j] * (x[t * stride + i] * dts));
                    acc += *v * c[t * stride + j];
                }
                assert!((y[t * hd + i] - acc).abs() < 1e-5);
            }
        }
        assert_eq!(s, want_s);
    }
}
