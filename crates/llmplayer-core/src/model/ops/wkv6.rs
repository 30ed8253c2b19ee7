//! RWKV-6's state update (llama.cpp's `ggml_rwkv_wkv6`) on one head of one sequence's rows.
//! The head keeps a `(head_size, head_size)` state `S`, row `i` for key channel `i`; each row
//! `t` of the sequence, in order:
//!
//! `y[j] = Σ_i r[i] (S[i][j] + u[i] k[i] v[j])`, then `S[i][j] = S[i][j] w[i] + k[i] v[j]`
//!
//! with `u` the head's bonus (`time_mix_first`) and `w` the row's decay. Rounded as ggml's
//! vector kernel (every lane does the same scalar steps, so the vector width does not
//! matter): `kv = v[j] k[i]`, `y[j] = fma(fma(kv, u[i], S), r[i], y[j])` summed over `i` in
//! order from 0, and `S = fma(S, w[i], kv)`.

use super::expf::fma;

/// One head's inputs: row `t`'s vectors at `[t * stride..][..head_size]` of each.
pub struct Wkv6Rows<'a> {
    /// receptance, key, value, decay
    pub r: &'a [f32],
    pub k: &'a [f32],
    pub v: &'a [f32],
    pub w: &'a [f32],
    /// (head_size,) the head's bonus of the current row's key
    pub u: &'a [f32],
    pub stride: usize,
    pub head_size: usize,
}

/// One head over `n` rows of `x`: `s` (head_size, head_size) is the head's state, updated;
/// `y` gets each row's `head_size` outputs, `y_stride` apart.
pub fn wkv6_head(x: &Wkv6Rows, n: usize, s: &mut [f32], y: &mut [f32], y_stride: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has FMA (checked just above).
            return unsafe { head_fma(x, n, s, y, y_stride) };
        }
    }
    head_any(x, n, s, y, y_stride)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn head_fma(x: &Wkv6Rows, n: usize, s: &mut [f32], y: &mut [f32], y_stride: usize) {
    head_any(x, n, s, y, y_stride)
}

#[inline(always)]
fn head_any(x: &Wkv6Rows, n: usize, s: &mut [f32], y: &mut [f32], y_stride: usize) {
    let hs = x.head_size;
    debug_assert_eq!(s.len(), hs * hs);
    let u = &x.u[..hs];
    for t in 0..n {
        let at = t * x.stride;
        let (r, k, v, w) = (&x.r[at..][..hs], &x.k[at..][..hs], &x.v[at..][..hs], &x.w[at..][..hs]);
        let yt = &mut y[t * y_stride..][..hs];
        yt.fill(0.0);
        for ((((srow, &ki), &ri), &ui), &wi) in s.chunks_exact_mut(hs).zip(k).zip(r).zip(u).zip(w) {
            for ((sv, &vj), yj) in srow.iter_mut().zip(v).zip(yt.iter_mut()) {
                let kv = vj * ki;
                let prev = *sv;
                *yj = fma(fma(kv, ui, prev), ri, *yj);
                *sv = fma(prev, wi, kv);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` rows of r, k, v, w side by side (stride 4 * hs), small values of both signs
    /// (decays in (0, 1)).
    fn rows(n: usize, hs: usize) -> Vec<f32> {
        (0..n * 4 * hs)
            .map(|i| {
                let v = ((i * 7919 + 13) % 97) as f32 / 97.0;
                if (i / hs) % 4 == 3 { 0.5 + 0.5 * v } else { v - 0.5 }
            })
            .collect()
    }

    fn view<'a>(x: &'a [f32], u: &'a [f32], hs: usize) -> Wkv6Rows<'a> {
        let at = |m: usize| &x[m * hs..];
        Wkv6Rows { r: at(0), k: at(1), v: at(2), w: at(3), u, stride: 4 * hs, head_size: hs }
    }

    fn bonus(hs: usize) -> Vec<f32> {
        (0..hs).map(|i| ((i % 7) as f32 - 3.0) / 5.0).collect()
    }

    #[test]
    fn wkv6_matches_its_definition() {
        for hs in [32, 64, 40] {
            let n = 5;
            let (x, u) = (rows(n, hs), bonus(hs));
            let mut s: Vec<f32> = (0..hs * hs).map(|i| ((i % 13) as f32 - 6.0) / 10.0).collect();
            let mut want = s.iter().map(|&v| v as f64).collect::<Vec<_>>();
            let mut y = vec![0.0; n * hs];
            wkv6_head(&view(&x, &u, hs), n, &mut s, &mut y, hs);
            for t in 0..n {
                let g = |m: usize, j: usize| x[t * 4 * hs + m * hs + j] as f64;
                // y[j] = Σ_i r_i (S_ij + u_i k_i v_j) with the state before this row.
                for j in 0..hs {
                    let out: f64 = (0..hs).map(|i| g(0, i) * (want[i * hs + j] + u[i] as f64 * g(1, i) * g(2, j))).sum();
                    let tol = 1e-5 * (1.0 + out.abs());
                    assert!((y[t * hs + j] as f64 - out).abs() < tol, "hs {hs} row {t} channel {j}: {} vs {out}", y[t * hs + j]);
                }
                for i in 0..hs {
                    for j in 0..hs {
                        let sv = &mut want[i * hs + j];
                        *sv = *sv * g(3, i) + g(1, i) * g(2, j);
                    }
                }
            }
            for (a, b) in s.iter().zip(&want) {
                assert!((*a as f64 - b).abs() < 1e-5 * (1.0 + b.abs()));
            }
        }
    }

    #[test]
    fn a_run_split_in_two_continues_its_state() {
        let (hs, n) = (32, 7);
        let (x, u) = (rows(n, hs), bonus(hs));
        let s0: Vec<f32> = (0..hs * hs).map(|i| ((i % 11) as f32 - 5.0) / 20.0).collect();
        let (mut s_one, mut y_one) = (s0.clone(), vec![0.0; n * hs]);
        wkv6_head(&view(&x, &u, hs), n, &mut s_one, &mut y_one, hs);
        for split in 1..n {
            let (mut s, mut y) = (s0.clone(), vec![0.0; n * hs]);
            let (y0, y1) = y.split_at_mut(split * hs);
            wkv6_head(&view(&x, &u, hs), split, &mut s, y0, hs);
            wkv6_head(&view(&x[split * 4 * hs..], &u, hs), n - split, &mut s, y1, hs);
            assert_eq!(y, y_one, "split at {split}");
            assert_eq!(s, s_one, "split at {split}");
        }
    }
}
