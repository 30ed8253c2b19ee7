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
    tinyblas_hsum(&acc)
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

/// tinyBLAS accumulators of four probability rows times two value rows, ([`tinyblas_dot`]'s
/// lanes before its `hsum`), indexed [row][value row].
pub type TinyBlasAcc = [[[f32; 8]; 2]; 4];

/// Continues the [`tinyblas_dot`] chains of four rows `p` against two rows `v` over their
/// first `n` elements, in steps of 8 from 0 (the caller splits a chain at multiples of 8;
/// only its last piece may end in a partial step, zero-padded as tinyBLAS's). Each load of a
/// row serves two or four chains, and a caller can walk the keys in pieces that stay in
/// cache for several rows. [`tinyblas_hsum`] finishes a chain.
/// `None` where this target has no fast form (the callers keep whole-row products there).
pub fn tinyblas_4x2(p: &[f32], p_at: [usize; 4], v: &[f32], v_at: [usize; 2], n: usize, acc: &mut TinyBlasAcc) -> Option<()> {
    let p = [&p[p_at[0]..][..n], &p[p_at[1]..][..n], &p[p_at[2]..][..n], &p[p_at[3]..][..n]];
    let v = [&v[v_at[0]..][..n], &v[v_at[1]..][..n]];
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has FMA (checked just above).
            unsafe { avx2::tinyblas_4x2(p, v, n, acc) };
            return Some(());
        }
    }
    let _ = (p, v, n, acc);
    None
}

/// [`tinyblas_4x2`] in the portable lane order: its oracle.
#[cfg(test)]
fn tinyblas_4x2_any(p: [&[f32]; 4], v: [&[f32]; 2], n: usize, acc: &mut TinyBlasAcc) {
    for (pr, ar) in p.iter().zip(acc.iter_mut()) {
        for (vc, a) in v.iter().zip(ar.iter_mut()) {
            for i in 0..n {
                a[i % 8] = fma(pr[i], vc[i], a[i % 8]);
            }
        }
    }
}

/// The `hsum` that ends a [`tinyblas_dot`] chain: (hi + lo), then (0 + 2) + (1 + 3).
pub fn tinyblas_hsum(a: &[f32; 8]) -> f32 {
    let t: [f32; 4] = std::array::from_fn(|l| a[l + 4] + a[l]);
    (t[0] + t[2]) + (t[1] + t[3])
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
    let n = x.len();
    // tinyBLAS's single chain per output is latency-bound: four outputs' chains interleaved.
    // `ggml_vec_dot_f32`'s loads of x serve four rows at once too.
    let mut done = 0;
    if order == Order::VecDot && n % 32 == 0 {
        // SAFETY: this function's target features are the kernel's.
        done = unsafe { avx2::vec_dot_rows4(x, rows, stride, out) };
    }
    if order == Order::TinyBlas {
        for (j4, o4) in out.chunks_exact_mut(4).enumerate() {
            let r = &rows[4 * j4 * stride..];
            // SAFETY: this function's target features are the kernel's.
            o4.copy_from_slice(&unsafe { avx2::tinyblas_dot4(x, r, stride) });
            done += 4;
        }
    }
    for (j, o) in out.iter_mut().enumerate().skip(done) {
        let r = &rows[j * stride..][..n];
        // SAFETY: this function's target features are the kernels'.
        *o = unsafe {
            match order {
                Order::TinyBlas => avx2::tinyblas_dot(x, r),
                Order::VecDot => avx2::vec_dot(x, r, false),
                Order::VecDotPadded => avx2::vec_dot(x, r, true),
            }
        };
    }
}

