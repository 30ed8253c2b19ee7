//! ggml's AVX2 float steps, emulated exactly on simd128 (the spec: `quant::check::ggml_dot`).
//!
//! llama.cpp's logits are only reproduced when every dot product rounds as ggml's x86 code
//! does (one ulp flips an 8-bit activation a layer later), so the kernels keep ggml's eight
//! 256-bit lanes and its order: per block or super-block one `fmadd(d, cvt(lane sums), acc)`
//! per lane, then `hsum_float_8`.
//!
//! simd128 has no fused multiply-add and `f32::mul_add` is a software routine on wasm32, so
//! [`Acc8`] does each FMA in f64: `d * q` is exact there (24 + 24 bits), the sum is rounded
//! once to f64 and then to f32. That double rounding can only differ from one f32 rounding
//! when the f64 sum lies exactly halfway between two f32 values (the low 29 of its 52
//! mantissa bits are `1 << 28`), so such lanes, rare, are redone with `f32::mul_add`. A scale
//! below 2^-100 (f32 subnormal results possible) takes that path too. Lanes are held as f64
//! (always f32 values) so each step is convert, mul, add, check, demote, promote.

use core::arch::wasm32::*;

/// Smallest `|d|` for the f64 path: from 2^-100 up, every product and sum is a multiple of
/// 2^-123, so no result is an f32 subnormal (whose rounding point the check does not know).
const MIN_FAST_SCALE: f32 = 7.888_609e-31; // 2^-100

/// The four i32 lanes of `v` as f64x2 pairs (lanes 0-1, 2-3), exact.
#[inline(always)]
fn i32_to_f64(v: v128) -> (v128, v128) {
    (f64x2_convert_low_i32x4(v), f64x2_convert_low_i32x4(i32x4_shuffle::<2, 3, 2, 3>(v, v)))
}

/// The four f32 lanes of `v` as f64x2 pairs, exact.
#[inline(always)]
fn f32_to_f64(v: v128) -> (v128, v128) {
    (f64x2_promote_low_f32x4(v), f64x2_promote_low_f32x4(i32x4_shuffle::<2, 3, 2, 3>(v, v)))
}

/// Each f64 lane rounded to f32 and widened back.
#[inline(always)]
fn round_f32(s: v128) -> v128 {
    f64x2_promote_low_f32x4(f32x4_demote_f64x2_zero(s))
}

/// Lanes of two f64x2 sums whose f32 rounding could suffer from double rounding.
#[inline(always)]
fn halfway(s0: v128, s1: v128) -> v128 {
    let low = i32x4_shuffle::<0, 2, 4, 6>(s0, s1); // low words: mantissa bits 0..32
    i32x4_eq(v128_and(low, i32x4_splat(0x1fff_ffff)), i32x4_splat(0x1000_0000))
}

/// `acc[k] = fma(d, q[k], acc[k])` for lanes held as f64x2 pairs, bit for bit as in f32.
#[inline(always)]
fn fma_f64<const N: usize>(acc: &mut [v128; N], d: f32, q: [v128; N]) {
    let dd = f64x2_splat(d as f64);
    let s: [v128; N] = core::array::from_fn(|k| f64x2_add(f64x2_mul(dd, q[k]), acc[k]));
    let mut hit = halfway(s[0], s[1]);
    let mut k = 2;
    while k + 1 < N {
        hit = v128_or(hit, halfway(s[k], s[k + 1]));
        k += 2;
    }
    if v128_any_true(hit) || (d.abs() < MIN_FAST_SCALE && d != 0.0) {
        fma_slow(acc, d, q);
    } else {
        *acc = core::array::from_fn(|k| round_f32(s[k]));
    }
}

/// The rare case of [`fma_f64`]: one software FMA per lane.
#[cold]
#[inline(never)]
fn fma_slow<const N: usize>(acc: &mut [v128; N], d: f32, q: [v128; N]) {
    for k in 0..N {
        let a = [f64x2_extract_lane::<0>(acc[k]) as f32, f64x2_extract_lane::<1>(acc[k]) as f32];
        let b = [f64x2_extract_lane::<0>(q[k]) as f32, f64x2_extract_lane::<1>(q[k]) as f32];
        acc[k] = f64x2(d.mul_add(b[0], a[0]) as f64, d.mul_add(b[1], a[1]) as f64);
    }
}

