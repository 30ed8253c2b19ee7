//! The 32-element ("legacy") block types Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, their activation
//! partners Q8_0 / Q8_1, and the 1- and 2-bit sign types Q1_0 and Q2_0.
//!
//! Block layouts and formulas follow ggml (llama.cpp de3ff815, ggml-common.h and
//! ggml-quants.c); the element arithmetic is kept in ggml's operation order so that
//! dequantization is bit-exact.

use super::float::{f16_to_f32, f32_to_f16};
use super::{blocks, blocks_mut, Block};

pub const QK4_0: usize = 32;
pub const QK8_0: usize = 32;
pub const QK1_0: usize = 128;
pub const QK2_0: usize = 64;

/// 4-bit, `x = d * (q - 8)`.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ4_0 {
    pub d: u16,
    pub qs: [u8; 16],
}
const _: () = assert!(size_of::<BlockQ4_0>() == 18);

/// 4-bit with offset, `x = d * q + m`.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ4_1 {
    pub d: u16,
    pub m: u16,
    pub qs: [u8; 16],
}
const _: () = assert!(size_of::<BlockQ4_1>() == 20);

/// 5-bit, `x = d * (q - 16)`; bit 4 of element j is bit j of `qh` (little-endian u32).
#[repr(C, packed)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ5_0 {
    pub d: u16,
    pub qh: [u8; 4],
    pub qs: [u8; 16],
}
const _: () = assert!(size_of::<BlockQ5_0>() == 22);

/// 5-bit with offset, `x = d * q + m`.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ5_1 {
    pub d: u16,
    pub m: u16,
    pub qh: [u8; 4],
    pub qs: [u8; 16],
}
const _: () = assert!(size_of::<BlockQ5_1>() == 24);

/// 8-bit, `x = d * q`. Also the activation type of most 32-element weight types.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ8_0 {
    pub d: u16,
    pub qs: [i8; 32],
}
const _: () = assert!(size_of::<BlockQ8_0>() == 34);

/// 8-bit activation block with `s = d * sum(qs)` (f16), partner of Q4_1 and Q5_1.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ8_1 {
    pub d: u16,
    pub s: u16,
    pub qs: [i8; 32],
}
const _: () = assert!(size_of::<BlockQ8_1>() == 36);

/// 1-bit signs of 128 elements: bit set gives `+d`, clear gives `-d`.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ1_0 {
    pub d: u16,
    pub qs: [u8; 16],
}
const _: () = assert!(size_of::<BlockQ1_0>() == 18);

/// 2-bit, 64 elements: `x = d * (q - 1)`, q in 0..4 (element j at bits 2*(j%4) of byte j/4).
#[repr(C, packed)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ2_0 {
    pub d: u16,
    pub qs: [u8; 16],
}
const _: () = assert!(size_of::<BlockQ2_0>() == 18);

unsafe impl Block for BlockQ4_0 {}
unsafe impl Block for BlockQ4_1 {}
unsafe impl Block for BlockQ5_0 {}
unsafe impl Block for BlockQ5_1 {}
unsafe impl Block for BlockQ8_0 {}
unsafe impl Block for BlockQ8_1 {}
unsafe impl Block for BlockQ1_0 {}
unsafe impl Block for BlockQ2_0 {}

/// The 5th bits of a Q5 block as (low half, high half) masks: element j's bit is `qh >> j`.
#[inline]
fn q5_high_bit(qh: [u8; 4], j: usize) -> (u8, u8) {
    let qh = u32::from_le_bytes(qh);
    ((((qh >> j) << 4) & 0x10) as u8, ((qh >> (j + 12)) & 0x10) as u8)
}

// ---------------------------------------------------------------- dequantization

