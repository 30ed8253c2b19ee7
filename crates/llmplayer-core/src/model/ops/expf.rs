//! ggml's vector `expf` (`ggml_v_expf`, adapted by ggml from ARM's optimized routines; max
//! error 1.45 + 0.5 ulp), which llama.cpp's CPU backend uses in `soft_max`, flash attention and
//! `silu`/`swiglu` for every full vector, in the two x86 forms its builds ship ([`Rounding`]).
//!
//! Why not `f32::exp`: natively it is the system libm (glibc), on wasm32 a Rust port of
//! musl's, and neither is what ggml's vector code computes; one ulp in a probability flips an
//! 8-bit activation a layer later. The AVX2 and AVX-512 forms differ in the last step, so
//! llama.cpp's own results depend on the CPU it was built for: SmolLM2-135M Q4_1 perplexity
//! (`gpl-3.0.txt`, ctx 512, flash attention) is 18.3459 from an AVX2 build and 18.3914 from an
//! AVX-512 one, and this crate reproduces each exactly with the matching [`Rounding`].
//!
//! The formulas are written per element with one `fma` helper, so x86 runs them inside an
//! `avx2,fma` function (hardware FMA, vectorized by the compiler) and wasm32 with an exact FMA
//! emulated in f64.

/// Which llama.cpp x86 build's rounding to reproduce where the two differ (the vector exp and
/// the groups its sums run over). The same on every machine and target: a choice, not a
/// detection, so results never depend on the CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Rounding {
    /// AVX2 + FMA builds (x86-64-v3, llama.cpp's `haswell` CPU variant): groups of eight. The
    /// default: every reference under `shared/fixtures` came from such a build.
    #[default]
    Avx2,
    /// AVX-512 builds (`skylakex` and later variants): groups of sixteen, `scalef`. Exact for
    /// flash attention; the two-pass attention's f32 dot products keep the AVX2 order.
    Avx512,
}

impl Rounding {
    /// `avx2` / `avx512`.
    pub fn from_name(name: &str) -> Option<Rounding> {
        match name {
            "avx2" => Some(Rounding::Avx2),
            "avx512" => Some(Rounding::Avx512),
            _ => None,
        }
    }
}

const SHIFT: f32 = 12582912.0; // 0x1.8p23: adding it rounds to an integer in the low bits
const LOG2E: u32 = 0x3fb8_aa3b; // 0x1.715476p+0
const LN2_HI: u32 = 0x3f31_7200; // 0x1.62e4p-1
const LN2_LO: u32 = 0x35bf_be8e; // 0x1.7f7d1cp-20
const C4: u32 = 0x3c07_2010; // 0x1.0e4020p-7
const C3: u32 = 0x3d2b_9f17; // 0x1.573e2ep-5
const C2: u32 = 0x3e2a_af33; // 0x1.555e66p-3
const C1: u32 = 0x3eff_fedb; // 0x1.fffdb6p-2
const C0: u32 = 0x3f7f_fff6; // 0x1.ffffecp-1

/// `fma(a, b, c)` rounded once.
#[cfg(not(target_arch = "wasm32"))]
#[inline(always)]
pub(crate) fn fma(a: f32, b: f32, c: f32) -> f32 {
    a.mul_add(b, c)
}

/// `fma(a, b, c)` rounded once, without wasm32's slow software `fmaf`: the product is exact
/// in f64 (24 + 24 bits); the f64 sum then rounded to f32 can only differ from one rounding
/// when it is inexact and lands exactly halfway between two f32 (or is an f32 subnormal),
/// which is checked and redone the slow way.
#[cfg(target_arch = "wasm32")]
#[inline(always)]
pub(crate) fn fma(a: f32, b: f32, c: f32) -> f32 {
    let (p, c64) = (a as f64 * b as f64, c as f64);
    let s = p + c64;
    let halfway = (s.to_bits() & 0x1fff_ffff) == 0x1000_0000 && s - c64 != p;
    if halfway || (s != 0.0 && s.abs() < f32::MIN_POSITIVE as f64) {
        a.mul_add(b, c)
    } else {
        s as f32
    }
}

