//! Codebook ("i-quant") types with 8-element grids: IQ2_XXS, IQ2_XS, IQ2_S, and the 4-element
//! grid types IQ3_XXS and IQ3_S.
//!
//! Every group of 8 (or 4) weights is one codebook entry of magnitudes plus 8 sign bits; a
//! 4-bit sub-block scale `s` gives the multiplier. Layouts and formulas follow ggml
//! (llama.cpp de3ff815). The scalar kernels unpack a super-block into signed integers
//! `grid * sign` and 4-bit scales; dot products weight each sub-block by `2*s + 1`.

use super::float::f16_to_f32;
use super::grids::*;
use super::{blocks, blocks_k::BlockQ8K, Block, QK_K};

#[repr(C, packed)]
#[derive(Clone, Copy, Debug)]
pub struct BlockIq2Xxs {
    pub d: u16,
    /// Per 32 elements, two u32: four 8-bit grid indices, then four 7-bit sign sets and a
    /// 4-bit scale in the top bits.
    pub qs: [u16; 32],
}
const _: () = assert!(size_of::<BlockIq2Xxs>() == 66);

#[repr(C, packed)]
#[derive(Clone, Copy, Debug)]
pub struct BlockIq2Xs {
    pub d: u16,
    /// Per 8 elements: 9-bit grid index, 7-bit sign set.
    pub qs: [u16; 32],
    /// Two 4-bit scales per 32 elements.
    pub scales: [u8; 8],
}
const _: () = assert!(size_of::<BlockIq2Xs>() == 74);

#[repr(C, packed)]
#[derive(Clone, Copy, Debug)]
pub struct BlockIq2S {
    pub d: u16,
    /// 32 low bytes of 10-bit grid indices, then 32 sign bytes.
    pub qs: [u8; 64],
    /// High 2 bits of the indices, four per byte.
    pub qh: [u8; 8],
    pub scales: [u8; 8],
}
const _: () = assert!(size_of::<BlockIq2S>() == 82);

#[repr(C, packed)]
#[derive(Clone, Copy, Debug)]
pub struct BlockIq3Xxs {
    pub d: u16,
    /// 64 grid indices (4 elements each), then 8 u32 of four 7-bit sign sets + 4-bit scale.
    pub qs: [u8; 96],
}
const _: () = assert!(size_of::<BlockIq3Xxs>() == 98);

#[repr(C, packed)]
#[derive(Clone, Copy, Debug)]
pub struct BlockIq3S {
    pub d: u16,
    /// Low bytes of 9-bit grid indices.
    pub qs: [u8; 64],
    /// 9th index bits, one byte per 32 elements.
    pub qh: [u8; 8],
    pub signs: [u8; 32],
    /// Two 4-bit scales per 64 elements.
    pub scales: [u8; 4],
}
const _: () = assert!(size_of::<BlockIq3S>() == 110);

unsafe impl Block for BlockIq2Xxs {}
unsafe impl Block for BlockIq2Xs {}
unsafe impl Block for BlockIq2S {}
unsafe impl Block for BlockIq3Xxs {}
unsafe impl Block for BlockIq3S {}

/// Writes the 8 signed elements of one grid entry: byte `j` of `grid`, negated where bit
/// `j` of `signs` is set.
#[inline]
fn put8(out: &mut [i8], grid: u64, signs: u8) {
    for (j, o) in out[..8].iter_mut().enumerate() {
        let g = grid_byte_u64(grid, j) as i8;
        *o = if signs & (1 << j) != 0 { -g } else { g };
    }
}

/// As [`put8`] for two 4-element entries sharing one sign byte.
#[inline]
fn put4x2(out: &mut [i8], g1: u32, g2: u32, signs: u8) {
    for j in 0..4 {
        let (a, b) = (grid_byte_u32(g1, j) as i8, grid_byte_u32(g2, j) as i8);
        out[j] = if signs & (1 << j) != 0 { -a } else { a };
        out[j + 4] = if signs & (1 << (j + 4)) != 0 { -b } else { b };
    }
}

/// Unpacked super-block: signed grid values and 4-bit scales, one per `256 / N` elements.
pub struct Unpacked<const N: usize> {
    pub q: [i8; QK_K],
    pub ls: [u8; N],
}