/// `fma(a, b, c)` in f32 for an integer-valued `b` (a scalar `sum += d * isum` that the
/// compiler contracted), by the same f64 route as [`Acc8`].
#[inline(always)]
pub(super) fn fma_scalar(a: f32, b: f32, c: f32) -> f32 {
    let s = a as f64 * b as f64 + c as f64;
    if (s.to_bits() & 0x1fff_ffff) == 0x1000_0000 || (a.abs() < MIN_FAST_SCALE && a != 0.0) {
        a.mul_add(b, c)
    } else {
        s as f32
    }
}

/// Lanes of two f64x2 sums that may be f32 subnormals (0 < |s| < 2^-125), whose rounding
/// point [`halfway`] does not know: biased exponent below 1023 - 125 (zero excluded).
#[inline(always)]
fn tiny(s0: v128, s1: v128) -> v128 {
    let high = i32x4_shuffle::<1, 3, 5, 7>(s0, s1); // high words: sign, exponent, bits 32..52
    let e = v128_and(high, i32x4_splat(0x7ff0_0000));
    u32x4_lt(i32x4_sub(e, i32x4_splat(1 << 20)), u32x4_splat(897 << 20))
}

/// `acc[k] = fma(x[k], y[k], acc[k])` lane by lane (f32x4 inputs `x.0` / `y.0` for pairs 0-1,
/// `x.1` / `y.1` for pairs 2-3), bit for bit as in f32.
#[inline(always)]
fn fma_lanes(acc: &mut [v128; 4], x: (v128, v128), y: (v128, v128)) {
    let (xa, xb) = (f32_to_f64(x.0), f32_to_f64(x.1));
    let (ya, yb) = (f32_to_f64(y.0), f32_to_f64(y.1));
    let xs = [xa.0, xa.1, xb.0, xb.1];
    let ys = [ya.0, ya.1, yb.0, yb.1];
    let s: [v128; 4] = core::array::from_fn(|k| f64x2_add(f64x2_mul(xs[k], ys[k]), acc[k]));
    let hit = v128_or(v128_or(halfway(s[0], s[1]), halfway(s[2], s[3])), v128_or(tiny(s[0], s[1]), tiny(s[2], s[3])));
    if v128_any_true(hit) {
        fma_lanes_slow(acc, xs, ys);
    } else {
        *acc = core::array::from_fn(|k| round_f32(s[k]));
    }
}

#[cold]
#[inline(never)]
fn fma_lanes_slow(acc: &mut [v128; 4], x: [v128; 4], y: [v128; 4]) {
    for k in 0..4 {
        let l = |v: v128| [f64x2_extract_lane::<0>(v) as f32, f64x2_extract_lane::<1>(v) as f32];
        let (a, b, c) = (l(x[k]), l(y[k]), l(acc[k]));
        acc[k] = f64x2(a[0].mul_add(b[0], c[0]) as f64, a[1].mul_add(b[1], c[1]) as f64);
    }
}

/// An emulated `__m256` accumulator: lanes 0..8 as four f64x2.
#[derive(Clone, Copy)]
pub(super) struct Acc8([v128; 4]);

impl Acc8 {
    #[inline(always)]
    pub fn new() -> Acc8 {
        Acc8([f64x2_splat(0.0); 4])
    }

    /// `_mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(q), acc)` with i32 lanes 0..4 in
    /// `lo` and 4..8 in `hi`, each below 2^24 in magnitude (so the conversion is exact; the
    /// 32-element types' lane sums are at most 4 * 128 * 128).
    #[inline(always)]
    pub fn fma(&mut self, d: f32, lo: v128, hi: v128) {
        let ((a, b), (c, e)) = (i32_to_f64(lo), i32_to_f64(hi));
        fma_f64(&mut self.0, d, [a, b, c, e]);
    }