/// ggml's AVX-512 `ggml_v_expf` for one lane: `n = round(x / ln 2)`, a degree-5 polynomial
/// in the remainder, scaled by `2^n` as `scalef` does (one rounding, subnormals kept).
#[inline(always)]
pub fn expf_avx512(x: f32) -> f32 {
    let f = f32::from_bits;
    let z = fma(x, f(LOG2E), SHIFT);
    let n = z - SHIFT;
    let b = fma(-n, f(LN2_LO), fma(-n, f(LN2_HI), x));
    let u = b * b;
    let j = fma(fma(fma(f(C4), b, f(C3)), u, fma(f(C2), b, f(C1))), u, fma(f(C0), b, 1.0));
    if n.abs() > 192.0 {
        return if n <= 0.0 { 0.0 } else { f32::INFINITY };
    }
    if n.is_nan() {
        return n;
    }
    let ni = n as i32;
    if (-126..=127).contains(&ni) {
        j * f(((ni + 127) as u32) << 23)
    } else {
        (j as f64 * 2f64.powi(ni)) as f32
    }
}

/// ggml's AVX2 + FMA `ggml_v_expf` for one lane: the same reduction and polynomial, the scale
/// `k = 2^n` applied as `fma(j, k, k)` (split in two beyond |n| = 126).
#[inline(always)]
pub fn expf_avx2(x: f32) -> f32 {
    let f = f32::from_bits;
    let z = fma(x, f(LOG2E), SHIFT);
    let n = z - SHIFT;
    let b = fma(-n, f(LN2_LO), fma(-n, f(LN2_HI), x));
    let e = z.to_bits() << 23;
    let k = f(e.wrapping_add(1f32.to_bits()));
    let u = b * b;
    let j = fma(fma(fma(f(C4), b, f(C3)), u, fma(f(C2), b, f(C1))), u, f(C0) * b);
    let an = n.abs();
    // Beyond |n| = 126 the scale is not a normal f32: split in two (s1 * s2); beyond 192 the
    // result is 0 or infinity (s1 * s1). NaN compares false: NaN out.
    if an > 126.0 {
        let g: u32 = if n <= 0.0 { 0x8200_0000 } else { 0 };
        let s1 = f(g.wrapping_add(0x7f00_0000));
        let s2 = f(e.wrapping_sub(g));
        if an > 192.0 { s1 * s1 } else { fma(s2, j, s2) * s1 }
    } else {
        fma(k, j, k)
    }
}

/// `expf` as the `r` build computes it.
#[inline(always)]
pub fn expf(x: f32, r: Rounding) -> f32 {
    match r {
        Rounding::Avx2 => expf_avx2(x),
        Rounding::Avx512 => expf_avx512(x),
    }
}

/// `silu(x) = x / (1 + expf(-x))` (ggml's `ggml_v_silu`).
#[inline(always)]
pub fn silu(x: f32, r: Rounding) -> f32 {
    x / (1.0 + expf(-x, r))
}

/// `y[i] = expf(x[i] - max)` and ggml's sum of them (`ggml_vec_soft_max_f32`): each vector
/// (eight lanes for AVX2, sixteen for AVX-512) summed in f32 as its horizontal add does, the
/// vector sums added in f64. A last partial vector is summed with zeros, which is what ggml
/// does over its padded, masked row (masked scores are `-inf`, whose exp is 0).
pub fn exp_sub_sum(x: &mut [f32], max: f32, r: Rounding) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has FMA (checked just above).
            return unsafe { exp_sub_sum_fma(x, max, r) };
        }
    }
    exp_sub_sum_any(x, max, r)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn exp_sub_sum_fma(x: &mut [f32], max: f32, r: Rounding) -> f64 {
    match r {
        // SAFETY: this function's target features are the kernel's.
        Rounding::Avx2 => unsafe { exp_sub_sum_avx2(x, max) },
        Rounding::Avx512 => exp_sub_sum_any(x, max, r),
    }
}