pub fn unpack_iq2_xxs(b: &BlockIq2Xxs) -> Unpacked<8> {
    let qs = b.qs;
    let mut u = Unpacked { q: [0; QK_K], ls: [0; 8] };
    for ib in 0..8 {
        let a0 = qs[4 * ib] as u32 | (qs[4 * ib + 1] as u32) << 16;
        let a1 = qs[4 * ib + 2] as u32 | (qs[4 * ib + 3] as u32) << 16;
        u.ls[ib] = (a1 >> 28) as u8;
        for l in 0..4 {
            let grid = IQ2XXS_GRID[(a0 >> (8 * l)) as u8 as usize];
            let signs = KSIGNS_IQ2XS[((a1 >> (7 * l)) & 127) as usize];
            put8(&mut u.q[32 * ib + 8 * l..], grid, signs);
        }
    }
    u
}

pub fn unpack_iq2_xs(b: &BlockIq2Xs) -> Unpacked<16> {
    let qs = b.qs;
    let mut u = Unpacked { q: [0; QK_K], ls: [0; 16] };
    for (k, ls) in u.ls.iter_mut().enumerate() {
        *ls = (b.scales[k / 2] >> (4 * (k % 2))) & 0x0f;
    }
    for (g, &v) in qs.iter().enumerate() {
        put8(&mut u.q[8 * g..], IQ2XS_GRID[(v & 511) as usize], KSIGNS_IQ2XS[(v >> 9) as usize]);
    }
    u
}

pub fn unpack_iq2_s(b: &BlockIq2S) -> Unpacked<16> {
    let mut u = Unpacked { q: [0; QK_K], ls: [0; 16] };
    for (k, ls) in u.ls.iter_mut().enumerate() {
        *ls = (b.scales[k / 2] >> (4 * (k % 2))) & 0x0f;
    }
    for g in 0..32 {
        let (ib, l) = (g / 4, g % 4);
        let idx = b.qs[g] as usize | ((b.qh[ib] as usize) << (8 - 2 * l) & 0x300);
        put8(&mut u.q[8 * g..], IQ2S_GRID[idx], b.qs[32 + g]);
    }
    u
}

pub fn unpack_iq3_xxs(b: &BlockIq3Xxs) -> Unpacked<8> {
    let mut u = Unpacked { q: [0; QK_K], ls: [0; 8] };
    for ib in 0..8 {
        let o = 64 + 4 * ib;
        let aux = u32::from_le_bytes([b.qs[o], b.qs[o + 1], b.qs[o + 2], b.qs[o + 3]]);
        u.ls[ib] = (aux >> 28) as u8;
        for l in 0..4 {
            let g1 = IQ3XXS_GRID[b.qs[8 * ib + 2 * l] as usize];
            let g2 = IQ3XXS_GRID[b.qs[8 * ib + 2 * l + 1] as usize];
            put4x2(&mut u.q[32 * ib + 8 * l..], g1, g2, KSIGNS_IQ2XS[((aux >> (7 * l)) & 127) as usize]);
        }
    }
    u
}

pub fn unpack_iq3_s(b: &BlockIq3S) -> Unpacked<8> {
    let mut u = Unpacked { q: [0; QK_K], ls: [0; 8] };
    for ib in 0..8 {
        u.ls[ib] = (b.scales[ib / 2] >> (4 * (ib % 2))) & 0x0f;
        let qh = b.qh[ib] as usize;
        for l in 0..4 {
            let i1 = b.qs[8 * ib + 2 * l] as usize | ((qh << (8 - 2 * l)) & 256);
            let i2 = b.qs[8 * ib + 2 * l + 1] as usize | ((qh << (7 - 2 * l)) & 256);
            put4x2(&mut u.q[32 * ib + 8 * l..], IQ3S_GRID[i1], IQ3S_GRID[i2], b.signs[4 * ib + l]);
        }
    }
    u
}

// ---------------------------------------------------------------- dequantization

/// `y = db(ls) * q` with one scale per `256 / N` elements.
#[inline]
fn dequant_unpacked<const N: usize>(u: &Unpacked<N>, y: &mut [f32], db: impl Fn(u8) -> f32) {
    let group = QK_K / N;
    for (k, y) in y.chunks_exact_mut(group).enumerate() {
        let dl = db(u.ls[k]);
        for (o, &q) in y.iter_mut().zip(&u.q[k * group..]) {
            *o = dl * q as f32;
        }
    }
}