/// [`vec_dot`] and [`tinyblas_dot`] as AVX2 intrinsics, the same operations in the same order
/// (the portable versions are their oracle: `avx2_kernels_match_the_portable_order`); the
/// compiler does not turn the portable lane arrays into this.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// Eight f32 of `x` from `i`, zero-filled past its end.
    #[inline(always)]
    unsafe fn load(x: &[f32], i: usize) -> __m256 {
        if i + 8 <= x.len() {
            // SAFETY: eight values in bounds.
            unsafe { _mm256_loadu_ps(x.as_ptr().add(i)) }
        } else {
            let mut b = [0f32; 8];
            let tail = &x[i.min(x.len())..];
            b[..tail.len()].copy_from_slice(tail);
            // SAFETY: a local array of eight.
            unsafe { _mm256_loadu_ps(b.as_ptr()) }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn vec_dot(x: &[f32], y: &[f32], padded: bool) -> f32 {
        let n = x.len().min(y.len());
        let (x, y) = (&x[..n], &y[..n]);
        let full = n & !31;
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        // SAFETY (loads): `load` checks bounds; the steps below stay within n or pad.
        unsafe {
            while i < full {
                for (k, a) in acc.iter_mut().enumerate() {
                    *a = _mm256_fmadd_ps(_mm256_loadu_ps(x.as_ptr().add(i + 8 * k)), _mm256_loadu_ps(y.as_ptr().add(i + 8 * k)), *a);
                }
                i += 32;
            }
            let np = if padded && full < n {
                for (k, a) in acc.iter_mut().enumerate() {
                    *a = _mm256_fmadd_ps(load(x, full + 8 * k), load(y, full + 8 * k), *a);
                }
                n
            } else {
                full
            };
            let v = _mm256_add_ps(_mm256_add_ps(acc[0], acc[2]), _mm256_add_ps(acc[1], acc[3]));
            let t0 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
            let t1 = _mm_hadd_ps(t0, t0);
            let mut sum = _mm_cvtss_f32(_mm_hadd_ps(t1, t1));
            for (&a, &b) in x[np..].iter().zip(&y[np..]) {
                sum += a * b;
            }
            sum
        }
    }

    /// [`vec_dot4`] over `out`'s rows in fours (a function of its own: inlined into
    /// `dot_rows_fma`, its accumulators were shuffled between registers, 1.7x slower);
    /// returns how many were done.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn vec_dot_rows4(x: &[f32], rows: &[f32], stride: usize, out: &mut [f32]) -> usize {
        // Common head sizes get their step count at compile time (fully unrolled: 4.3 -> 2.7
        // ns per 64-wide row on one thread).
        // SAFETY: the caller's target features are the kernels'.
        unsafe {
            match x.len() {
                64 => rows4::<2>(x, rows, stride, out),
                128 => rows4::<4>(x, rows, stride, out),
                256 => rows4::<8>(x, rows, stride, out),
                _ => rows4::<0>(x, rows, stride, out),
            }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn rows4<const STEPS: usize>(x: &[f32], rows: &[f32], stride: usize, out: &mut [f32]) -> usize {
        let mut done = 0;
        while done + 4 <= out.len() {
            // SAFETY: the caller's target features are the kernel's.
            let s = unsafe { vec_dot4::<STEPS>(x, &rows[done * stride..], stride) };
            out[done..done + 4].copy_from_slice(&s);
            done += 4;
        }
        done
    }

    /// [`vec_dot`] (unpadded, a multiple of 32 long) of `x` with four rows at once: each load
    /// of x serves the four rows' chains, and the four horizontal sums share their shuffles:
    /// lanes l and l + 4 of two rows added at once, then two `hadd`s of all four rows give
    /// `(t0 + t1) + (t2 + t3)` for each. (Sixteen accumulators, all four of a step at once:
    /// faster than building them one index at a time, spills and all.) `STEPS`: x.len() / 32
    /// when known at compile time, else 0.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn vec_dot4<const STEPS: usize>(x: &[f32], rows: &[f32], stride: usize) -> [f32; 4] {
        let n = x.len();
        // (No closures in these kernels: they would not inherit the target features.)
        assert!(n % 32 == 0 && (STEPS == 0 || n == 32 * STEPS) && rows.len() >= 3 * stride + n);
        let steps = if STEPS > 0 { STEPS } else { n / 32 };
        let yp = [rows.as_ptr(), rows.as_ptr().wrapping_add(stride), rows.as_ptr().wrapping_add(2 * stride), rows.as_ptr().wrapping_add(3 * stride)];
        // [accumulator][row]
        let mut acc = [[_mm256_setzero_ps(); 4]; 4];
        // SAFETY: step s reads 32s..32s + 32 <= n of x and of every row.
        #[allow(clippy::needless_range_loop)]
        unsafe {
            for s in 0..steps {
                let i = 32 * s;
                for j in 0..4 {
                    let xv = _mm256_loadu_ps(x.as_ptr().add(i + 8 * j));
                    for c in 0..4 {
                        acc[j][c] = _mm256_fmadd_ps(xv, _mm256_loadu_ps(yp[c].add(i + 8 * j)), acc[j][c]);
                    }
                }
            }
        }
        let mut v = [_mm256_setzero_ps(); 4];
        for (c, vc) in v.iter_mut().enumerate() {
            *vc = _mm256_add_ps(_mm256_add_ps(acc[0][c], acc[2][c]), _mm256_add_ps(acc[1][c], acc[3][c]));
        }
        // [t(row 0) | t(row 1)] with t[l] = v[l] + v[l + 4], likewise rows 2 and 3.
        let t01 = _mm256_add_ps(_mm256_permute2f128_ps(v[0], v[1], 0x20), _mm256_permute2f128_ps(v[0], v[1], 0x31));
        let t23 = _mm256_add_ps(_mm256_permute2f128_ps(v[2], v[3], 0x20), _mm256_permute2f128_ps(v[2], v[3], 0x31));
        // [t0+t1, t2+t3 of rows 0, 2 | of rows 1, 3], then the sums of those pairs.
        let h = _mm256_hadd_ps(t01, t23);
        let h = _mm256_hadd_ps(h, h);
        let r = _mm_unpacklo_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
        let mut sums = [0f32; 4];
        // SAFETY: four f32.
        unsafe { _mm_storeu_ps(sums.as_mut_ptr(), r) };
        sums
    }

    /// [`tinyblas_dot`] of `x` with four rows at once (four independent chains).
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn tinyblas_dot4(x: &[f32], rows: &[f32], stride: usize) -> [f32; 4] {
        let n = x.len();
        let [y0, y1, y2, y3] = [&rows[..n], &rows[stride..][..n], &rows[2 * stride..][..n], &rows[3 * stride..][..n]];
        let full = n & !7;
        // SAFETY: the main loop reads i..i + 8 <= full <= n of x and of every row; `load`
        // checks bounds for the tail.
        unsafe {
            let (mut a0, mut a1, mut a2, mut a3) = (_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps());
            let mut i = 0;
            while i < full {
                let xv = _mm256_loadu_ps(x.as_ptr().add(i));
                a0 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(y0.as_ptr().add(i)), a0);
                a1 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(y1.as_ptr().add(i)), a1);
                a2 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(y2.as_ptr().add(i)), a2);
                a3 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(y3.as_ptr().add(i)), a3);
                i += 8;
            }
            if full < n {
                let xv = load(x, full);
                a0 = _mm256_fmadd_ps(xv, load(y0, full), a0);
                a1 = _mm256_fmadd_ps(xv, load(y1, full), a1);
                a2 = _mm256_fmadd_ps(xv, load(y2, full), a2);
                a3 = _mm256_fmadd_ps(xv, load(y3, full), a3);
            }
            let mut sums = [0f32; 4];
            for (s, a) in sums.iter_mut().zip([a0, a1, a2, a3]) {
                let mut l = [0f32; 8];
                _mm256_storeu_ps(l.as_mut_ptr(), a);
                *s = super::tinyblas_hsum(&l);
            }
            sums
        }
    }

    /// [`super::tinyblas_4x2`]: eight accumulators, four probability and one value register.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn tinyblas_4x2(p: [&[f32]; 4], v: [&[f32]; 2], n: usize, acc: &mut super::TinyBlasAcc) {
        debug_assert!(p.iter().chain(&v).all(|r| r.len() == n));
        // SAFETY: `acc` rows are eight f32; the loop reads i..i + 8 <= full <= n of every
        // row; `load` checks bounds for the tail.
        unsafe {
            // (No closures here: they would not inherit this function's target features.)
            let mut a = [[_mm256_setzero_ps(); 2]; 4];
            for r in 0..4 {
                for c in 0..2 {
                    a[r][c] = _mm256_loadu_ps(acc[r][c].as_ptr());
                }
            }
            let full = n & !7;
            let mut i = 0;
            let mut pv = [_mm256_setzero_ps(); 4];
            while i < full {
                for r in 0..4 {
                    pv[r] = _mm256_loadu_ps(p[r].as_ptr().add(i));
                }
                for (c, vc) in v.iter().enumerate() {
                    let vv = _mm256_loadu_ps(vc.as_ptr().add(i));
                    for (ar, pr) in a.iter_mut().zip(&pv) {
                        ar[c] = _mm256_fmadd_ps(*pr, vv, ar[c]);
                    }
                }
                i += 8;
            }
            if full < n {
                for r in 0..4 {
                    pv[r] = load(p[r], full);
                }
                for (c, vc) in v.iter().enumerate() {
                    let vv = load(vc, full);
                    for (ar, pr) in a.iter_mut().zip(&pv) {
                        ar[c] = _mm256_fmadd_ps(*pr, vv, ar[c]);
                    }
                }
            }
            for (ar, accr) in a.iter().zip(acc.iter_mut()) {
                for (av, accc) in ar.iter().zip(accr.iter_mut()) {
                    _mm256_storeu_ps(accc.as_mut_ptr(), *av);
                }
            }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn tinyblas_dot(x: &[f32], y: &[f32]) -> f32 {
        let n = x.len().min(y.len());
        let (x, y) = (&x[..n], &y[..n]);
        // SAFETY: `load` checks bounds.
        unsafe {
            let mut acc = _mm256_setzero_ps();
            let mut i = 0;
            while i < n {
                acc = _mm256_fmadd_ps(load(x, i), load(y, i), acc);
                i += 8;
            }
            // hsum: (hi + lo), then (0 + 2) + (1 + 3)
            let t = _mm_add_ps(_mm256_extractf128_ps(acc, 1), _mm256_castps256_ps128(acc));
            let mut l = [0f32; 4];
            _mm_storeu_ps(l.as_mut_ptr(), t);
            (l[0] + l[2]) + (l[1] + l[3])
        }
    }
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

    /// The intrinsic kernels sum in exactly the portable versions' order.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_kernels_match_the_portable_order() {
        if !std::arch::is_x86_feature_detected!("fma") {
            return;
        }
        let mut seed = 11u32;
        let mut rnd = || {
            seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        // Nine rows: the four-row kernels twice, then one row alone.
        for n in [1, 7, 8, 31, 32, 33, 64, 100, 128, 144, 256, 576, 1000] {
            let x: Vec<f32> = (0..n).map(|_| rnd()).collect();
            let y: Vec<f32> = (0..9 * n).map(|_| rnd() * 3.0).collect();
            for order in [Order::VecDot, Order::VecDotPadded, Order::TinyBlas] {
                let (mut a, mut b) = ([0f32; 9], [0f32; 9]);
                dot_rows(&x, &y, n, &mut a, order);
                dot_rows_any(&x, &y, n, &mut b, order);
                assert!(a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()), "n {n}, {order:?}: {a:?} vs {b:?}");
            }
        }
    }

    /// The four-by-two tinyBLAS block continues each chain exactly as the portable lanes do,
    /// across pieces split at multiples of 8 with a partial last one, and its finished chains
    /// are `tinyblas_dot`'s.
    #[test]
    fn tinyblas_blocks_continue_the_chains() {
        let mut seed = 5u32;
        let mut rnd = || {
            seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        for n in [1, 8, 13, 64, 300, 517] {
            let p: Vec<Vec<f32>> = (0..4).map(|_| (0..n).map(|_| rnd()).collect()).collect();
            let v: Vec<Vec<f32>> = (0..2).map(|_| (0..n).map(|_| rnd() * 3.0).collect()).collect();
            let (mut got, mut want) = ([[[0f32; 8]; 2]; 4], [[[0f32; 8]; 2]; 4]);
            // The rows as one buffer each (p: four rows n apart, v: two).
            let (pb, vb) = (p.concat(), v.concat());
            let mut i = 0;
            for piece in [16, 8, 256].iter().cycle() {
                let end = (i + piece).min(n);
                if tinyblas_4x2(&pb, [i, n + i, 2 * n + i, 3 * n + i], &vb, [i, n + i], end - i, &mut got).is_none() {
                    return;
                }
                i = end;
                if i == n {
                    break;
                }
            }
            tinyblas_4x2_any(std::array::from_fn(|r| &p[r][..]), std::array::from_fn(|c| &v[c][..]), n, &mut want);
            for r in 0..4 {
                for c in 0..2 {
                    assert_eq!(got[r][c].map(f32::to_bits), want[r][c].map(f32::to_bits), "n {n}, row {r}, value row {c}");
                    assert_eq!(tinyblas_hsum(&got[r][c]).to_bits(), tinyblas_dot(&p[r], &v[c]).to_bits(), "n {n}");
                }
            }
        }
    }

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