/// [`exp_sub_sum_any`]'s AVX2 rounding as intrinsics: [`expf_avx2`]'s operations on eight lanes
/// (the compiler's version of the lane loop blended both scale branches and reduced through
/// the stack); a vector with a lane beyond |n| = 126 (a masked -inf, a huge gap) goes lane by
/// lane through [`expf_avx2`] itself. Checked against it by `exp_sub_sum_matches_its_lanes`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn exp_sub_sum_avx2(x: &mut [f32], max: f32) -> f64 {
    use std::arch::x86_64::*;
    let whole = x.len() / 8 * 8;
    let (head, tail) = x.split_at_mut(whole);
    let mut sum = 0f64;
    // (No closure for these: it would not inherit this function's target features.)
    let f = f32::from_bits;
    let (log2e, ln2_hi, ln2_lo) = (_mm256_set1_ps(f(LOG2E)), _mm256_set1_ps(f(LN2_HI)), _mm256_set1_ps(f(LN2_LO)));
    let (c0, c1, c2) = (_mm256_set1_ps(f(C0)), _mm256_set1_ps(f(C1)), _mm256_set1_ps(f(C2)));
    let (c3, c4) = (_mm256_set1_ps(f(C3)), _mm256_set1_ps(f(C4)));
    let (shift, mx, lim) = (_mm256_set1_ps(SHIFT), _mm256_set1_ps(max), _mm256_set1_ps(126.0));
    let one = _mm256_set1_epi32(1f32.to_bits() as i32);
    let abs = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
    for ch in head.chunks_exact_mut(8) {
        // SAFETY: eight f32.
        let xv = _mm256_sub_ps(unsafe { _mm256_loadu_ps(ch.as_ptr()) }, mx);
        let z = _mm256_fmadd_ps(xv, log2e, shift);
        let n = _mm256_sub_ps(z, shift);
        if _mm256_movemask_ps(_mm256_cmp_ps(_mm256_and_ps(n, abs), lim, _CMP_GT_OQ)) != 0 {
            let mut v = [0f32; 8];
            for (vi, xi) in v.iter_mut().zip(ch.iter_mut()) {
                *xi = expf_avx2(*xi - max);
                *vi = *xi;
            }
            let q: [f32; 4] = [v[0] + v[4], v[1] + v[5], v[2] + v[6], v[3] + v[7]];
            sum += ((q[0] + q[2]) + (q[1] + q[3])) as f64;
            continue;
        }
        let b = _mm256_fnmadd_ps(n, ln2_lo, _mm256_fnmadd_ps(n, ln2_hi, xv));
        let k = _mm256_castsi256_ps(_mm256_add_epi32(_mm256_slli_epi32(_mm256_castps_si256(z), 23), one));
        let u = _mm256_mul_ps(b, b);
        let j = _mm256_fmadd_ps(
            _mm256_fmadd_ps(_mm256_fmadd_ps(c4, b, c3), u, _mm256_fmadd_ps(c2, b, c1)),
            u,
            _mm256_mul_ps(c0, b),
        );
        let y = _mm256_fmadd_ps(k, j, k);
        // SAFETY: eight f32.
        unsafe { _mm256_storeu_ps(ch.as_mut_ptr(), y) };
        // hsum_float_8: (lo + hi), then lanes (0 + 2, 1 + 3), then 0 + 1.
        let q = _mm_add_ps(_mm256_castps256_ps128(y), _mm256_extractf128_ps(y, 1));
        let h = _mm_add_ps(q, _mm_movehl_ps(q, q));
        sum += _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h))) as f64;
    }
    sum + exp_sub_sum_any(tail, max, Rounding::Avx2)
}

