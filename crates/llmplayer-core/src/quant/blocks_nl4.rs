//! 4-bit codebook types: IQ4_NL and IQ4_XS (16 non-linear levels), MXFP4 and NVFP4
//! (E2M1 levels with E8M0 / UE4M3 block scales).
//!
//! Layouts and formulas follow ggml (llama.cpp de3ff815). Within a 32-element block (16 for
//! NVFP4 sub-blocks) byte `j` holds element `j` in its low nibble and element `j + 16` in its
//! high nibble.

use super::blocks_k::BlockQ8K;
use super::blocks_legacy::BlockQ8_0;
use super::float::f16_to_f32;
use super::grids::{KVALUES_FP4, KVALUES_IQ4NL};
use super::{blocks, Block, QK_K};

#[repr(C, packed)]
#[derive(Clone, Copy, Debug)]
pub struct BlockIq4Nl {
    pub d: u16,
    pub qs: [u8; 16],
}
const _: () = assert!(size_of::<BlockIq4Nl>() == 18);

#[repr(C, packed)]
#[derive(Clone, Copy, Debug)]
pub struct BlockIq4Xs {
    pub d: u16,
    /// High 2 bits of the eight 6-bit sub-block scales.
    pub scales_h: u16,
    /// Low 4 bits of the scales, two per byte.
    pub scales_l: [u8; 4],
    pub qs: [u8; 128],
}
const _: () = assert!(size_of::<BlockIq4Xs>() == 136);

#[repr(C, packed)]
#[derive(Clone, Copy, Debug)]
pub struct BlockMxfp4 {
    /// E8M0 shared exponent.
    pub e: u8,
    pub qs: [u8; 16],
}
const _: () = assert!(size_of::<BlockMxfp4>() == 17);

#[repr(C, packed)]
#[derive(Clone, Copy, Debug)]
pub struct BlockNvfp4 {
    /// UE4M3 scale of each 16-element sub-block.
    pub d: [u8; 4],
    pub qs: [u8; 32],
}
const _: () = assert!(size_of::<BlockNvfp4>() == 36);

unsafe impl Block for BlockIq4Nl {}
unsafe impl Block for BlockIq4Xs {}
unsafe impl Block for BlockMxfp4 {}
unsafe impl Block for BlockNvfp4 {}

/// Half of the E8M0 value `2^(e - 127)` (the FP4 table holds doubled values).
#[inline]
pub fn e8m0_to_f32_half(e: u8) -> f32 {
    let bits = if e < 2 { 0x0020_0000u32 << e } else { (e as u32 - 1) << 23 };
    f32::from_bits(bits)
}

/// Half of a UE4M3 scale (exponent bias 7, 3 mantissa bits; 0 and 0x7f read as 0).
#[inline]
pub fn ue4m3_to_f32_half(x: u8) -> f32 {
    if x == 0 || x == 0x7f {
        return 0.0;
    }
    let (exp, man) = ((x >> 3) & 0x0f, (x & 7) as f32);
    let raw = if exp == 0 {
        man * (1.0 / 512.0)
    } else {
        (1.0 + man / 8.0) * f32::from_bits(((exp as u32) + 127 - 7) << 23)
    };
    raw * 0.5
}

/// The six-bit scale of sub-block `ib` (0..8) of an IQ4_XS block, unbiased.
#[inline]
pub fn iq4xs_scale(b: &BlockIq4Xs, ib: usize) -> i32 {
    let h = b.scales_h;
    let ls = ((b.scales_l[ib / 2] >> (4 * (ib % 2))) & 0x0f) as u16 | (((h >> (2 * ib)) & 3) << 4);
    ls as i32 - 32
}

/// Decodes 16 bytes of nibbles through a 16-entry table: low nibbles first, then high.
#[inline]
fn decode16(qs: &[u8], table: &[i8; 16]) -> [i8; 32] {
    std::array::from_fn(|j| table[((qs[j % 16] >> (4 * (j / 16))) & 0x0f) as usize])
}

#[inline]
fn dot32(a: &[i8; 32], b: &[i8]) -> i32 {
    a.iter().zip(b).map(|(&x, &y)| x as i32 * y as i32).sum()
}

// ---------------------------------------------------------------- dequantization

pub fn dequantize_row_iq4_nl(x: &[u8], y: &mut [f32]) {
    for (b, y) in blocks::<BlockIq4Nl>(x, y.len() / 32).iter().zip(y.chunks_exact_mut(32)) {
        let d = f16_to_f32(b.d);
        for (o, &q) in y.iter_mut().zip(&decode16(&b.qs, &KVALUES_IQ4NL)) {
            *o = d * q as f32;
        }
    }
}

