//! The Q8_K-activation part of [`ggml_dot`](super::ggml_dot) (see `exact.rs` for the rules):
//! K-quants, IQ4_XS, the IQ1 / IQ2 / IQ3 codebook types and the ternary types, each after its
//! `ggml_vec_dot_*_q8_K` (AVX2).

use super::exact::{fma8, hsum4, hsum8, lane, nibble};
use crate::quant::blocks;
use crate::quant::blocks_iq1::{self as iq1, BlockIq1M, BlockIq1S};
use crate::quant::blocks_iq2::Unpacked;
use crate::quant::blocks_k::{q3k_scales, scale_min_k4, BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K};
use crate::quant::blocks_nl4::{iq4xs_scale, BlockIq4Xs};
use crate::quant::float::f16_to_f32;
use crate::quant::grids::{IQ1S_DELTA, KVALUES_IQ4NL};
use crate::quant::{Block, QK_K};

/// `sum_e scale(e) * w(e) * y(e)` of a super-block into [`lane`]`(e)`.
fn lanes256(y: &BlockQ8K, wq: impl Fn(usize) -> i32, scale: impl Fn(usize) -> i32) -> [i32; 8] {
    let mut q = [0i32; 8];
    for e in 0..QK_K {
        q[lane(e)] += scale(e) * wq(e) * y.qs[e] as i32;
    }
    q
}

/// `madd(v16, bsums)`: lane k = `v[2k] * bsums[2k] + v[2k+1] * bsums[2k+1]`.
fn madd_bsums(v: impl Fn(usize) -> i32, y: &BlockQ8K) -> [i32; 8] {
    let bs = y.bsums;
    std::array::from_fn(|k| v(2 * k) * bs[2 * k] as i32 + v(2 * k + 1) * bs[2 * k + 1] as i32)
}

/// Q4_K / Q5_K: the mins through `hadd(bsums)` and `madd`: Q4_K keeps them in a 4-lane
/// accumulator (`acc_m`), Q5_K in a scalar; either is added after the horizontal sums.
pub(super) fn dot_q45k(n: usize, w: &[u8], a: &[u8], five: bool) -> f32 {
    let nb = n / QK_K;
    let (mut acc, mut acc_m, mut summs) = ([0f32; 8], [0f32; 4], 0f32);
    for (i, y) in blocks::<BlockQ8K>(a, nb).iter().enumerate() {
        let (d, dmin, scales, q): (u16, u16, [u8; 12], Box<dyn Fn(usize) -> i32>) = if five {
            let b = blocks::<BlockQ5K>(w, nb)[i];
            let q = move |e: usize| {
                let (j, l) = (e / 64, e % 64);
                let nib = if l < 32 { b.qs[32 * j + l] & 15 } else { b.qs[32 * j + l - 32] >> 4 };
                (nib | ((b.qh[l % 32] >> (2 * j + l / 32)) & 1) << 4) as i32
            };
            (b.d, b.dmin, b.scales, Box::new(q))
        } else {
            let b = blocks::<BlockQ4K>(w, nb)[i];
            let q = move |e: usize| {
                let (j, l) = (e / 64, e % 64);
                (if l < 32 { b.qs[32 * j + l] & 15 } else { b.qs[32 * j + l - 32] >> 4 }) as i32
            };
            (b.d, b.dmin, b.scales, Box::new(q))
        };
        let dd = y.d * f16_to_f32(d);
        let dm = -y.d * f16_to_f32(dmin);
        let bs = y.bsums;
        // hadd_epi16(bsums[0..8], bsums[8..16]) = sums over the 8 sub-blocks of 32, then
        // madd with the 8 mins: 4 lanes.
        let q8s = |j: usize| bs[2 * j] as i32 + bs[2 * j + 1] as i32;
        let mins = |j: usize| scale_min_k4(j, &scales).1 as i32;
        let prod: [i32; 4] = std::array::from_fn(|k| mins(2 * k) * q8s(2 * k) + mins(2 * k + 1) * q8s(2 * k + 1));
        if five {
            // Q5_K sums the four lanes in integers (`hadd`) and keeps a scalar
            // `summs += dmin * isum`, contracted to an FMA.
            summs = dm.mul_add(prod.iter().sum::<i32>() as f32, summs);
        } else {
            for k in 0..4 {
                acc_m[k] = dm.mul_add(prod[k] as f32, acc_m[k]);
            }
        }
        let sumi = lanes256(y, &q, |e| scale_min_k4(e / 32, &scales).0 as i32);
        fma8(&mut acc, dd, &sumi);
    }
    if five {
        hsum8(&acc) + summs
    } else {
        hsum8(&acc) + hsum4(&acc_m)
    }
}

