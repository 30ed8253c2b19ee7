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
//! mantissa bits are `1 << 28`), so such lanes, rare, are redone with `f32::mul_add`; so are
//! possible f32 subnormal results (a different rounding point). Per step: widen, mul, add,
//! check, narrow.

use core::arch::wasm32::*;

/// Smallest `|d|` for the f64 path: from 2^-100 up, every product and sum is a multiple of
/// 2^-123, so no result is an f32 subnormal (whose rounding point the check does not know).
const MIN_FAST_SCALE: f32 = 7.888_609e-31; // 2^-100

/// Lanes 2 and 3 of `v` moved to 0 and 1.
#[inline(always)]
fn high(v: v128) -> v128 {
    i32x4_shuffle::<2, 3, 2, 3>(v, v)
}

/// The four i32 lanes of `v` as f64x2 pairs (lanes 0-1, 2-3), exact.
#[inline(always)]
fn i32_to_f64(v: v128) -> [v128; 2] {
    [f64x2_convert_low_i32x4(v), f64x2_convert_low_i32x4(high(v))]
}

/// The four f32 lanes of `v` as f64x2 pairs, exact.
#[inline(always)]
fn f32_to_f64(v: v128) -> [v128; 2] {
    [f64x2_promote_low_f32x4(v), f64x2_promote_low_f32x4(high(v))]
}

/// Lanes of two f64x2 sums whose f32 rounding could suffer from double rounding.
#[inline(always)]
fn halfway(s0: v128, s1: v128) -> v128 {
    let low = i32x4_shuffle::<0, 2, 4, 6>(s0, s1); // low words: mantissa bits 0..32
    i32x4_eq(v128_and(low, i32x4_splat(0x1fff_ffff)), i32x4_splat(0x1000_0000))
}

/// Lanes of two f64x2 sums that may be f32 subnormals (0 < |s| < 2^-125), whose rounding
/// point [`halfway`] does not know: biased exponent below 1023 - 125 (zero excluded).
#[inline(always)]
fn tiny(s0: v128, s1: v128) -> v128 {
    let high = i32x4_shuffle::<1, 3, 5, 7>(s0, s1); // high words: sign, exponent, bits 32..52
    let e = v128_and(high, i32x4_splat(0x7ff0_0000));
    u32x4_lt(i32x4_sub(e, i32x4_splat(1 << 20)), u32x4_splat(897 << 20))
}

/// `fma(a, b, acc)` on two f32 lanes with `f32::mul_add` (a software routine on wasm32): the
/// rare pairs that the f64 route cannot round. Values, not references, so that the fast path
/// keeps its lanes in registers.
#[cold]
#[inline(never)]
fn fma2_slow(acc: v128, a: v128, b: v128) -> v128 {
    let (x, y) = (f64x2_extract_lane::<0>(a) as f32, f64x2_extract_lane::<1>(a) as f32);
    let (u, v) = (f64x2_extract_lane::<0>(b) as f32, f64x2_extract_lane::<1>(b) as f32);
    f32x4(x.mul_add(u, f32x4_extract_lane::<0>(acc)), y.mul_add(v, f32x4_extract_lane::<1>(acc)), 0.0, 0.0)
}

/// The f32 rounding of `s = fl64(p + c)` that a single rounding of the exact `p + c` gives.
/// Only a sum lying exactly halfway between two f32 values can differ: right when the f64 sum
/// was exact (ties to even, as the FMA does); when not, the exact sum lies beyond the halfway
/// point on the side of the f64 rounding error (TwoSum), and `s` is moved one f64 ulp to that
/// side before rounding.
#[inline(always)]
fn settle(s: v128, p: v128, c: v128) -> v128 {
    let bb = f64x2_sub(s, p);
    let err = f64x2_add(f64x2_sub(p, f64x2_sub(s, bb)), f64x2_sub(c, bb));
    let half = i64x2_eq(v128_and(s, i64x2_splat(0x1fff_ffff)), i64x2_splat(0x1000_0000));
    let fix = v128_and(half, f64x2_ne(err, f64x2_splat(0.0)));
    // +1 on the bit pattern moves away from zero: wanted when err has the sign of s.
    let toward_zero = v128_xor(f64x2_lt(err, f64x2_splat(0.0)), f64x2_lt(s, f64x2_splat(0.0)));
    let step = v128_and(fix, v128_bitselect(i64x2_splat(-1), i64x2_splat(1), toward_zero));
    f32x4_demote_f64x2_zero(i64x2_add(s, step))
}

