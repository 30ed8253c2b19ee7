//! The two f32 dot products llama.cpp's two-pass attention runs on an AVX2 build, in their
//! rounding order: `mul_mat(k, q)` (q is a permuted view, so not tinyBLAS) and the one-token
//! `mul_mat(v, kq)` go through `ggml_vec_dot_f32`; a batch's `mul_mat(v, kq)` (contiguous
//! probabilities, two rows or more) through llamafile's `tinyBLAS<8, __m256>`.
//!
//! Written as eight-lane arrays with one `fma` helper, so x86 runs them inside an `avx2,fma`
//! function (the compiler keeps them in vector registers) and wasm32 with its exact FMA.

use super::expf::fma;

/// `ggml_vec_dot_f32` (AVX2): four 8-lane accumulators over steps of 32, reduced as
/// `GGML_F32x8_REDUCE` ((0 + 2) + (1 + 3), halves, two `hadd`s), then the leftovers one by
/// one, product and sum rounded separately (`sumf += x[i]*y[i]` is not contracted in the
/// reference build: checked on deepseek2's 144-wide MLA scores, all equal unfused, half of
/// them off fused).
///
/// `padded`: the vectors continue with zeros up to a multiple of 32 (llama.cpp's KV length is
/// a multiple of 256, its masked probabilities 0), so the last partial step goes through the
/// accumulators and there are no leftovers.
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
#[inline(always)]
pub fn vec_dot(x: &[f32], y: &[f32], padded: bool) -> f32 {
    let n = x.len().min(y.len());
    let full = n & !31;
    let mut acc = [[0f32; 8]; 4];
    let mut step = |xs: &[f32], ys: &[f32]| {
        for (j, a) in acc.iter_mut().enumerate() {
            for (l, al) in a.iter_mut().enumerate() {
                *al = fma(xs[8 * j + l], ys[8 * j + l], *al);
            }
        }
    };
    for (xs, ys) in x[..full].chunks_exact(32).zip(y[..full].chunks_exact(32)) {
        step(xs, ys);
    }
    let np = if padded && full < n {
        let (mut xp, mut yp) = ([0f32; 32], [0f32; 32]);
        xp[..n - full].copy_from_slice(&x[full..n]);
        yp[..n - full].copy_from_slice(&y[full..n]);
        step(&xp, &yp);
        n
    } else {
        full
    };
    let v: [f32; 8] = std::array::from_fn(|l| (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]));
    let t: [f32; 4] = std::array::from_fn(|l| v[l] + v[l + 4]);
    let mut sum = (t[0] + t[1]) + (t[2] + t[3]);
    for (&a, &b) in x[np..n].iter().zip(&y[np..n]) {
        sum += a * b;
    }
    sum
}

/// One output of `tinyBLAS<8, __m256>`: one 8-lane accumulator over steps of 8, then its
/// `hsum` ((hi + lo), then (0 + 2) + (1 + 3)). A last partial step counts as zero-padded, as
/// ggml's padded, masked rows are (zero probabilities).
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
#[inline(always)]
pub fn tinyblas_dot(x: &[f32], y: &[f32]) -> f32 {
    let n = x.len().min(y.len());
    let mut acc = [0f32; 8];
    let (xc, yc) = (x[..n].chunks_exact(8), y[..n].chunks_exact(8));
    let (xr, yr) = (xc.remainder(), yc.remainder());
    for (xs, ys) in xc.zip(yc) {
        for (l, a) in acc.iter_mut().enumerate() {
            *a = fma(xs[l], ys[l], *a);
        }
    }
    for (l, (&a, &b)) in xr.iter().zip(yr).enumerate() {
        acc[l] = fma(a, b, acc[l]);
    }
    let t: [f32; 4] = std::array::from_fn(|l| acc[l + 4] + acc[l]);
    (t[0] + t[2]) + (t[1] + t[3])
}

/// Which of llama.cpp's two f32 dot products a row of attention takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// `ggml_vec_dot_f32` ([`vec_dot`]).
    VecDot,
    /// `ggml_vec_dot_f32` over vectors that llama.cpp zero-pads to its KV length (a multiple
    /// of 256): one token's probabilities times V.
    VecDotPadded,
    /// `tinyBLAS<8, __m256>` ([`tinyblas_dot`]).
    TinyBlas,
}

/// `out[j] = dot(x, rows[j * stride..][..x.len()])` in `order`, on every target (wasm32 runs
/// the same FMA chains on simd128 with ggml's accumulator emulated exactly, [`simd128`]).
pub fn dot_rows(x: &[f32], rows: &[f32], stride: usize, out: &mut [f32], order: Order) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        simd128::dot_rows(x, rows, stride, out, order)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("fma") {
                // SAFETY: the CPU has FMA (checked just above).
                return unsafe { dot_rows_fma(x, rows, stride, out, order) };
            }
        }
        dot_rows_any(x, rows, stride, out, order)
    }
}

