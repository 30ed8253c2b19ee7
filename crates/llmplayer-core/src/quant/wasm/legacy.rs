//! simd128 kernels for the 32-element types against Q8_0 (Q8_0, Q4_0, Q5_0, IQ4_NL) and
//! Q8_1 (Q4_1, Q5_1), one row (`vec_dot`) or four activation rows (`vec_dot_x4`), MXFP4, and
//! the Q8_0 quantizer.
//!
//! They round as ggml's AVX2 `ggml_vec_dot_*` do (see `exact.rs`): one 8-lane accumulator,
//! blocks in order, lane k = the products of elements 4k..4k+4 of the block, one
//! `fma(d_w * d_y, lanes, acc)` per block, `hsum_float_8` at the end. llama.cpp's prefill runs
//! Q8_0 / Q4_0 / Q5_0 / IQ4_NL through tinyBLAS, which rounds each (row, token) the same way,
//! so the x4 kernels are these dots for four tokens. IQ4_NL's `ggml_vec_dot_iq4_nl_q8_0` alone
//! differs: two accumulators (even / odd blocks) and a scalar last block when the count is
//! odd; its vec_dot follows that (decode), its x4 tinyBLAS (prefill). MXFP4's vec_dot has the
//! same two accumulators, and llama.cpp uses it in prefill too.

use super::exact::{dot_pairs_pre, quads, Acc8};
use super::{hi4, load, lo4, lookup16};
use crate::quant::blocks_legacy::{BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, BlockQ8_1};
use crate::quant::blocks_nl4::{e8m0_to_f32_half, BlockIq4Nl, BlockMxfp4};
use crate::quant::float::{f16_to_f32, f32_to_f16};
use crate::quant::grids::{KVALUES_FP4, KVALUES_IQ4NL};
use crate::quant::{blocks, blocks_mut, Block};
use core::arch::wasm32::*;

/// A 32-element activation block (Q8_0 or Q8_1): scale bits and quants.
pub(super) trait ActBlock: Block {
    fn d(&self) -> u16;
    fn qs(&self) -> &[i8; 32];
}

impl ActBlock for BlockQ8_0 {
    #[inline(always)]
    fn d(&self) -> u16 {
        self.d
    }
    #[inline(always)]
    fn qs(&self) -> &[i8; 32] {
        &self.qs
    }
}

impl ActBlock for BlockQ8_1 {
    #[inline(always)]
    fn d(&self) -> u16 {
        self.d
    }
    #[inline(always)]
    fn qs(&self) -> &[i8; 32] {
        &self.qs
    }
}

/// ggml's 8 lanes of one block as `(lanes 0..4, lanes 4..8)`: weight halves `w` (elements
/// 0..16, 16..32, widened to i16) against the activation block.
#[inline(always)]
fn block_lanes<Y: ActBlock>(w: &[(v128, v128); 2], y: &Y) -> (v128, v128) {
    // SAFETY: an activation block holds 32 quant bytes.
    let (y0, y1) = unsafe { (load(y.qs().as_ptr().cast()), load(y.qs().as_ptr().add(16).cast())) };
    (quads(dot_pairs_pre(w[0], y0)), quads(dot_pairs_pre(w[1], y1)))
}

#[inline(always)]
fn widen(w: (v128, v128)) -> [(v128, v128); 2] {
    [
        (i16x8_extend_low_i8x16(w.0), i16x8_extend_high_i8x16(w.0)),
        (i16x8_extend_low_i8x16(w.1), i16x8_extend_high_i8x16(w.1)),
    ]
}

