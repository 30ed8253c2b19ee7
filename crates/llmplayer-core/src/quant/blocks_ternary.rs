//! Ternary types TQ1_0 (base-3 packed, 1.69 bpw) and TQ2_0 (2 bits per weight): every weight
//! is `d * t` with t in {-1, 0, 1}. Layouts follow ggml (llama.cpp de3ff815).

use super::blocks_k::BlockQ8K;
use super::float::f16_to_f32;
use super::{blocks, Block, QK_K};

#[repr(C, packed)]
#[derive(Clone, Copy, Debug)]
pub struct BlockTq1_0 {
    /// 240 trits, five per byte (as fixed-point fractions of 3^5).
    pub qs: [u8; 48],
    /// 16 trits, four per byte.
    pub qh: [u8; 4],
    pub d: u16,
}
const _: () = assert!(size_of::<BlockTq1_0>() == 54);

#[repr(C, packed)]
#[derive(Clone, Copy, Debug)]
pub struct BlockTq2_0 {
    pub qs: [u8; 64],
    pub d: u16,
}
const _: () = assert!(size_of::<BlockTq2_0>() == 66);

unsafe impl Block for BlockTq1_0 {}
unsafe impl Block for BlockTq2_0 {}

const POW3: [u8; 5] = [1, 3, 9, 27, 81];

/// Trit `n` of a packed byte: the byte is a base-3 fraction scaled by 256/243, so multiplying
/// by 3^n (mod 256) moves trit n to the top, and `(q * 3) >> 8` reads it.
#[inline]
fn trit(byte: u8, n: usize) -> i8 {
    let q = byte.wrapping_mul(POW3[n]);
    (((q as u16) * 3) >> 8) as i8 - 1
}

pub fn unpack_tq1_0(b: &BlockTq1_0) -> [i8; QK_K] {
    let mut t = [0i8; QK_K];
    for n in 0..5 {
        for m in 0..32 {
            t[32 * n + m] = trit(b.qs[m], n);
        }
        for m in 0..16 {
            t[160 + 16 * n + m] = trit(b.qs[32 + m], n);
        }
    }
    for n in 0..4 {
        for j in 0..4 {
            t[240 + 4 * n + j] = trit(b.qh[j], n);
        }
    }
    t
}

pub fn unpack_tq2_0(b: &BlockTq2_0) -> [i8; QK_K] {
    std::array::from_fn(|e| {
        let (j, l, m) = (e / 128, (e % 128) / 32, e % 32);
        ((b.qs[32 * j + m] >> (2 * l)) & 3) as i8 - 1
    })
}

pub fn dequantize_row_tq1_0(x: &[u8], y: &mut [f32]) {
    for (b, y) in blocks::<BlockTq1_0>(x, y.len() / QK_K).iter().zip(y.chunks_exact_mut(QK_K)) {
        let d = f16_to_f32(b.d);
        for (o, &t) in y.iter_mut().zip(&unpack_tq1_0(b)) {
            *o = t as f32 * d;
        }
    }
}

pub fn dequantize_row_tq2_0(x: &[u8], y: &mut [f32]) {
    for (b, y) in blocks::<BlockTq2_0>(x, y.len() / QK_K).iter().zip(y.chunks_exact_mut(QK_K)) {
        let d = f16_to_f32(b.d);
        for (o, &t) in y.iter_mut().zip(&unpack_tq2_0(b)) {
            *o = t as f32 * d;
        }
    }
}

#[inline]
fn dot256(a: &[i8; QK_K], b: &[i8; QK_K]) -> i32 {
    a.iter().zip(b).map(|(&x, &y)| x as i32 * y as i32).sum()
}

pub fn vec_dot_tq1_0_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / QK_K;
    let mut sumf = 0.0f32;
    for (a, b) in blocks::<BlockTq1_0>(x, nb).iter().zip(blocks::<BlockQ8K>(y, nb)) {
        sumf += dot256(&unpack_tq1_0(a), &b.qs) as f32 * (f16_to_f32(a.d) * b.d);
    }
    sumf
}

pub fn vec_dot_tq2_0_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / QK_K;
    let mut sumf = 0.0f32;
    for (a, b) in blocks::<BlockTq2_0>(x, nb).iter().zip(blocks::<BlockQ8K>(y, nb)) {
        sumf += dot256(&unpack_tq2_0(a), &b.qs) as f32 * (b.d * f16_to_f32(a.d));
    }
    sumf
}