/// [`vec_dot`] and [`tinyblas_dot`] on simd128: each `__m256` accumulator is an
/// [`Acc8`](crate::quant::Acc8), whose FMAs round once, as x86's do.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128 {
    use crate::quant::Acc8;
    use core::arch::wasm32::*;

    /// Eight f32 from `x[0..8]` as (lanes 0..4, lanes 4..8).
    #[inline(always)]
    fn load8(x: &[f32]) -> (v128, v128) {
        let x = &x[..8];
        // SAFETY: eight f32 are in bounds (the slice above); wasm loads need no alignment.
        unsafe { (v128_load(x.as_ptr().cast()), v128_load(x.as_ptr().add(4).cast())) }
    }

    fn vec_dot(x: &[f32], y: &[f32], padded: bool) -> f32 {
        let n = x.len().min(y.len());
        let np = n & !31;
        let mut acc = [Acc8::new(); 4];
        for (xs, ys) in x[..np].chunks_exact(32).zip(y[..np].chunks_exact(32)) {
            for (j, a) in acc.iter_mut().enumerate() {
                a.fma_f32(load8(&xs[8 * j..]), load8(&ys[8 * j..]));
            }
        }
        if padded && np < n {
            // The last partial step, zero-padded: fma(0, 0, a) leaves a lane as it is.
            let (mut xp, mut yp) = ([0f32; 32], [0f32; 32]);
            xp[..n - np].copy_from_slice(&x[np..n]);
            yp[..n - np].copy_from_slice(&y[np..n]);
            for (j, a) in acc.iter_mut().enumerate() {
                a.fma_f32(load8(&xp[8 * j..]), load8(&yp[8 * j..]));
            }
            return acc[0].add(acc[2]).add(acc[1].add(acc[3])).hsum_hadd();
        }
        let mut sum = acc[0].add(acc[2]).add(acc[1].add(acc[3])).hsum_hadd();
        for (&a, &b) in x[np..n].iter().zip(&y[np..n]) {
            sum += a * b;
        }
        sum
    }

    fn tinyblas_dot(x: &[f32], y: &[f32]) -> f32 {
        let n = x.len().min(y.len());
        let mut acc = Acc8::new();
        let (xc, yc) = (x[..n].chunks_exact(8), y[..n].chunks_exact(8));
        let (xr, yr) = (xc.remainder(), yc.remainder());
        for (xs, ys) in xc.zip(yc) {
            acc.fma_f32(load8(xs), load8(ys));
        }
        if !xr.is_empty() {
            // Zero-padded, as ggml's masked rows are: fma(0, 0, a) = a.
            let (mut xp, mut yp) = ([0f32; 8], [0f32; 8]);
            xp[..xr.len()].copy_from_slice(xr);
            yp[..yr.len()].copy_from_slice(yr);
            acc.fma_f32(load8(&xp), load8(&yp));
        }
        acc.hsum()
    }

    pub(super) fn dot_rows(x: &[f32], rows: &[f32], stride: usize, out: &mut [f32], order: super::Order) {
        let n = x.len();
        for (j, o) in out.iter_mut().enumerate() {
            let r = &rows[j * stride..][..n];
            *o = match order {
                super::Order::TinyBlas => tinyblas_dot(x, r),
                super::Order::VecDot => vec_dot(x, r, false),
                super::Order::VecDotPadded => vec_dot(x, r, true),
            };
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_rows_fma(x: &[f32], rows: &[f32], stride: usize, out: &mut [f32], order: Order) {
    dot_rows_any(x, rows, stride, out, order)
}

#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
#[inline(always)]
fn dot_rows_any(x: &[f32], rows: &[f32], stride: usize, out: &mut [f32], order: Order) {
    let n = x.len();
    for (j, o) in out.iter_mut().enumerate() {
        let r = &rows[j * stride..][..n];
        *o = match order {
            Order::TinyBlas => tinyblas_dot(x, r),
            Order::VecDot => vec_dot(x, r, false),
            Order::VecDotPadded => vec_dot(x, r, true),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_orders_are_dot_products() {
        let x: Vec<f32> = (0..77).map(|i| ((i * 37 % 11) as f32 - 5.0) * 0.25).collect();
        let y: Vec<f32> = (0..77).map(|i| ((i * 53 % 13) as f32 - 6.0) * 0.5).collect();
        let want: f32 = x.iter().zip(&y).map(|(a, b)| a * b).sum();
        // Small integers times powers of two: every order is exact.
        assert_eq!(vec_dot(&x, &y, false), want);
        assert_eq!(vec_dot(&x, &y, true), want);
        assert_eq!(tinyblas_dot(&x, &y), want);
        let mut out = [0f32; 2];
        dot_rows(&x[..32], &y, 40, &mut out, Order::VecDot);
        assert_eq!(out[0], x[..32].iter().zip(&y[..32]).map(|(a, b)| a * b).sum::<f32>());
    }
}