/// One weight row of blocks `B` against `R` activation rows: `scale(b)` the weight scale
/// bits, `weights(b)` the two halves as bytes, `min(b, y)` the block's extra scalar term
/// (Q4_1 / Q5_1: `m * s`, summed apart and added after the horizontal sum; None otherwise).
#[inline(always)]
fn rows<B: Block, Y: ActBlock, const R: usize>(
    n: usize,
    x: &[u8],
    ys: [&[u8]; R],
    scale: impl Fn(&B) -> u16,
    weights: impl Fn(&B) -> (v128, v128),
    min: impl Fn(&B, &Y) -> Option<f32>,
) -> [f32; R] {
    let nb = n / 32;
    let yb: [&[Y]; R] = core::array::from_fn(|t| blocks::<Y>(ys[t], nb));
    let mut acc = [Acc8::new(); R];
    let mut summs = [0f32; R];
    let f16 = f16_table();
    for (i, a) in blocks::<B>(x, nb).iter().enumerate() {
        let w = widen(weights(a));
        let dw = f16[scale(a) as usize];
        // `d_w * d_y` per row (exact in f32: two 11-bit significands); four rows' f16 scales
        // are converted in one vector.
        let dy = if R == 4 { f16x4_to_f32(core::array::from_fn(|t| yb[t % R][i].d())) } else { f32x4_splat(0.0) };
        let d = f32x4_mul(f32x4_splat(dw), dy);
        unroll4!(R, |t| {
            let y = &yb[t][i];
            if let Some(ms) = min(a, y) {
                summs[t] += ms;
            }
            let (lo, hi) = block_lanes(&w, y);
            let d = if R == 4 { lane(d, t) } else { dw * f16[y.d() as usize] };
            acc[t].fma(d, lo, hi);
        });
    }
    core::array::from_fn(|t| acc[t].hsum() + summs[t])
}

/// Four f16 values to f32, exact like [`f16_to_f32`] (inf and NaN included).
#[inline(always)]
fn f16x4_to_f32(h: [u16; 4]) -> v128 {
    let v = u32x4(h[0] as u32, h[1] as u32, h[2] as u32, h[3] as u32);
    let abs = v128_and(v, u32x4_splat(0x7fff));
    let sign = i32x4_shl(v128_and(v, u32x4_splat(0x8000)), 16);
    let finite = f32x4_mul(i32x4_shl(abs, 13), u32x4_splat(0x7780_0000));
    let special = v128_or(u32x4_splat(0x7f80_0000), i32x4_shl(v128_and(abs, u32x4_splat(0x3ff)), 13));
    let is_special = u32x4_ge(abs, u32x4_splat(0x7c00));
    v128_or(v128_bitselect(special, finite, is_special), sign)
}

/// f32 values of every f16 bit pattern (256 KiB, built on first use): one load per scale
/// instead of the conversion's dozen operations, which the per-block float steps of the
/// one-row kernels made a tenth of their time.
fn f16_table() -> &'static [f32; 65536] {
    static TABLE: std::sync::OnceLock<Box<[f32; 65536]>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let t: Box<[f32]> = (0..=u16::MAX).map(f16_to_f32).collect();
        t.try_into().expect("65536 entries")
    })
}

/// Lane `t` (< 4) of an f32x4.
#[inline(always)]
fn lane(v: v128, t: usize) -> f32 {
    match t {
        0 => f32x4_extract_lane::<0>(v),
        1 => f32x4_extract_lane::<1>(v),
        2 => f32x4_extract_lane::<2>(v),
        _ => f32x4_extract_lane::<3>(v),
    }
}

// ---------------------------------------------------------------- weights per type

#[inline(always)]
fn w_q8_0(a: &BlockQ8_0) -> (v128, v128) {
    // SAFETY: 32 quant bytes.
    unsafe { (load(a.qs.as_ptr().cast()), load(a.qs.as_ptr().add(16).cast())) }
}

#[inline(always)]
fn w_q4_0(a: &BlockQ4_0) -> (v128, v128) {
    // SAFETY: 16 quant bytes.
    let q = unsafe { load(a.qs.as_ptr()) };
    (i8x16_sub(lo4(q), i8x16_splat(8)), i8x16_sub(hi4(q), i8x16_splat(8)))
}

