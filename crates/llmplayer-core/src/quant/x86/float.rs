//! AVX2 / F16C kernels for F32, F16 and BF16 rows.

use super::hsum_ps;
use std::arch::x86_64::*;

/// Shared loop over 32 elements per step (4 accumulators), scalar tail.
#[inline(always)]
unsafe fn dot_lanes(
    n: usize,
    load: impl Fn(usize) -> (__m256, __m256),
    scalar: impl Fn(usize) -> f32,
) -> f32 {
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + 32 <= n {
        for (k, a) in acc.iter_mut().enumerate() {
            let (x, y) = load(i + 8 * k);
            *a = _mm256_fmadd_ps(x, y, *a);
        }
        i += 32;
    }
    while i + 8 <= n {
        let (x, y) = load(i);
        acc[0] = _mm256_fmadd_ps(x, y, acc[0]);
        i += 8;
    }
    let mut sum = hsum_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
    for j in i..n {
        sum += scalar(j);
    }
    sum
}

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_f32(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let (x, y) = (&x[..4 * n], &y[..4 * n]);
    let (px, py) = (x.as_ptr() as *const f32, y.as_ptr() as *const f32);
    dot_lanes(
        n,
        |i| (_mm256_loadu_ps(px.add(i)), _mm256_loadu_ps(py.add(i))),
        |i| px.add(i).read_unaligned() * py.add(i).read_unaligned(),
    )
}

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_f16(n: usize, x: &[u8], y: &[u8]) -> f32 {
    use crate::quant::float::f16_to_f32;
    let (x, y) = (&x[..2 * n], &y[..2 * n]);
    let (px, py) = (x.as_ptr(), y.as_ptr());
    let ld = |p: *const u8, i: usize| _mm256_cvtph_ps(_mm_loadu_si128(p.add(2 * i).cast()));
    let rd = |p: *const u8, i: usize| f16_to_f32(u16::from_le_bytes([*p.add(2 * i), *p.add(2 * i + 1)]));
    dot_lanes(n, |i| (ld(px, i), ld(py, i)), |i| rd(px, i) * rd(py, i))
}

#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn vec_dot_bf16(n: usize, x: &[u8], y: &[u8]) -> f32 {
    use crate::quant::float::bf16_to_f32;
    let (x, y) = (&x[..2 * n], &y[..2 * n]);
    let (px, py) = (x.as_ptr(), y.as_ptr());
    let ld = |p: *const u8, i: usize| {
        let h = _mm256_cvtepu16_epi32(_mm_loadu_si128(p.add(2 * i).cast()));
        _mm256_castsi256_ps(_mm256_slli_epi32(h, 16))
    };
    let rd = |p: *const u8, i: usize| bf16_to_f32(u16::from_le_bytes([*p.add(2 * i), *p.add(2 * i + 1)]));
    dot_lanes(n, |i| (ld(px, i), ld(py, i)), |i| rd(px, i) * rd(py, i))
}

/// f32 -> f16 with round-to-nearest-even (F16C), scalar tail.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn quantize_row_f16(x: &[f32], y: &mut [u8]) {
    let n = x.len();
    let y = &mut y[..2 * n];
    let mut i = 0;
    while i + 8 <= n {
        let h = _mm256_cvtps_ph(_mm256_loadu_ps(x.as_ptr().add(i)), _MM_FROUND_TO_NEAREST_INT);
        _mm_storeu_si128(y.as_mut_ptr().add(2 * i).cast(), h);
        i += 8;
    }
    crate::quant::float::quantize_row_f16(&x[i..], &mut y[2 * i..]);
}

/// `out[j] = x · rows[j * stride..][..x.len()]`, two rows at a time sharing the loads of `x`.
/// Attention scores (one query head against every cached key) are many short dot products,
/// where a call through the kernel table per product costs more than the product. Each row's
/// sum is formed exactly as [`vec_dot_f32`] forms it (same accumulators, same reduction), so
/// scores do not change: llama.cpp's quantized reference models are sensitive enough for a
/// different summation order to move a few logits past their tolerance.
#[target_feature(enable = "avx2,fma,f16c")]
pub unsafe fn dot_rows_f32(x: &[f32], rows: &[f32], stride: usize, out: &mut [f32]) {
    let n = x.len();
    if out.is_empty() {
        return;
    }
    assert!(rows.len() >= (out.len() - 1) * stride + n);
    let (px, pr) = (x.as_ptr(), rows.as_ptr());
    let finish = |acc: [__m256; 4], r: *const f32, i: usize| {
        let mut sum = hsum_ps(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
        for c in i..n {
            sum += *r.add(c) * *px.add(c);
        }
        sum
    };
    let mut j = 0;
    while j + 2 <= out.len() {
        let r = [pr.add(j * stride), pr.add((j + 1) * stride)];
        let mut acc = [[_mm256_setzero_ps(); 4]; 2];
        let mut i = 0;
        while i + 32 <= n {
            for k in 0..4 {
                let xv = _mm256_loadu_ps(px.add(i + 8 * k));
                for (a, rr) in acc.iter_mut().zip(r) {
                    a[k] = _mm256_fmadd_ps(_mm256_loadu_ps(rr.add(i + 8 * k)), xv, a[k]);
                }
            }
            i += 32;
        }
        while i + 8 <= n {
            let xv = _mm256_loadu_ps(px.add(i));
            for (a, rr) in acc.iter_mut().zip(r) {
                a[0] = _mm256_fmadd_ps(_mm256_loadu_ps(rr.add(i)), xv, a[0]);
            }
            i += 8;
        }
        out[j] = finish(acc[0], r[0], i);
        out[j + 1] = finish(acc[1], r[1], i);
        j += 2;
    }
    if j < out.len() {
        let r = pr.add(j * stride);
        out[j] = dot_lanes(n, |i| (_mm256_loadu_ps(r.add(i)), _mm256_loadu_ps(px.add(i))), |c| *r.add(c) * *px.add(c));
    }
}