pub(super) fn dot_q6k(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let nb = n / QK_K;
    let mut acc = [0f32; 8];
    for (b, y) in blocks::<BlockQ6K>(w, nb).iter().zip(blocks::<BlockQ8K>(a, nb)) {
        let q = |e: usize| {
            let (h, part, l) = (e / 128, (e % 128) / 32, e % 32);
            let low = (b.ql[64 * h + 32 * (part & 1) + l] >> (if part >= 2 { 4 } else { 0 })) & 15;
            (low | ((b.qh[32 * h + l] >> (2 * part)) & 3) << 4) as i32
        };
        let sc = b.scales;
        // The unsigned 6-bit values, then the -32 as `32 * madd(bsums, scales)`.
        let pos = lanes256(y, q, |e| sc[e / 16] as i32);
        let off = madd_bsums(|k| sc[k] as i32, y);
        let sumi: [i32; 8] = std::array::from_fn(|k| pos[k].wrapping_sub(off[k] << 5));
        fma8(&mut acc, y.d * f16_to_f32(b.d), &sumi);
    }
    hsum8(&acc)
}

/// Q2_K: the mins go into the same accumulator, one FMA before the scales' one.
pub(super) fn dot_q2k(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let nb = n / QK_K;
    let mut acc = [0f32; 8];
    for (b, y) in blocks::<BlockQ2K>(w, nb).iter().zip(blocks::<BlockQ8K>(a, nb)) {
        let (d, dmin) = (y.d * f16_to_f32(b.d), -y.d * f16_to_f32(b.dmin));
        fma8(&mut acc, dmin, &madd_bsums(|k| (b.scales[k] >> 4) as i32, y));
        let q = |e: usize| ((b.qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3) as i32;
        fma8(&mut acc, d, &lanes256(y, q, |e| (b.scales[e / 16] & 15) as i32));
    }
    hsum8(&acc)
}

pub(super) fn dot_q3k(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let nb = n / QK_K;
    let mut acc = [0f32; 8];
    for (b, y) in blocks::<BlockQ3K>(w, nb).iter().zip(blocks::<BlockQ8K>(a, nb)) {
        let sc = q3k_scales(&b.scales);
        let q = |e: usize| {
            let (h, j, l) = (e / 128, (e % 128) / 32, e % 32);
            let low = ((b.qs[32 * h + l] >> (2 * j)) & 3) as i32;
            low - if (b.hmask[l] >> (4 * h + j)) & 1 == 1 { 0 } else { 4 }
        };
        fma8(&mut acc, y.d * f16_to_f32(b.d), &lanes256(y, q, |e| sc[e / 16] as i32 - 32));
    }
    hsum8(&acc)
}

pub(super) fn dot_iq4xs(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let nb = n / QK_K;
    let mut acc = [0f32; 8];
    for (b, y) in blocks::<BlockIq4Xs>(w, nb).iter().zip(blocks::<BlockQ8K>(a, nb)) {
        let q = |e: usize| {
            let (ib, l) = (e / 32, e % 32);
            let qs: &[u8; 16] = b.qs[16 * ib..16 * ib + 16].try_into().unwrap();
            KVALUES_IQ4NL[nibble(qs, l) as usize] as i32
        };
        fma8(&mut acc, f16_to_f32(b.d) * y.d, &lanes256(y, q, |e| iq4xs_scale(b, e / 32)));
    }
    hsum8(&acc)
}

/// IQ2_XXS / IQ2_XS / IQ2_S / IQ3_XXS / IQ3_S: `ggml_vec_dot_iq*_q8_K` (AVX2): signed grid
/// values times the odd scale `2 * ls + 1` of their group in the usual lanes, one FMA of
/// `f16(d) * y.d` per super-block, the type's constant factor after `hsum_float_8`.
pub(super) fn dot_iq2<B: Block, const N: usize>(
    n: usize,
    w: &[u8],
    a: &[u8],
    unpack: fn(&B) -> Unpacked<N>,
    d: fn(&B) -> u16,
    factor: f32,
) -> f32 {
    let nb = n / QK_K;
    let mut acc = [0f32; 8];
    for (b, y) in blocks::<B>(w, nb).iter().zip(blocks::<BlockQ8K>(a, nb)) {
        let u = unpack(b);
        let lanes = lanes256(y, |e| u.q[e] as i32, |e| 2 * u.ls[e / (QK_K / N)] as i32 + 1);
        fma8(&mut acc, f16_to_f32(d(b)) * y.d, &lanes);
    }
    factor * hsum8(&acc)
}

/// TQ1_0 / TQ2_0: `ggml_vec_dot_tq*_q8_K` (AVX2): the unsigned trits (0, 1, 2) in the usual
/// lanes, minus `madd(bsums, 1)`; per super-block `sumf = cvt(lanes) * d + sumf`, which the
/// compiler contracts to an FMA (the fixtures match only so).
pub(super) fn dot_ternary<B: Block>(n: usize, w: &[u8], a: &[u8], unpack: fn(&B) -> [i8; QK_K], d: fn(&B) -> u16) -> f32 {
    let nb = n / QK_K;
    let mut acc = [0f32; 8];
    for (b, y) in blocks::<B>(w, nb).iter().zip(blocks::<BlockQ8K>(a, nb)) {
        let t = unpack(b);
        let pos = lanes256(y, |e| t[e] as i32 + 1, |_| 1);
        let off = madd_bsums(|_| 1, y);
        let d = y.d * f16_to_f32(d(b));
        for k in 0..8 {
            let q = (pos[k] - off[k]) as f32;
            acc[k] = q.mul_add(d, acc[k]);
        }
    }
    hsum8(&acc)
}

/// IQ1_S: `ggml_vec_dot_iq1_s_q8_K` (AVX2): grid values times the group scales in the usual
/// lanes (one FMA of `d = y.d * f16(x.d)` per super-block), the delta terms summed in integers
/// and kept in a scalar (`accum1 += d * sumi1`, contracted), added as `IQ1S_DELTA * accum1`.
pub(super) fn dot_iq1s(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let nb = n / QK_K;
    let (mut acc, mut accum1) = ([0f32; 8], 0f32);
    for (b, y) in blocks::<BlockIq1S>(w, nb).iter().zip(blocks::<BlockQ8K>(a, nb)) {
        let u = iq1::unpack_iq1_s(b);
        let lanes = lanes256(y, |e| u.q[e] as i32, |e| u.ls[e / 8] as i32);
        let sumi1: i32 = (0..QK_K).map(|e| u.ls[e / 8] as i32 * u.delta[e / 8] as i32 * y.qs[e] as i32).sum();
        let d = y.d * f16_to_f32(b.d);
        fma8(&mut acc, d, &lanes);
        accum1 = d.mul_add(sumi1 as f32, accum1);
    }
    hsum8(&acc) + IQ1S_DELTA * accum1
}

/// IQ1_M: `ggml_vec_dot_iq1_m_q8_K` (AVX2): the grid values and the delta signs, each times
/// the scales of their 16-element groups, in two 8-lane accumulators; `d = y.d * f16(scale)`;
/// `hsum(acc1) + IQ1M_DELTA * hsum(acc2)`.
pub(super) fn dot_iq1m(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let nb = n / QK_K;
    let (mut acc1, mut acc2) = ([0f32; 8], [0f32; 8]);
    for (b, y) in blocks::<BlockIq1M>(w, nb).iter().zip(blocks::<BlockQ8K>(a, nb)) {
        let u = iq1::unpack_iq1_m(b);
        let d = y.d * iq1::iq1m_scale(b);
        fma8(&mut acc1, d, &lanes256(y, |e| u.q[e] as i32, |e| u.ls[e / 8] as i32));
        fma8(&mut acc2, d, &lanes256(y, |e| u.delta[e / 8] as i32, |e| u.ls[e / 8] as i32));
    }
    hsum8(&acc1) + IQ1S_DELTA * hsum8(&acc2)
}