pub fn dequantize_row_iq4_xs(x: &[u8], y: &mut [f32]) {
    for (b, y) in blocks::<BlockIq4Xs>(x, y.len() / QK_K).iter().zip(y.chunks_exact_mut(QK_K)) {
        let d = f16_to_f32(b.d);
        for (ib, y) in y.chunks_exact_mut(32).enumerate() {
            let dl = d * iq4xs_scale(b, ib) as f32;
            for (o, &q) in y.iter_mut().zip(&decode16(&b.qs[16 * ib..], &KVALUES_IQ4NL)) {
                *o = dl * q as f32;
            }
        }
    }
}

pub fn dequantize_row_mxfp4(x: &[u8], y: &mut [f32]) {
    for (b, y) in blocks::<BlockMxfp4>(x, y.len() / 32).iter().zip(y.chunks_exact_mut(32)) {
        let d = e8m0_to_f32_half(b.e);
        for (o, &q) in y.iter_mut().zip(&decode16(&b.qs, &KVALUES_FP4)) {
            *o = q as f32 * d;
        }
    }
}

pub fn dequantize_row_nvfp4(x: &[u8], y: &mut [f32]) {
    for (b, y) in blocks::<BlockNvfp4>(x, y.len() / 64).iter().zip(y.chunks_exact_mut(64)) {
        for (s, y) in y.chunks_exact_mut(16).enumerate() {
            let d = ue4m3_to_f32_half(b.d[s]);
            for (j, o) in y.iter_mut().enumerate() {
                let q = (b.qs[8 * s + j % 8] >> (4 * (j / 8))) & 0x0f;
                *o = KVALUES_FP4[q as usize] as f32 * d;
            }
        }
    }
}

// ---------------------------------------------------------------- dot products (scalar)

pub fn vec_dot_iq4_nl_q8_0(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / 32;
    let mut sumf = 0.0f32;
    for (a, b) in blocks::<BlockIq4Nl>(x, nb).iter().zip(blocks::<BlockQ8_0>(y, nb)) {
        let d = f16_to_f32(b.d) * f16_to_f32(a.d);
        sumf += d * dot32(&decode16(&a.qs, &KVALUES_IQ4NL), &b.qs) as f32;
    }
    sumf
}

pub fn vec_dot_iq4_xs_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / QK_K;
    let mut sumf = 0.0f32;
    for (a, b) in blocks::<BlockIq4Xs>(x, nb).iter().zip(blocks::<BlockQ8K>(y, nb)) {
        let d4d8 = f16_to_f32(a.d) * b.d;
        for ib in 0..8 {
            let q = decode16(&a.qs[16 * ib..], &KVALUES_IQ4NL);
            sumf += d4d8 * iq4xs_scale(a, ib) as f32 * dot32(&q, &b.qs[32 * ib..]) as f32;
        }
    }
    sumf
}

pub fn vec_dot_mxfp4_q8_0(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / 32;
    let mut sumf = 0.0f32;
    for (a, b) in blocks::<BlockMxfp4>(x, nb).iter().zip(blocks::<BlockQ8_0>(y, nb)) {
        let d = f16_to_f32(b.d) * e8m0_to_f32_half(a.e);
        sumf += d * dot32(&decode16(&a.qs, &KVALUES_FP4), &b.qs) as f32;
    }
    sumf
}

/// One NVFP4 block (64 elements, four scaled sub-blocks of 16) spans two Q8_0 blocks.
pub fn vec_dot_nvfp4_q8_0(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / 64;
    let ys = blocks::<BlockQ8_0>(y, 2 * nb);
    let mut sumf = 0.0f32;
    for (a, yb) in blocks::<BlockNvfp4>(x, nb).iter().zip(ys.chunks_exact(2)) {
        for s in 0..4 {
            let b = &yb[s / 2];
            let off = 16 * (s % 2);
            let mut sumi = 0i32;
            for j in 0..16 {
                let q = (a.qs[8 * s + j % 8] >> (4 * (j / 8))) & 0x0f;
                sumi += KVALUES_FP4[q as usize] as i32 * b.qs[off + j] as i32;
            }
            sumf += f16_to_f32(b.d) * ue4m3_to_f32_half(a.d[s]) * sumi as f32;
        }
    }
    sumf
}