pub fn dequantize_row_q4_0(x: &[u8], y: &mut [f32]) {
    for (b, y) in blocks::<BlockQ4_0>(x, y.len() / QK4_0).iter().zip(y.chunks_exact_mut(32)) {
        let d = f16_to_f32(b.d);
        for (j, &q) in b.qs.iter().enumerate() {
            y[j] = ((q & 0x0f) as i32 - 8) as f32 * d;
            y[j + 16] = ((q >> 4) as i32 - 8) as f32 * d;
        }
    }
}

pub fn dequantize_row_q4_1(x: &[u8], y: &mut [f32]) {
    for (b, y) in blocks::<BlockQ4_1>(x, y.len() / 32).iter().zip(y.chunks_exact_mut(32)) {
        let (d, m) = (f16_to_f32(b.d), f16_to_f32(b.m));
        for (j, &q) in b.qs.iter().enumerate() {
            y[j] = (q & 0x0f) as f32 * d + m;
            y[j + 16] = (q >> 4) as f32 * d + m;
        }
    }
}

pub fn dequantize_row_q5_0(x: &[u8], y: &mut [f32]) {
    for (b, y) in blocks::<BlockQ5_0>(x, y.len() / 32).iter().zip(y.chunks_exact_mut(32)) {
        let d = f16_to_f32(b.d);
        for (j, &q) in b.qs.iter().enumerate() {
            let (h0, h1) = q5_high_bit(b.qh, j);
            y[j] = (((q & 0x0f) | h0) as i32 - 16) as f32 * d;
            y[j + 16] = (((q >> 4) | h1) as i32 - 16) as f32 * d;
        }
    }
}

pub fn dequantize_row_q5_1(x: &[u8], y: &mut [f32]) {
    for (b, y) in blocks::<BlockQ5_1>(x, y.len() / 32).iter().zip(y.chunks_exact_mut(32)) {
        let (d, m) = (f16_to_f32(b.d), f16_to_f32(b.m));
        for (j, &q) in b.qs.iter().enumerate() {
            let (h0, h1) = q5_high_bit(b.qh, j);
            y[j] = ((q & 0x0f) | h0) as f32 * d + m;
            y[j + 16] = ((q >> 4) | h1) as f32 * d + m;
        }
    }
}

pub fn dequantize_row_q8_0(x: &[u8], y: &mut [f32]) {
    for (b, y) in blocks::<BlockQ8_0>(x, y.len() / 32).iter().zip(y.chunks_exact_mut(32)) {
        let d = f16_to_f32(b.d);
        for (o, &q) in y.iter_mut().zip(b.qs.iter()) {
            *o = q as f32 * d;
        }
    }
}

pub fn dequantize_row_q8_1(x: &[u8], y: &mut [f32]) {
    for (b, y) in blocks::<BlockQ8_1>(x, y.len() / 32).iter().zip(y.chunks_exact_mut(32)) {
        let d = f16_to_f32(b.d);
        for (o, &q) in y.iter_mut().zip(b.qs.iter()) {
            *o = q as f32 * d;
        }
    }
}

pub fn dequantize_row_q1_0(x: &[u8], y: &mut [f32]) {
    for (b, y) in blocks::<BlockQ1_0>(x, y.len() / QK1_0).iter().zip(y.chunks_exact_mut(QK1_0)) {
        let d = f16_to_f32(b.d);
        for (j, o) in y.iter_mut().enumerate() {
            *o = if (b.qs[j / 8] >> (j % 8)) & 1 != 0 { d } else { -d };
        }
    }
}

pub fn dequantize_row_q2_0(x: &[u8], y: &mut [f32]) {
    for (b, y) in blocks::<BlockQ2_0>(x, y.len() / QK2_0).iter().zip(y.chunks_exact_mut(QK2_0)) {
        let d = f16_to_f32(b.d);
        for (j, o) in y.iter_mut().enumerate() {
            let q = (b.qs[j / 4] >> (2 * (j % 4))) & 3;
            *o = (q as i32 - 1) as f32 * d;
        }
    }
}

// ---------------------------------------------------------------- activation quantization