    /// [`Acc8::fma`] for any i32 lanes: converted to f32 first, rounding as `cvtepi32_ps`.
    #[inline(always)]
    pub fn fma_cvt(&mut self, d: f32, lo: v128, hi: v128) {
        let ((a, b), (c, e)) = (f32_to_f64(f32x4_convert_i32x4(lo)), f32_to_f64(f32x4_convert_i32x4(hi)));
        fma_f64(&mut self.0, d, [a, b, c, e]);
    }

    /// `_mm256_fmadd_ps(x, y, acc)` for f32 lanes `x` / `y` (lanes 0..4 in `.0`, 4..8 in `.1`).
    #[inline(always)]
    pub fn fma_f32(&mut self, x: (v128, v128), y: (v128, v128)) {
        fma_lanes(&mut self.0, x, y);
    }

    /// Lane-wise f32 sum of two accumulators (`_mm256_add_ps`).
    #[inline(always)]
    pub fn add(self, o: Acc8) -> Acc8 {
        Acc8(core::array::from_fn(|k| round_f32(f64x2_add(self.0[k], o.0[k]))))
    }

    /// ggml's `hsum_float_8`: halves added, then `(t0 + t2) + (t1 + t3)`.
    #[inline(always)]
    pub fn hsum(self) -> f32 {
        let lo = i32x4_shuffle::<0, 1, 4, 5>(f32x4_demote_f64x2_zero(self.0[0]), f32x4_demote_f64x2_zero(self.0[1]));
        let hi = i32x4_shuffle::<0, 1, 4, 5>(f32x4_demote_f64x2_zero(self.0[2]), f32x4_demote_f64x2_zero(self.0[3]));
        hsum4(f32x4_add(lo, hi))
    }
}

/// An emulated `__m128` accumulator (Q4_K's `acc_m`): lanes 0..4 as two f64x2.
#[derive(Clone, Copy)]
pub(super) struct Acc4([v128; 2]);

impl Acc4 {
    #[inline(always)]
    pub fn new() -> Acc4 {
        Acc4([f64x2_splat(0.0); 2])
    }

    /// `_mm_fmadd_ps(_mm_set1_ps(d), _mm_cvtepi32_ps(q), acc)`, `|q| < 2^24`.
    #[inline(always)]
    pub fn fma(&mut self, d: f32, q: v128) {
        let (a, b) = i32_to_f64(q);
        fma_f64(&mut self.0, d, [a, b]);
    }

    /// `add(x, movehl(x))`, then `add_ss(., movehdup(.))`.
    #[inline(always)]
    pub fn hsum(self) -> f32 {
        hsum4(i32x4_shuffle::<0, 1, 4, 5>(f32x4_demote_f64x2_zero(self.0[0]), f32x4_demote_f64x2_zero(self.0[1])))
    }
}

/// `(t0 + t2) + (t1 + t3)` of an f32x4, in f32.
#[inline(always)]
pub(super) fn hsum4(t: v128) -> f32 {
    (f32x4_extract_lane::<0>(t) + f32x4_extract_lane::<2>(t)) + (f32x4_extract_lane::<1>(t) + f32x4_extract_lane::<3>(t))
}

// ---------------------------------------------------------------- ggml's integer lanes

/// Products of 16 bytes `a` (already widened to i16, reused across activation rows) and
/// `b`, summed in adjacent pairs: `(bytes 0..8, bytes 8..16)`, four i32 lanes each
/// (`i32x4.dot_i16x8_s`, x86 `pmaddwd`).
#[inline(always)]
pub(super) fn dot_pairs_pre(a: (v128, v128), b: v128) -> (v128, v128) {
    (i32x4_dot_i16x8(a.0, i16x8_extend_low_i8x16(b)), i32x4_dot_i16x8(a.1, i16x8_extend_high_i8x16(b)))
}

/// Pair sums of 16 bytes (as from [`dot_pairs_pre`], possibly accumulated) to ggml's lanes: the
/// sums of bytes 0..4, 4..8, 8..12, 12..16 (what `maddubs` + `madd` give per 4 bytes).
#[inline(always)]
pub(super) fn quads(p: (v128, v128)) -> v128 {
    i32x4_add(i32x4_shuffle::<0, 2, 4, 6>(p.0, p.1), i32x4_shuffle::<1, 3, 5, 7>(p.0, p.1))
}