pub fn dequantize_row_iq2_xxs(x: &[u8], y: &mut [f32]) {
    for (b, y) in blocks::<BlockIq2Xxs>(x, y.len() / QK_K).iter().zip(y.chunks_exact_mut(QK_K)) {
        let d = f16_to_f32(b.d);
        dequant_unpacked(&unpack_iq2_xxs(b), y, |ls| d * (0.5 + ls as f32) * 0.25);
    }
}

pub fn dequantize_row_iq2_xs(x: &[u8], y: &mut [f32]) {
    for (b, y) in blocks::<BlockIq2Xs>(x, y.len() / QK_K).iter().zip(y.chunks_exact_mut(QK_K)) {
        let d = f16_to_f32(b.d);
        dequant_unpacked(&unpack_iq2_xs(b), y, |ls| d * (0.5 + ls as f32) * 0.25);
    }
}

pub fn dequantize_row_iq2_s(x: &[u8], y: &mut [f32]) {
    for (b, y) in blocks::<BlockIq2S>(x, y.len() / QK_K).iter().zip(y.chunks_exact_mut(QK_K)) {
        let d = f16_to_f32(b.d);
        dequant_unpacked(&unpack_iq2_s(b), y, |ls| d * (0.5 + ls as f32) * 0.25);
    }
}

pub fn dequantize_row_iq3_xxs(x: &[u8], y: &mut [f32]) {
    for (b, y) in blocks::<BlockIq3Xxs>(x, y.len() / QK_K).iter().zip(y.chunks_exact_mut(QK_K)) {
        let d = f16_to_f32(b.d);
        dequant_unpacked(&unpack_iq3_xxs(b), y, |ls| d * (0.5 + ls as f32) * 0.5);
    }
}

pub fn dequantize_row_iq3_s(x: &[u8], y: &mut [f32]) {
    for (b, y) in blocks::<BlockIq3S>(x, y.len() / QK_K).iter().zip(y.chunks_exact_mut(QK_K)) {
        let d = f16_to_f32(b.d);
        dequant_unpacked(&unpack_iq3_s(b), y, |ls| d * (1 + 2 * ls as i32) as f32);
    }
}

// ---------------------------------------------------------------- dot products (scalar)

/// `sum_k (2*ls[k] + 1) * dot(q[group k], y[group k])`.
#[inline]
fn odd_scaled_dot<const N: usize>(u: &Unpacked<N>, y: &[i8; QK_K]) -> i32 {
    let group = QK_K / N;
    (0..N)
        .map(|k| {
            let r = k * group..(k + 1) * group;
            let dot: i32 = u.q[r.clone()].iter().zip(&y[r]).map(|(&a, &b)| a as i32 * b as i32).sum();
            (2 * u.ls[k] as i32 + 1) * dot
        })
        .sum()
}

macro_rules! iq_dot {
    ($name:ident, $block:ty, $unpack:ident, $factor:expr) => {
        pub fn $name(n: usize, x: &[u8], y: &[u8]) -> f32 {
            let nb = n / QK_K;
            let mut sumf = 0.0f32;
            for (a, b) in blocks::<$block>(x, nb).iter().zip(blocks::<BlockQ8K>(y, nb)) {
                let d = f16_to_f32(a.d) * b.d;
                sumf += d * odd_scaled_dot(&$unpack(a), &b.qs) as f32;
            }
            $factor * sumf
        }
    };
}

iq_dot!(vec_dot_iq2_xxs_q8_k, BlockIq2Xxs, unpack_iq2_xxs, 0.125);
iq_dot!(vec_dot_iq2_xs_q8_k, BlockIq2Xs, unpack_iq2_xs, 0.125);
iq_dot!(vec_dot_iq2_s_q8_k, BlockIq2S, unpack_iq2_s, 0.125);
iq_dot!(vec_dot_iq3_xxs_q8_k, BlockIq3Xxs, unpack_iq3_xxs, 0.25);
iq_dot!(vec_dot_iq3_s_q8_k, BlockIq3S, unpack_iq3_s, 1.0);
