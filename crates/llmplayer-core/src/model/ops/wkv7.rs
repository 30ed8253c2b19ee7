//! RWKV-7's state update (llama.cpp's `ggml_rwkv_wkv7`) on one head of one sequence's rows.
//! The head keeps a `(head_size, head_size)` state `S`, row `i` for value channel `i`; each
//! row `t` of the sequence, in order:
//!
//! `sa_i = Σ_j a[j] S[i][j]`, `S[i][j] = S[i][j] w[j] + v[i] k[j] + sa_i b[j]`,
//! `y[i] = Σ_j S[i][j] r[j]`
//!
//! rounded as ggml's AVX2 kernel: `sa` as `ggml_vec_dot_f32` (four 8-lane FMA accumulators over
//! steps of 32, reduced as `GGML_F32x8_REDUCE`), each state element `fma(sa, b, fma(S, w, v k))`
//! and `y` the same accumulators and reduction over `S r`. (ggml's kernel has no path for head
//! sizes that are not a multiple of 32; their last columns here are plain scalar steps.)

use super::expf::fma;
use super::f32dot::vec_dot;

/// One head's inputs: row `t`'s vectors at `[t * stride..][..head_size]` of each.
pub struct Wkv7Rows<'a> {
    /// receptance, decay, key, value
    pub r: &'a [f32],
    pub w: &'a [f32],
    pub k: &'a [f32],
    pub v: &'a [f32],
    /// the state's in-context learning terms: `a` read against the state, `b` written with it
    pub a: &'a [f32],
    pub b: &'a [f32],
    pub stride: usize,
    pub head_size: usize,
}

/// One head over `n` rows of `x`: `s` (head_size, head_size) is the head's state, updated;
/// `y` gets each row's `head_size` outputs, `y_stride` apart.
pub fn wkv7_head(x: &Wkv7Rows, n: usize, s: &mut [f32], y: &mut [f32], y_stride: usize) {
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
unsafe fn head_fma(x: &Wkv7Rows, n: usize, s: &mut [f32], y: &mut [f32], y_stride: usize) {
    head_any(x, n, s, y, y_stride)
}

#[inline(always)]
fn head_any(x: &Wkv7Rows, n: usize, s: &mut [f32], y: &mut [f32], y_stride: usize) {
    let hs = x.head_size;
    debug_assert_eq!(s.len(), hs * hs);
    let full = hs & !31;
    for t in 0..n {
        let at = t * x.stride;
        let (r, w, k) = (&x.r[at..][..hs], &x.w[at..][..hs], &x.k[at..][..hs]);
        let (v, a, b) = (&x.v[at..][..hs], &x.a[at..][..hs], &x.b[at..][..hs]);
        let yt = &mut y[t * y_stride..][..hs];
        for ((srow, &vi), yi) in s.chunks_exact_mut(hs).zip(v).zip(yt.iter_mut()) {
            let sa = vec_dot(a, srow, false);
            let mut acc = [[0f32; 8]; 4];
            for j0 in (0..full).step_by(32) {
                for (c, ac) in acc.iter_mut().enumerate() {
                    for (l, al) in ac.iter_mut().enumerate() {
                        let j = j0 + 8 * c + l;
                        let sv = fma(sa, b[j], fma(srow[j], w[j], vi * k[j]));
                        srow[j] = sv;
                        *al = fma(sv, r[j], *al);
                    }
                }
            }
            let h: [f32; 8] = std::array::from_fn(|l| (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]));
            let q: [f32; 4] = std::array::from_fn(|l| h[l] + h[l + 4]);
            let mut out = (q[0] + q[1]) + (q[2] + q[3]);
            for j in full..hs {
                let sv = srow[j] * w[j] + vi * k[j] + sa * b[j];
                srow[j] = sv;
                out += sv * r[j];
            }
            *yi = out;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` rows of r, w, k, v, a, b side by side (stride 6 * hs), small values of both signs
    /// (decays in (0, 1)).
    fn rows(n: usize, hs: usize) -> Vec<f32> {
        (0..n * 6 * hs)
            .map(|i| {
                let v = ((i * 7919 + 13) % 97) as f32 / 97.0;
                if (i / hs) % 6 == 1 { 0.5 + 0.5 * v } else { v - 0.5 }
            })
            .collect()
    }

    fn view(x: &[f32], hs: usize) -> Wkv7Rows<'_> {
        let at = |m: usize| &x[m * hs..];
        Wkv7Rows { r: at(0), w: at(1), k: at(2), v: at(3), a: at(4), b: at(5), stride: 6 * hs, head_size: hs }
    }

    #[test]
    fn wkv7_matches_its_definition() {
        // 64: ggml's vector path only; 40: one step of 32 and a scalar tail.
        for hs in [64, 40] {
            let n = 5;
            let x = rows(n, hs);
            let mut s: Vec<f32> = (0..hs * hs).map(|i| ((i % 13) as f32 - 6.0) / 10.0).collect();
            let mut want = s.iter().map(|&v| v as f64).collect::<Vec<_>>();
            let mut y = vec![0.0; n * hs];
            wkv7_head(&view(&x, hs), n, &mut s, &mut y, hs);
            for t in 0..n {
                let g = |m: usize, j: usize| x[t * 6 * hs + m * hs + j] as f64;
                for i in 0..hs {
                    let row = &mut want[i * hs..(i + 1) * hs];
                    let sa: f64 = (0..hs).map(|j| g(4, j) * row[j]).sum();
                    let mut out = 0.0;
                    for (j, sj) in row.iter_mut().enumerate() {
                        *sj = *sj * g(1, j) + g(3, i) * g(2, j) + sa * g(5, j);
                        out += *sj * g(0, j);
                    }
                    let tol = 1e-5 * (1.0 + out.abs());
                    assert!((y[t * hs + i] as f64 - out).abs() < tol, "hs {hs} row {t} channel {i}: {} vs {out}", y[t * hs + i]);
                }
            }
            for (a, b) in s.iter().zip(&want) {
                assert!((*a as f64 - b).abs() < 1e-5 * (1.0 + b.abs()));
            }
        }
    }

    #[test]
    fn a_run_split_in_two_continues_its_state() {
        let (hs, n) = (64, 7);
        let x = rows(n, hs);
        let s0: Vec<f32> = (0..hs * hs).map(|i| ((i % 11) as f32 - 5.0) / 20.0).collect();
        let (mut s_one, mut y_one) = (s0.clone(), vec![0.0; n * hs]);
        wkv7_head(&view(&x, hs), n, &mut s_one, &mut y_one, hs);
        for split in 1..n {
            let (mut s, mut y) = (s0.clone(), vec![0.0; n * hs]);
            let (y0, y1) = y.split_at_mut(split * hs);
            wkv7_head(&view(&x, hs), split, &mut s, y0, hs);
            wkv7_head(&view(&x[split * 6 * hs..], hs), n - split, &mut s, y1, hs);
            assert_eq!(y, y_one, "split at {split}");
            assert_eq!(s, s_one, "split at {split}");
        }
    }
}