/// `d = amax/127` and the inverse scale `127/amax` (0 for an all-zero block), as ggml's x86
/// CPU backend computes them (the reference C quantizer uses `1/d`, which differs in the last
/// bit for some amax; llama.cpp's logits come from the x86 path, and a model's activations can
/// sit exactly on those ties).
#[inline]
fn q8_scale(x: &[f32]) -> (f32, f32) {
    let amax = x.iter().fold(0.0f32, |m, v| if v.abs() > m { v.abs() } else { m });
    (amax / 127.0, if amax != 0.0 { 127.0 / amax } else { 0.0 })
}

/// Q8_0 activation quantizer: `q = round(x * 127/amax)`, half to even (ggml's x86 rounding).
pub fn quantize_row_q8_0(x: &[f32], y: &mut [u8]) {
    for (b, x) in blocks_mut::<BlockQ8_0>(y, x.len() / QK8_0).iter_mut().zip(x.chunks_exact(32)) {
        let (d, id) = q8_scale(x);
        b.d = f32_to_f16(d);
        let mut qs = [0i8; 32];
        for (q, v) in qs.iter_mut().zip(x) {
            *q = (v * id).round_ties_even() as i8;
        }
        b.qs = qs;
    }
}

/// Q8_1 activation quantizer: as Q8_0, plus `s = f16(d * sum(q))` with the f32 `d`.
pub fn quantize_row_q8_1(x: &[f32], y: &mut [u8]) {
    for (b, x) in blocks_mut::<BlockQ8_1>(y, x.len() / 32).iter_mut().zip(x.chunks_exact(32)) {
        let (d, id) = q8_scale(x);
        let mut qs = [0i8; 32];
        for (q, v) in qs.iter_mut().zip(x) {
            *q = (v * id).round_ties_even() as i8;
        }
        let sum: i32 = qs.iter().map(|&q| q as i32).sum();
        b.d = f32_to_f16(d);
        b.s = f32_to_f16(sum as f32 * d);
        b.qs = qs;
    }
}

// ---------------------------------------------------------------- dot products (scalar)

#[inline]
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    a.iter().zip(b).map(|(&x, &y)| x as i32 * y as i32).sum()
}

pub fn vec_dot_q4_0_q8_0(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / 32;
    let mut sumf = 0.0f32;
    for (a, b) in blocks::<BlockQ4_0>(x, nb).iter().zip(blocks::<BlockQ8_0>(y, nb)) {
        let mut sumi = 0i32;
        for (j, &q) in a.qs.iter().enumerate() {
            sumi += ((q & 0x0f) as i32 - 8) * b.qs[j] as i32;
            sumi += ((q >> 4) as i32 - 8) * b.qs[j + 16] as i32;
        }
        sumf += sumi as f32 * (f16_to_f32(a.d) * f16_to_f32(b.d));
    }
    sumf
}

pub fn vec_dot_q4_1_q8_1(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / 32;
    let mut sumf = 0.0f32;
    for (a, b) in blocks::<BlockQ4_1>(x, nb).iter().zip(blocks::<BlockQ8_1>(y, nb)) {
        let mut sumi = 0i32;
        for (j, &q) in a.qs.iter().enumerate() {
            sumi += (q & 0x0f) as i32 * b.qs[j] as i32;
            sumi += (q >> 4) as i32 * b.qs[j + 16] as i32;
        }
        sumf += f16_to_f32(a.d) * f16_to_f32(b.d) * sumi as f32 + f16_to_f32(a.m) * f16_to_f32(b.s);
    }
    sumf
}