#[inline(always)]
fn exp_sub_sum_any(x: &mut [f32], max: f32, r: Rounding) -> f64 {
    let mut sum = 0.0f64;
    match r {
        Rounding::Avx2 => {
            for c in x.chunks_mut(8) {
                let mut v = [0f32; 8];
                for (vi, xi) in v.iter_mut().zip(c.iter_mut()) {
                    *xi = expf_avx2(*xi - max);
                    *vi = *xi;
                }
                // hsum_float_8: (lo + hi), then lanes (0 + 2, 1 + 3), then 0 + 1.
                let q: [f32; 4] = std::array::from_fn(|l| v[l] + v[l + 4]);
                sum += ((q[0] + q[2]) + (q[1] + q[3])) as f64;
            }
        }
        Rounding::Avx512 => {
            for c in x.chunks_mut(16) {
                let mut v = [0f32; 16];
                for (vi, xi) in v.iter_mut().zip(c.iter_mut()) {
                    *xi = expf_avx512(*xi - max);
                    *vi = *xi;
                }
                // _mm512_reduce_add_ps: halves, quarters, then lanes (0 + 2, 1 + 3), then 0 + 1.
                let h: [f32; 8] = std::array::from_fn(|l| v[l] + v[l + 8]);
                let q: [f32; 4] = std::array::from_fn(|l| h[l] + h[l + 4]);
                sum += ((q[0] + q[2]) + (q[1] + q[3])) as f64;
            }
        }
    }
    sum
}

/// [`exp_sub_sum`] over a row that ggml does not pad (a softmax over the `k` chosen experts'
/// logits, or over a router's): the whole vectors as there, then each element of a last
/// partial vector through libm's `expf`, added to the f64 sum one by one, as the scalar tail of
/// `ggml_vec_soft_max_f32` does.
pub fn exp_sub_sum_row(x: &mut [f32], max: f32, r: Rounding) -> f64 {
    let lanes = match r {
        Rounding::Avx2 => 8,
        Rounding::Avx512 => 16,
    };
    let whole = x.len() / lanes * lanes;
    let (head, tail) = x.split_at_mut(whole);
    let mut sum = exp_sub_sum(head, max, r);
    for v in tail {
        *v = super::glibc::expf(*v - max);
        sum += *v as f64;
    }
    sum
}

/// `gate[i] = silu(gate[i]) * up[i]` (ggml's `ggml_vec_swiglu_f32`).
pub fn swiglu(gate: &mut [f32], up: &[f32], r: Rounding) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has FMA (checked just above).
            return unsafe { swiglu_fma(gate, up, r) };
        }
    }
    swiglu_any(gate, up, r)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn swiglu_fma(gate: &mut [f32], up: &[f32], r: Rounding) {
    swiglu_any(gate, up, r)
}

#[inline(always)]
fn swiglu_any(gate: &mut [f32], up: &[f32], r: Rounding) {
    match r {
        Rounding::Avx2 => gate.iter_mut().zip(up).for_each(|(g, &u)| *g = silu(*g, Rounding::Avx2) * u),
        Rounding::Avx512 => gate.iter_mut().zip(up).for_each(|(g, &u)| *g = silu(*g, Rounding::Avx512) * u),
    }
}

/// `x[i] = silu(x[i])` (ggml's `ggml_vec_silu_f32`), in an FMA function on x86 (the vector
/// exp's fused steps inline there instead of calling `fmaf`).
pub fn silu_inplace(x: &mut [f32], r: Rounding) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has FMA (checked just above).
            return unsafe { silu_inplace_fma(x, r) };
        }
    }
    silu_inplace_any(x, r)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn silu_inplace_fma(x: &mut [f32], r: Rounding) {
    silu_inplace_any(x, r)
}

#[inline(always)]
fn silu_inplace_any(x: &mut [f32], r: Rounding) {
    match r {
        Rounding::Avx2 => x.iter_mut().for_each(|v| *v = silu(*v, Rounding::Avx2)),
        Rounding::Avx512 => x.iter_mut().for_each(|v| *v = silu(*v, Rounding::Avx512)),
    }
}