/// Bytes 0xff where bit i of the 16-bit `bits` is set (lane i).
#[inline(always)]
pub(super) fn bits16(bits: u16) -> v128 {
    let v = u16x8_splat(bits);
    let spread = i8x16_swizzle(v, i8x16(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
    let mask = u8x16(1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128);
    i8x16_eq(v128_and(spread, mask), mask)
}

/// The unsigned 5-bit values of a Q5_0 / Q5_1 block: nibbles plus bit i of `qh` as 16.
#[inline(always)]
fn five_bits(qs: &[u8; 16], qh: [u8; 4]) -> (v128, v128) {
    // SAFETY: 16 quant bytes.
    let q = unsafe { load(qs.as_ptr()) };
    let qh = u32::from_le_bytes(qh);
    let sixteen = i8x16_splat(16);
    let h0 = v128_and(bits16(qh as u16), sixteen);
    let h1 = v128_and(bits16((qh >> 16) as u16), sixteen);
    (v128_or(lo4(q), h0), v128_or(hi4(q), h1))
}

#[inline(always)]
fn w_q5_0(a: &BlockQ5_0) -> (v128, v128) {
    let (w0, w1) = five_bits(&a.qs, a.qh);
    (i8x16_sub(w0, i8x16_splat(16)), i8x16_sub(w1, i8x16_splat(16)))
}

#[inline(always)]
fn w_iq4_nl(a: &BlockIq4Nl) -> (v128, v128) {
    // SAFETY: 16 quant bytes.
    let q = unsafe { load(a.qs.as_ptr()) };
    (lookup16(&KVALUES_IQ4NL, lo4(q)), lookup16(&KVALUES_IQ4NL, hi4(q)))
}

#[inline(always)]
fn w_q4_1(a: &BlockQ4_1) -> (v128, v128) {
    // SAFETY: 16 quant bytes.
    let q = unsafe { load(a.qs.as_ptr()) };
    (lo4(q), hi4(q))
}

#[inline(always)]
fn w_q5_1(a: &BlockQ5_1) -> (v128, v128) {
    five_bits(&a.qs, a.qh)
}

/// `m * s` of a Q4_1 / Q5_1 block (`summs += m * s` in ggml: the product of two f16 values is
/// exact in f32, so fused or not, one rounding).
#[inline(always)]
fn m_s(m: u16, y: &BlockQ8_1) -> Option<f32> {
    Some(f16_to_f32(m) * f16_to_f32(y.s))
}

/// Defines `$dot` (`ggml_vec_dot_*`) and `$x4` (the same for four activation rows) for one
/// weight type.
macro_rules! kernels {
    ($dot:ident, $x4:ident, $block:ty, $act:ty, $weights:path, |$a:ident, $y:ident| $min:expr) => {
        pub fn $dot(n: usize, x: &[u8], y: &[u8]) -> f32 {
            rows::<$block, $act, 1>(n, x, [y], |a| a.d, $weights, |$a, $y| $min)[0]
        }

        pub fn $x4(n: usize, x: &[u8], y: [&[u8]; 4]) -> [f32; 4] {
            rows::<$block, $act, 4>(n, x, y, |a| a.d, $weights, |$a, $y| $min)
        }
    };
}

kernels!(vec_dot_q8_0_q8_0, vec_dot_q8_0_q8_0_x4, BlockQ8_0, BlockQ8_0, w_q8_0, |_a, _y| None);
kernels!(vec_dot_q4_0_q8_0, vec_dot_q4_0_q8_0_x4, BlockQ4_0, BlockQ8_0, w_q4_0, |_a, _y| None);
kernels!(vec_dot_q5_0_q8_0, vec_dot_q5_0_q8_0_x4, BlockQ5_0, BlockQ8_0, w_q5_0, |_a, _y| None);
kernels!(vec_dot_q4_1_q8_1, vec_dot_q4_1_q8_1_x4, BlockQ4_1, BlockQ8_1, w_q4_1, |a, y| m_s(a.m, y));
kernels!(vec_dot_q5_1_q8_1, vec_dot_q5_1_q8_1_x4, BlockQ5_1, BlockQ8_1, w_q5_1, |a, y| m_s(a.m, y));

/// IQ4_NL for four activation rows as llama.cpp's prefill (tinyBLAS) rounds it: one
/// accumulator, as the other types.
pub fn vec_dot_iq4_nl_q8_0_x4(n: usize, x: &[u8], y: [&[u8]; 4]) -> [f32; 4] {
    rows::<BlockIq4Nl, BlockQ8_0, 4>(n, x, y, |a| a.d, w_iq4_nl, |_, _| None)
}

/// `ggml_vec_dot_iq4_nl_q8_0` / `ggml_vec_dot_mxfp4_q8_0` (AVX2): blocks in pairs, even ones
/// into one accumulator and odd ones into another, the two added lane-wise before
/// `hsum_float_8`; an odd last block is added as `sumf += d * sumi` (an FMA from the compiler's
/// contraction). `scale(b, d_y)`: the block's `d_w * d_y` as ggml forms it.
#[inline(always)]
fn two_accumulators<B: Block>(n: usize, x: &[u8], y: &[u8], scale: impl Fn(&B, f32) -> f32, weights: impl Fn(&B) -> (v128, v128)) -> f32 {
    let nb = n / 32;
    let (xs, ys) = (blocks::<B>(x, nb), blocks::<BlockQ8_0>(y, nb));
    let mut acc = [Acc8::new(); 2];
    let f16 = f16_table();
    for i in 0..nb & !1 {
        let (lo, hi) = block_lanes(&widen(weights(&xs[i])), &ys[i]);
        acc[i & 1].fma(scale(&xs[i], f16[ys[i].d as usize]), lo, hi);
    }
    let mut sumf = acc[0].add(acc[1]).hsum();
    if nb % 2 == 1 {
        let (a, b) = (&xs[nb - 1], &ys[nb - 1]);
        let (lo, hi) = block_lanes(&widen(weights(a)), b);
        let v = i32x4_add(lo, hi);
        let sumi = i32x4_extract_lane::<0>(v) + i32x4_extract_lane::<1>(v) + i32x4_extract_lane::<2>(v) + i32x4_extract_lane::<3>(v);
        sumf = scale(a, f16[b.d as usize]).mul_add(sumi as f32, sumf);
    }
    sumf
}

/// IQ4_NL as llama.cpp's decode rounds it (see [`two_accumulators`]).
pub fn vec_dot_iq4_nl_q8_0(n: usize, x: &[u8], y: &[u8]) -> f32 {
    two_accumulators::<BlockIq4Nl>(n, x, y, |a, dy| dy * f16_table()[a.d as usize], w_iq4_nl)
}

/// MXFP4 (llama.cpp's decode and prefill alike: tinyBLAS does not take it).
pub fn vec_dot_mxfp4_q8_0(n: usize, x: &[u8], y: &[u8]) -> f32 {
    two_accumulators::<BlockMxfp4>(n, x, y, |a, dy| dy * e8m0_to_f32_half(a.e), |a| {
        // SAFETY: 16 quant bytes.
        let q = unsafe { load(a.qs.as_ptr()) };
        (lookup16(&KVALUES_FP4, lo4(q)), lookup16(&KVALUES_FP4, hi4(q)))
    })
}

/// Q8_0 quantizer, byte-exact with the scalar reference.
pub fn quantize_row_q8_0(x: &[f32], y: &mut [u8]) {
    for (b, x) in blocks_mut::<BlockQ8_0>(y, x.len() / 32).iter_mut().zip(x.chunks_exact(32)) {
        // SAFETY: 32 floats.
        let v: [v128; 8] = core::array::from_fn(|k| unsafe { load(x.as_ptr().add(4 * k).cast()) });
        let m = v.iter().fold(f32x4_splat(0.0), |m, &x| f32x4_max(m, f32x4_abs(x)));
        let amax = f32x4_extract_lane::<0>(m)
            .max(f32x4_extract_lane::<1>(m))
            .max(f32x4_extract_lane::<2>(m))
            .max(f32x4_extract_lane::<3>(m));
        let d = amax / 127.0;
        let id = f32x4_splat(if amax != 0.0 { 127.0 / amax } else { 0.0 });
        let q: [v128; 8] = core::array::from_fn(|k| i32x4_trunc_sat_f32x4(f32x4_nearest(f32x4_mul(v[k], id))));
        let h: [v128; 4] = core::array::from_fn(|k| i16x8_narrow_i32x4(q[2 * k], q[2 * k + 1]));
        let lo = i8x16_narrow_i16x8(h[0], h[1]);
        let hi = i8x16_narrow_i16x8(h[2], h[3]);
        b.d = f32_to_f16(d);
        // SAFETY: 32 quant bytes.
        unsafe {
            v128_store(b.qs.as_mut_ptr().cast(), lo);
            v128_store(b.qs.as_mut_ptr().add(16).cast(), hi);
        }
    }
}