pub fn vec_dot_q5_0_q8_0(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / 32;
    let mut sumf = 0.0f32;
    for (a, b) in blocks::<BlockQ5_0>(x, nb).iter().zip(blocks::<BlockQ8_0>(y, nb)) {
        let mut sumi = 0i32;
        for (j, &q) in a.qs.iter().enumerate() {
            let (h0, h1) = q5_high_bit(a.qh, j);
            sumi += (((q & 0x0f) | h0) as i32 - 16) * b.qs[j] as i32;
            sumi += (((q >> 4) | h1) as i32 - 16) * b.qs[j + 16] as i32;
        }
        sumf += sumi as f32 * (f16_to_f32(a.d) * f16_to_f32(b.d));
    }
    sumf
}

pub fn vec_dot_q5_1_q8_1(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / 32;
    let mut sumf = 0.0f32;
    for (a, b) in blocks::<BlockQ5_1>(x, nb).iter().zip(blocks::<BlockQ8_1>(y, nb)) {
        let mut sumi = 0i32;
        for (j, &q) in a.qs.iter().enumerate() {
            let (h0, h1) = q5_high_bit(a.qh, j);
            sumi += ((q & 0x0f) | h0) as i32 * b.qs[j] as i32;
            sumi += ((q >> 4) | h1) as i32 * b.qs[j + 16] as i32;
        }
        sumf += f16_to_f32(a.d) * f16_to_f32(b.d) * sumi as f32 + f16_to_f32(a.m) * f16_to_f32(b.s);
    }
    sumf
}

pub fn vec_dot_q8_0_q8_0(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / 32;
    let mut sumf = 0.0f32;
    for (a, b) in blocks::<BlockQ8_0>(x, nb).iter().zip(blocks::<BlockQ8_0>(y, nb)) {
        sumf += dot_i8(&a.qs, &b.qs) as f32 * (f16_to_f32(a.d) * f16_to_f32(b.d));
    }
    sumf
}

/// Q8_1 · Q8_1 (not used by ggml; keeps the traits table total).
pub fn vec_dot_q8_1_q8_1(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / 32;
    let mut sumf = 0.0f32;
    for (a, b) in blocks::<BlockQ8_1>(x, nb).iter().zip(blocks::<BlockQ8_1>(y, nb)) {
        sumf += dot_i8(&a.qs, &b.qs) as f32 * (f16_to_f32(a.d) * f16_to_f32(b.d));
    }
    sumf
}

/// One Q1_0 block spans four Q8_0 blocks.
pub fn vec_dot_q1_0_q8_0(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / QK1_0;
    let ys = blocks::<BlockQ8_0>(y, nb * 4);
    let mut sumf = 0.0f32;
    for (a, yb) in blocks::<BlockQ1_0>(x, nb).iter().zip(ys.chunks_exact(4)) {
        let mut sumi = 0.0f32;
        for (k, b) in yb.iter().enumerate() {
            let mut s = 0i32;
            for (j, &q) in b.qs.iter().enumerate() {
                let bit = (a.qs[4 * k + j / 8] >> (j % 8)) & 1;
                s += if bit != 0 { q as i32 } else { -(q as i32) };
            }
            sumi += f16_to_f32(b.d) * s as f32;
        }
        sumf += f16_to_f32(a.d) * sumi;
    }
    sumf
}

/// One Q2_0 block spans two Q8_0 blocks.
pub fn vec_dot_q2_0_q8_0(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / QK2_0;
    let ys = blocks::<BlockQ8_0>(y, nb * 2);
    let mut sumf = 0.0f32;
    for (a, yb) in blocks::<BlockQ2_0>(x, nb).iter().zip(ys.chunks_exact(2)) {
        let mut sumi = 0.0f32;
        for (k, b) in yb.iter().enumerate() {
            let mut s = 0i32;
            for (j, &q) in b.qs.iter().enumerate() {
                let w = (a.qs[8 * k + j / 4] >> (2 * (j % 4))) & 3;
                s += (w as i32 - 1) * q as i32;
            }
            sumi += f16_to_f32(b.d) * s as f32;
        }
        sumf += f16_to_f32(a.d) * sumi;
    }
    sumf
}
