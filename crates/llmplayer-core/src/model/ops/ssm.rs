//! The state-space ops of Mamba-2 (llama.cpp's `ggml_ssm_conv` and `ggml_ssm_scan` with a
//! scalar decay per head), on one sequence's rows. Each keeps its state per sequence: the
//! conv the last `d_conv - 1` input rows, the scan one `(head_dim, d_state)` matrix per head.

/// Softplus as ggml computes it (`ggml_compute_softplus_f32`): `x` itself above 20.
pub fn softplus(x: f32) -> f32 {
    if x > 20.0 {
        x
    } else {
        x.exp().ln_1p()
    }
}

/// Causal depthwise conv over time with the previous rows held in `state`, then the bias
/// and SiLU (ggml `ssm_conv` + add + silu):
/// `out[t][c] = silu(b[c] + Σ_k w[c][k] · in[t + k - (d_conv - 1)][c])`.
/// * `x`: (n, ch) this run's input rows, `x_stride` apart
/// * `w`: (ch, d_conv) taps, oldest first; `b`: (ch,) or none
/// * `state`: (d_conv - 1, ch) the rows before `x`, oldest first; updated to the last ones
/// * `out`: (n, ch)
#[allow(clippy::too_many_arguments)]
pub fn conv1d_silu(x: &[f32], x_stride: usize, n: usize, ch: usize, w: &[f32], b: Option<&[f32]>, d_conv: usize, state: &mut [f32], out: &mut [f32]) {
    let k1 = d_conv - 1;
    // Row j of the extended input: the state's rows, then x's.
    let row = |state: &[f32], j: usize| -> *const f32 {
        if j < k1 {
            state[j * ch..].as_ptr()
        } else {
            x[(j - k1) * x_stride..].as_ptr()
        }
    };
    for t in 0..n {
        let o = &mut out[t * ch..(t + 1) * ch];
        o.fill(0.0);
        for k in 0..d_conv {
            // SAFETY: `row` points at `ch` readable values of `state` or `x`.
            let r = unsafe { std::slice::from_raw_parts(row(state, t + k), ch) };
            for ((ov, &rv), wr) in o.iter_mut().zip(r).zip(w.chunks_exact(d_conv)) {
                *ov += wr[k] * rv;
            }
        }
        for (c, ov) in o.iter_mut().enumerate() {
            let v = *ov + b.map_or(0.0, |b| b[c]);
            *ov = v / (1.0 + (-v).exp());
        }
    }
    // The new state: the last k1 rows of [state; x].
    if n >= k1 {
        for j in 0..k1 {
            let src = &x[(n - k1 + j) * x_stride..][..ch];
            state[j * ch..(j + 1) * ch].copy_from_slice(src);
        }
    } else {
        state.copy_within(n * ch..k1 * ch, 0);
        for j in 0..n {
            state[(k1 - n + j) * ch..(k1 - n + j + 1) * ch].copy_from_slice(&x[j * x_stride..][..ch]);
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
#[allow(clippy::too_many_arguments)]
pub fn scan_head(x: &[f32], b: &[f32], c: &[f32], stride: usize, dt: &[f32], a: f32, s: &mut [f32], head_dim: usize, y: &mut [f32], y_stride: usize) {
    let d_state = s.len() / head_dim;
    for (t, &dt) in dt.iter().enumerate() {
        let dts = softplus(dt);
        let da = (dts * a).exp();
        let (bt, ct) = (&b[t * stride..][..d_state], &c[t * stride..][..d_state]);
        let xt = &x[t * stride..][..head_dim];
        let yt = &mut y[t * y_stride..][..head_dim];
        for ((srow, &xv), yv) in s.chunks_exact_mut(d_state).zip(xt).zip(yt.iter_mut()) {
            let xdt = xv * dts;
            let mut acc = 0.0f32;
            for ((sv, &bv), &cv) in srow.iter_mut().zip(bt).zip(ct) {
                *sv = *sv * da + bv * xdt;
                acc += *sv * cv;
            }
            *yv = acc;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conv_carries_its_window_across_calls() {
        // One channel, taps [1, 2, 3]: out[t] = silu(x[t-2] + 2 x[t-1] + 3 x[t]).
        let (w, ch, d) = ([1.0, 2.0, 3.0], 1, 3);
        let xs = [1.0f32, -2.0, 0.5, 4.0, 3.0];
        let silu = |v: f32| v / (1.0 + (-v).exp());
        let want: Vec<f32> = (0..5)
            .map(|t| {
                let at = |j: isize| if j < 0 { 0.0 } else { xs[j as usize] };
                silu(at(t as isize - 2) + 2.0 * at(t as isize - 1) + 3.0 * at(t as isize))
            })
            .collect();
        // All at once, then in pieces of 1 and 4, then 2 and 3: the same outputs and state.
        for split in [5, 1, 2] {
            let mut state = vec![0.0; 2];
            let mut out = vec![0.0; 5];
            conv1d_silu(&xs[..split], 1, split, ch, &w, None, d, &mut state, &mut out[..split]);
            if split < 5 {
                conv1d_silu(&xs[split..], 1, 5 - split, ch, &w, None, d, &mut state, &mut out[split..]);
            }
            for (o, w) in out.iter().zip(&want) {
                assert!((o - w).abs() < 1e-6, "split {split}: {out:?} vs {want:?}");
            }
            assert_eq!(state, [4.0, 3.0]);
        }
    }

    #[test]
    fn scan_matches_its_definition() {
        let (hd, ds, n) = (2, 3, 4);
        let stride = 16;
        let mut rows = vec![0.0f32; n * stride];
        for (i, v) in rows.iter_mut().enumerate() {
            *v = ((i * 37 % 11) as f32 - 5.0) / 4.0;
        }
        let (x, b, c) = (&rows[0..], &rows[2..], &rows[5..]);
        let dt: Vec<f32> = (0..n).map(|t| rows[t * stride + 8]).collect();
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
                    *v = *v * (dts * a).exp() + b[t * stride + j] * (x[t * stride + i] * dts);
                    acc += *v * c[t * stride + j];
                }
                assert!((y[t * hd + i] - acc).abs() < 1e-6);
            }
        }
        assert_eq!(s, want_s);
    }
}
