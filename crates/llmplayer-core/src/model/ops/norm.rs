//! RMSNorm as ggml computes it: the sum of squares accumulates in f64
//! (`ggml_compute_forward_rms_norm_f32`), the scale is `1/sqrtf(mean + eps)` in f32, and
//! the weight is a separate multiply.

/// `out = x / sqrt(mean(x²) + eps) * w` for one row (`w` may be `None`: no weight).
pub fn rms_norm(x: &[f32], w: Option<&[f32]>, eps: f32, out: &mut [f32]) {
    let n = x.len();
    debug_assert_eq!(out.len(), n);
    let mut sum = 0.0f64;
    for &v in x {
        sum += (v * v) as f64;
    }
    let mean = (sum / n as f64) as f32;
    let scale = 1.0 / (mean + eps).sqrt();
    match w {
        Some(w) => {
            debug_assert_eq!(w.len(), n);
            for ((o, &v), &g) in out.iter_mut().zip(x).zip(w) {
                *o = (v * scale) * g;
            }
        }
        None => {
            for (o, &v) in out.iter_mut().zip(x) {
                *o = v * scale;
            }
        }
    }
}

/// In-place [`rms_norm`].
pub fn rms_norm_inplace(x: &mut [f32], w: Option<&[f32]>, eps: f32) {
    let mut sum = 0.0f64;
    for &v in x.iter() {
        sum += (v * v) as f64;
    }
    let mean = (sum / x.len() as f64) as f32;
    let scale = 1.0 / (mean + eps).sqrt();
    match w {
        Some(w) => x.iter_mut().zip(w).for_each(|(v, &g)| *v = (*v * scale) * g),
        None => x.iter_mut().for_each(|v| *v *= scale),
    }
}

/// [`rms_norm`] over each `n`-wide row of `x` (`x.len() == out.len()`, a multiple of `n`).
pub fn rms_norm_rows(x: &[f32], w: Option<&[f32]>, eps: f32, n: usize, out: &mut [f32]) {
    for (xr, or) in x.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
        rms_norm(xr, w, eps, or);
    }
}

/// In-place [`rms_norm`] over each `n`-wide slice of `x` (per-head q/k norms).
pub fn rms_norm_rows_inplace(x: &mut [f32], w: Option<&[f32]>, eps: f32, n: usize) {
    for r in x.chunks_exact_mut(n) {
        rms_norm_inplace(r, w, eps);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_rms() {
        let x = [3.0f32, -4.0, 0.0, 0.0];
        let mut out = [0.0; 4];
        rms_norm(&x, Some(&[1.0, 2.0, 1.0, 1.0]), 0.0, &mut out);
        // rms = sqrt(25/4) = 2.5
        assert_eq!(out, [1.2, -3.2, 0.0, 0.0]);
    }
}