/// `y[i] = silu(z[i]) * y[i]` (ggml's `swiglu_split(z, y)`, the gated mixers' output gate).
pub fn silu_mul(z: &[f32], y: &mut [f32], r: Rounding) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has FMA (checked just above).
            return unsafe { silu_mul_fma(z, y, r) };
        }
    }
    silu_mul_any(z, y, r)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn silu_mul_fma(z: &[f32], y: &mut [f32], r: Rounding) {
    silu_mul_any(z, y, r)
}

#[inline(always)]
fn silu_mul_any(z: &[f32], y: &mut [f32], r: Rounding) {
    match r {
        Rounding::Avx2 => y.iter_mut().zip(z).for_each(|(v, &g)| *v *= silu(g, Rounding::Avx2)),
        Rounding::Avx512 => y.iter_mut().zip(z).for_each(|(v, &g)| *v *= silu(g, Rounding::Avx512)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector softmax exponent gives the lane loop's values and sum, bit for bit, also
    /// with masked (-inf) and far-below-the-maximum scores in some vectors.
    #[test]
    fn exp_sub_sum_matches_its_lanes() {
        let mut seed = 3u32;
        let mut rnd = || {
            seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
            (seed >> 8) as f32 / (1u32 << 24) as f32
        };
        for n in [0, 5, 8, 64, 203, 1000] {
            let mut x: Vec<f32> = (0..n).map(|_| rnd() * 40.0 - 30.0).collect();
            for (i, v) in x.iter_mut().enumerate() {
                match i % 97 {
                    3 => *v = f32::NEG_INFINITY,
                    50 => *v = -200.0,
                    _ => {}
                }
            }
            let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let (mut a, mut b) = (x.clone(), x.clone());
            let (sa, sb) = (exp_sub_sum(&mut a, max, Rounding::Avx2), exp_sub_sum_any(&mut b, max, Rounding::Avx2));
            assert_eq!(sa.to_bits(), sb.to_bits(), "n {n}");
            assert!(a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()), "n {n}");
        }
    }

    #[test]
    fn close_to_exp_and_exact_at_the_edges() {
        for r in [Rounding::Avx2, Rounding::Avx512] {
            let mut worst = 0f64;
            let mut differ = 0;
            let mut x = -87.0f32;
            while x < 88.0 {
                let (got, want) = (expf(x, r) as f64, (x as f64).exp());
                worst = worst.max(((got - want) / want).abs());
                differ += (expf_avx2(x) != expf_avx512(x)) as usize;
                x += 0.0173;
            }
            // 1.45 + 0.5 ulp of f32 is about 2e-7 relative.
            assert!(worst < 2.5e-7, "{r:?}: worst relative error {worst:e}");
            // The two builds' forms do round differently (that is why both exist).
            assert!(differ > 100, "{differ}");
            assert_eq!(expf(0.0, r), 1.0);
            assert_eq!(expf(f32::NEG_INFINITY, r), 0.0);
            assert_eq!(expf(-200.0, r), 0.0);
            assert_eq!(expf(100.0, r), f32::INFINITY);
            assert!(expf(f32::NAN, r).is_nan());
            // The split-scale range (126 < |n| <= 192) keeps subnormal results.
            let t = expf(-90.0, r) as f64;
            assert!((t / (-90f64).exp() - 1.0).abs() < 1e-5, "{r:?}: {t:e}");
        }
    }

    #[test]
    fn sums_partial_groups() {
        for r in [Rounding::Avx2, Rounding::Avx512] {
            let mut x = [0.0f32; 19];
            let s = exp_sub_sum(&mut x, 0.0, r);
            assert_eq!(s, 19.0);
            assert!(x.iter().all(|&v| v == 1.0));
        }
    }
}
