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
    out.copy_from_slice(x);
    scale_then_weight(out, 1.0 / (mean + eps).sqrt(), w);
}

/// `x[i] = (x[i] * scale) * w[i]` (or `x[i] * scale`): ggml's norm scale, then the weight as
/// a separate multiply.
#[inline]
fn scale_then_weight(x: &mut [f32], scale: f32, w: Option<&[f32]>) {
    match w {
        Some(w) => {
            debug_assert_eq!(w.len(), x.len());
            x.iter_mut().zip(w).for_each(|(v, &g)| *v = (*v * scale) * g);
        }
        None => x.iter_mut().for_each(|v| *v *= scale),
    }
}

/// In-place [`rms_norm`].
pub fn rms_norm_inplace(x: &mut [f32], w: Option<&[f32]>, eps: f32) {
    let mut sum = 0.0f64;
    for &v in x.iter() {
        sum += (v * v) as f64;
    }
    let mean = (sum / x.len() as f64) as f32;
    scale_then_weight(x, 1.0 / (mean + eps).sqrt(), w);
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

/// LayerNorm as ggml's `ggml_compute_forward_norm_f32` on an AVX2 build computes it, times
/// `w`: the mean from an f64 sum (`ggml_vec_sum_f32`) rounded to f32 and divided in f32, the
/// variance by `ggml_vec_cvar_f32` (centered values squared in f32, each 8 summed as its
/// `__m256` reduction, the partial sums and the tail accumulated in f64), the scale
/// `1/sqrtf(var + eps)`, then the weight as a separate multiply.
pub fn layer_norm(x: &[f32], w: Option<&[f32]>, eps: f32, out: &mut [f32]) {
    let n = x.len();
    let mean = (x.iter().map(|&v| v as f64).sum::<f64>() as f32) / n as f32;
    let mut sum = 0.0f64;
    let full = n & !7;
    for (xc, oc) in x[..full].chunks_exact(8).zip(out[..full].chunks_exact_mut(8)) {
        let mut q = [0f32; 8];
        for ((o, &v), qv) in oc.iter_mut().zip(xc).zip(q.iter_mut()) {
            *o = v - mean;
            *qv = *o * *o;
        }
        // (hi + lo), + movehl, + movehdup: ((0+4)+(2+6)) + ((1+5)+(3+7))
        let h: [f32; 4] = std::array::from_fn(|i| q[i + 4] + q[i]);
        sum += ((h[0] + h[2]) + (h[1] + h[3])) as f64;
    }
    for (o, &v) in out[full..].iter_mut().zip(&x[full..]) {
        *o = v - mean;
        sum += (*o * *o) as f64;
    }
    let var = (sum / n as f64) as f32;
    scale_then_weight(out, 1.0 / (var + eps).sqrt(), w);
}

/// [`layer_norm`] over each `n`-wide row of `x` into `out`.
pub fn layer_norm_rows(x: &[f32], w: Option<&[f32]>, eps: f32, n: usize, out: &mut [f32]) {
    for (xr, or) in x.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
        layer_norm(xr, w, eps, or);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_norm_centers_and_scales() {
        let x = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        let mut out = [0.0; 10];
        layer_norm(&x, None, 0.0, &mut out);
        let (mean, var) = (out.iter().sum::<f32>() / 10.0, out.iter().map(|v| v * v).sum::<f32>() / 10.0);
        assert!(mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-5, "{mean} {var}");
    }

    #[test]
    fn unit_rms() {
        let x = [3.0f32, -4.0, 0.0, 0.0];
        let mut out = [0.0; 4];
        rms_norm(&x, Some(&[1.0, 2.0, 1.0, 1.0]), 0.0, &mut out);
        // rms = sqrt(25/4) = 2.5
        assert_eq!(out, [1.2, -3.2, 0.0, 0.0]);
    }
}