/// `acc[k] = fma(a[k], b[k], acc[k])`, bit for bit as in f32, for `N` pairs of lanes: `a`, `b`
/// f64x2 holding f32 values, `acc` f32x4 with the pair in lanes 0-1 (as `f32x4.demote_f64x2_zero`
/// leaves it: a demote and a promote per step, which LLVM keeps as two instructions; merging
/// the pairs into full f32x4 made it scalarize them). `tiny_ok`: the caller knows that no
/// result is an f32 subnormal.
///
/// Which sums go to [`settle`]: with `INEXACT`, the inexact ones (`s - c != p`): right for the
/// 32-element types, whose products are a 22-bit scale times lane sums below 2^17: with real
/// data their f64 sums are all exact, but about 6% land exactly on an f32 midpoint, so testing
/// [`halfway`] would send a third of the blocks down that branch. Otherwise (longer products,
/// often inexact sums) the [`halfway`] ones, which random low bits almost never are.
#[inline(always)]
fn fma_pairs<const N: usize, const INEXACT: bool>(acc: &mut [v128; N], a: [v128; N], b: [v128; N], tiny_ok: bool) {
    let p: [v128; N] = core::array::from_fn(|k| f64x2_mul(a[k], b[k]));
    let c: [v128; N] = core::array::from_fn(|k| f64x2_promote_low_f32x4(acc[k]));
    let s: [v128; N] = core::array::from_fn(|k| f64x2_add(p[k], c[k]));
    let mut flag = i32x4_splat(0);
    let mut small = i32x4_splat(0);
    let mut k = 0;
    while k + 1 < N {
        if INEXACT {
            let inexact = |k: usize| f64x2_ne(f64x2_sub(s[k], c[k]), p[k]);
            flag = v128_or(flag, v128_or(inexact(k), inexact(k + 1)));
        } else {
            flag = v128_or(flag, halfway(s[k], s[k + 1]));
        }
        if !tiny_ok {
            small = v128_or(small, tiny(s[k], s[k + 1]));
        }
        k += 2;
    }
    if !tiny_ok && v128_any_true(small) {
        for k in 0..N {
            acc[k] = fma2_slow(acc[k], a[k], b[k]);
        }
    } else if v128_any_true(flag) {
        for k in 0..N {
            acc[k] = settle(s[k], p[k], c[k]);
        }
    } else {
        for k in 0..N {
            acc[k] = f32x4_demote_f64x2_zero(s[k]);
        }
    }
}

/// `tiny_ok` for a scale `d` against integer-valued lanes: from `|d| >= 2^-100` on, every
/// product and sum is a multiple of 2^-123, so no result is an f32 subnormal.
#[inline(always)]
fn scale_ok(d: f32) -> bool {
    d.abs() >= MIN_FAST_SCALE || d == 0.0
}

/// `fma(a, b, c)` in f32 for an integer-valued `b` (a scalar `sum += d * isum` that the
/// compiler contracted), by the same f64 route.
#[inline(always)]
pub(super) fn fma_scalar(a: f32, b: f32, c: f32) -> f32 {
    let (p, c64) = (a as f64 * b as f64, c as f64);
    let s = p + c64;
    if ((s.to_bits() & 0x1fff_ffff) == 0x1000_0000 && s - c64 != p) || !scale_ok(a) {
        a.mul_add(b, c)
    } else {
        s as f32
    }
}

/// Four f32x4 holding lane pairs (lanes 0-1) to two full f32x4 (lanes 0..4, 4..8).
#[inline(always)]
fn join(p: &[v128; 4]) -> (v128, v128) {
    (i32x4_shuffle::<0, 1, 4, 5>(p[0], p[1]), i32x4_shuffle::<0, 1, 4, 5>(p[2], p[3]))
}

/// An emulated `__m256` accumulator: lanes 2k, 2k+1 in lanes 0-1 of the k-th f32x4.
#[derive(Clone, Copy)]
pub(crate) struct Acc8([v128; 4]);

impl Acc8 {
    #[inline(always)]
    pub fn new() -> Acc8 {
        Acc8([f32x4_splat(0.0); 4])
    }

    /// `_mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(q), acc)` with i32 lanes 0..4 in
    /// `lo` and 4..8 in `hi`, each below 2^24 in magnitude (so the conversion is exact; the
    /// 32-element types' lane sums are at most 4 * 128 * 128).
    #[inline(always)]
    pub fn fma(&mut self, d: f32, lo: v128, hi: v128) {
        let ([a, b], [c, e]) = (i32_to_f64(lo), i32_to_f64(hi));
        let dd = f64x2_splat(d as f64);
        fma_pairs::<4, true>(&mut self.0, [dd; 4], [a, b, c, e], scale_ok(d));
    }

    /// [`Acc8::fma`] for any i32 lanes: converted to f32 first, rounding as `cvtepi32_ps`.
    #[inline(always)]
    pub fn fma_cvt(&mut self, d: f32, lo: v128, hi: v128) {
        let ([a, b], [c, e]) = (f32_to_f64(f32x4_convert_i32x4(lo)), f32_to_f64(f32x4_convert_i32x4(hi)));
        let dd = f64x2_splat(d as f64);
        fma_pairs::<4, false>(&mut self.0, [dd; 4], [a, b, c, e], scale_ok(d));
    }

    /// [`Acc8::fma`] with scale `d0` for lanes 0..4 and `d1` for lanes 4..8.
    #[inline(always)]
    pub fn fma2(&mut self, d0: f32, d1: f32, lo: v128, hi: v128) {
        let ([a, b], [c, e]) = (i32_to_f64(lo), i32_to_f64(hi));
        let (s0, s1) = (f64x2_splat(d0 as f64), f64x2_splat(d1 as f64));
        fma_pairs::<4, true>(&mut self.0, [s0, s0, s1, s1], [a, b, c, e], scale_ok(d0) && scale_ok(d1));
    }

    /// `_mm256_fmadd_ps(_mm256_set1_ps(d), x, acc)` for f32 lanes `x` (0..4 in `.0`, 4..8 in
    /// `.1`) that are multiples of 2^-24, as is `d` (f16 values and their sums): no result is an
    /// f32 subnormal.
    #[inline(always)]
    pub fn fma_f32_scalar(&mut self, d: f32, x: (v128, v128)) {
        let ([x0, x1], [x2, x3]) = (f32_to_f64(x.0), f32_to_f64(x.1));
        let dd = f64x2_splat(d as f64);
        fma_pairs::<4, false>(&mut self.0, [dd; 4], [x0, x1, x2, x3], true);
    }

    /// `_mm256_fmadd_ps(x, y, acc)` for f32 lanes `x` / `y` (lanes 0..4 in `.0`, 4..8 in `.1`).
    #[inline(always)]
    pub fn fma_f32(&mut self, x: (v128, v128), y: (v128, v128)) {
        let ([x0, x1], [x2, x3]) = (f32_to_f64(x.0), f32_to_f64(x.1));
        let ([y0, y1], [y2, y3]) = (f32_to_f64(y.0), f32_to_f64(y.1));
        fma_pairs::<4, false>(&mut self.0, [x0, x1, x2, x3], [y0, y1, y2, y3], false);
    }

    /// Lane-wise f32 sum of two accumulators (`_mm256_add_ps`).
    #[inline(always)]
    pub fn add(self, o: Acc8) -> Acc8 {
        Acc8(core::array::from_fn(|k| f32x4_add(self.0[k], o.0[k])))
    }

    /// `GGML_F32x8_REDUCE`'s last steps (`ggml_vec_dot_f32`): halves added, then
    /// `(t0 + t1) + (t2 + t3)` (two `hadd`s).
    #[inline(always)]
    pub fn hsum_hadd(self) -> f32 {
        let (lo, hi) = join(&self.0);
        let t = f32x4_add(lo, hi);
        (f32x4_extract_lane::<0>(t) + f32x4_extract_lane::<1>(t)) + (f32x4_extract_lane::<2>(t) + f32x4_extract_lane::<3>(t))
    }

    /// ggml's `hsum_float_8`: halves added, then `(t0 + t2) + (t1 + t3)`.
    #[inline(always)]
    pub fn hsum(self) -> f32 {
        let (lo, hi) = join(&self.0);
        hsum4(f32x4_add(lo, hi))
    }
}

/// An emulated `__m128` accumulator (Q4_K's `acc_m`), lanes as in [`Acc8`].
#[derive(Clone, Copy)]
pub(super) struct Acc4([v128; 2]);

impl Acc4 {
    #[inline(always)]
    pub fn new() -> Acc4 {
        Acc4([f32x4_splat(0.0); 2])
    }

    /// `_mm_fmadd_ps(_mm_set1_ps(d), _mm_cvtepi32_ps(q), acc)`, `|q| < 2^24`.
    #[inline(always)]
    pub fn fma(&mut self, d: f32, q: v128) {
        let dd = f64x2_splat(d as f64);
        fma_pairs::<2, false>(&mut self.0, [dd; 2], i32_to_f64(q), scale_ok(d));
    }

    /// `add(x, movehl(x))`, then `add_ss(., movehdup(.))`.
    #[inline(always)]
    pub fn hsum(self) -> f32 {
        hsum4(i32x4_shuffle::<0, 1, 4, 5>(self.0[0], self.0[1]))
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
