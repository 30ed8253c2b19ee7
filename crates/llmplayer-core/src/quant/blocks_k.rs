//! The K-quants: 256-element super-blocks Q2_K, Q3_K, Q4_K, Q5_K, Q6_K and their activation
//! partner Q8_K.
//!
//! Layouts and formulas follow ggml (llama.cpp de3ff815). Each scalar kernel first unpacks a
//! super-block into plain integers (`q[256]` plus per-sub-block scales), which keeps the bit
//! layout in one place per type; the arithmetic on floats keeps ggml's operation order.

use super::float::f16_to_f32;
use super::{blocks, blocks_mut, Block, QK_K};

#[repr(C, packed)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ2K {
    /// 16 sub-blocks: low nibble scale, high nibble min.
    pub scales: [u8; 16],
    pub qs: [u8; 64],
    pub d: u16,
    pub dmin: u16,
}
const _: () = assert!(size_of::<BlockQ2K>() == 84);

#[repr(C, packed)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ3K {
    pub hmask: [u8; 32],
    pub qs: [u8; 64],
    /// 16 six-bit scales, biased by 32.
    pub scales: [u8; 12],
    pub d: u16,
}
const _: () = assert!(size_of::<BlockQ3K>() == 110);

#[repr(C, packed)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ4K {
    pub d: u16,
    pub dmin: u16,
    /// 8 six-bit scales and 8 six-bit mins (ggml's `get_scale_min_k4` layout).
    pub scales: [u8; 12],
    pub qs: [u8; 128],
}
const _: () = assert!(size_of::<BlockQ4K>() == 144);

#[repr(C, packed)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ5K {
    pub d: u16,
    pub dmin: u16,
    pub scales: [u8; 12],
    pub qh: [u8; 32],
    pub qs: [u8; 128],
}
const _: () = assert!(size_of::<BlockQ5K>() == 176);

#[repr(C, packed)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ6K {
    pub ql: [u8; 128],
    pub qh: [u8; 64],
    pub scales: [i8; 16],
    pub d: u16,
}
const _: () = assert!(size_of::<BlockQ6K>() == 210);

/// Activation block: `x = d * q`; `bsums[k]` is the sum of `qs[16k..16k+16]`.
#[repr(C, packed)]
#[derive(Clone, Copy, Debug)]
pub struct BlockQ8K {
    pub d: f32,
    pub qs: [i8; 256],
    pub bsums: [i16; 16],
}
const _: () = assert!(size_of::<BlockQ8K>() == 292);

unsafe impl Block for BlockQ2K {}
unsafe impl Block for BlockQ3K {}
unsafe impl Block for BlockQ4K {}
unsafe impl Block for BlockQ5K {}
unsafe impl Block for BlockQ6K {}
unsafe impl Block for BlockQ8K {}

/// Scale and min of sub-block `j` (0..8) from the packed 12-byte field of Q4_K / Q5_K.
#[inline]
pub fn scale_min_k4(j: usize, s: &[u8; 12]) -> (u8, u8) {
    if j < 4 {
        (s[j] & 63, s[j + 4] & 63)
    } else {
        ((s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4), (s[j + 4] >> 4) | ((s[j] >> 6) << 4))
    }
}

/// The 16 six-bit scales of a Q3_K block (still biased by 32).
#[inline]
pub fn q3k_scales(s: &[u8; 12]) -> [i8; 16] {
    std::array::from_fn(|j| {
        let low = if j < 8 { s[j] & 0x0f } else { s[j - 8] >> 4 };
        let high = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
        (low | (high << 4)) as i8
    })
}

// ---------------------------------------------------------------- unpacking

fn unpack_q2k(b: &BlockQ2K) -> [i8; QK_K] {
    std::array::from_fn(|e| {
        let (n, j, l) = (e / 128, (e % 128) / 32, e % 32);
        ((b.qs[32 * n + l] >> (2 * j)) & 3) as i8
    })
}

fn unpack_q3k(b: &BlockQ3K) -> [i8; QK_K] {
    std::array::from_fn(|e| {
        let (n, j, l) = (e / 128, (e % 128) / 32, e % 32);
        let low = ((b.qs[32 * n + l] >> (2 * j)) & 3) as i8;
        let high_set = b.hmask[l] & (1 << (4 * n + j)) != 0;
        low - if high_set { 0 } else { 4 }
    })
}

fn unpack_q4k(b: &BlockQ4K) -> [i8; QK_K] {
    std::array::from_fn(|e| {
        let (j, hi, l) = (e / 64, (e % 64) / 32, e % 32);
        ((b.qs[32 * j + l] >> (4 * hi)) & 0x0f) as i8
    })
}

fn unpack_q5k(b: &BlockQ5K) -> [i8; QK_K] {
    std::array::from_fn(|e| {
        let (j, hi, l) = (e / 64, (e % 64) / 32, e % 32);
        let low = (b.qs[32 * j + l] >> (4 * hi)) & 0x0f;
        let high = (b.qh[l] >> (2 * j + hi)) & 1;
        (low | (high << 4)) as i8
    })
}

fn unpack_q6k(b: &BlockQ6K) -> [i8; QK_K] {
    std::array::from_fn(|e| {
        let (n, part, l) = (e / 128, (e % 128) / 32, e % 32);
        let low = (b.ql[64 * n + 32 * (part & 1) + l] >> (4 * (part >> 1))) & 0x0f;
        let high = (b.qh[32 * n + l] >> (2 * part)) & 3;
        (low | (high << 4)) as i8 - 32
    })
}

fn k4_scales_mins(s: &[u8; 12]) -> ([u8; 8], [u8; 8]) {
    let mut sc = [0u8; 8];
    let mut mn = [0u8; 8];
    for j in 0..8 {
        (sc[j], mn[j]) = scale_min_k4(j, s);
    }
    (sc, mn)
}

// ---------------------------------------------------------------- dequantization

pub fn dequantize_row_q2_k(x: &[u8], y: &mut [f32]) {
    for (b, y) in blocks::<BlockQ2K>(x, y.len() / QK_K).iter().zip(y.chunks_exact_mut(QK_K)) {
        let (d, dmin) = (f16_to_f32(b.d), f16_to_f32(b.dmin));
        let q = unpack_q2k(b);
        for (e, o) in y.iter_mut().enumerate() {
            let sc = b.scales[e / 16];
            let (dl, ml) = (d * (sc & 0x0f) as f32, dmin * (sc >> 4) as f32);
            *o = dl * q[e] as f32 - ml;
        }
    }
}

pub fn dequantize_row_q3_k(x: &[u8], y: &mut [f32]) {
    for (b, y) in blocks::<BlockQ3K>(x, y.len() / QK_K).iter().zip(y.chunks_exact_mut(QK_K)) {
        let d = f16_to_f32(b.d);
        let (q, sc) = (unpack_q3k(b), q3k_scales(&b.scales));
        for (e, o) in y.iter_mut().enumerate() {
            *o = (d * (sc[e / 16] as i32 - 32) as f32) * q[e] as f32;
        }
    }
}

pub fn dequantize_row_q4_k(x: &[u8], y: &mut [f32]) {
    for (b, y) in blocks::<BlockQ4K>(x, y.len() / QK_K).iter().zip(y.chunks_exact_mut(QK_K)) {
        let (d, dmin) = (f16_to_f32(b.d), f16_to_f32(b.dmin));
        let (q, (sc, mn)) = (unpack_q4k(b), k4_scales_mins(&b.scales));
        for (e, o) in y.iter_mut().enumerate() {
            let (d1, m1) = (d * sc[e / 32] as f32, dmin * mn[e / 32] as f32);
            *o = d1 * q[e] as f32 - m1;
        }
    }
}

pub fn dequantize_row_q5_k(x: &[u8], y: &mut [f32]) {
    for (b, y) in blocks::<BlockQ5K>(x, y.len() / QK_K).iter().zip(y.chunks_exact_mut(QK_K)) {
        let (d, dmin) = (f16_to_f32(b.d), f16_to_f32(b.dmin));
        let (q, (sc, mn)) = (unpack_q5k(b), k4_scales_mins(&b.scales));
        for (e, o) in y.iter_mut().enumerate() {
            let (d1, m1) = (d * sc[e / 32] as f32, dmin * mn[e / 32] as f32);
            *o = d1 * q[e] as f32 - m1;
        }
    }
}

pub fn dequantize_row_q6_k(x: &[u8], y: &mut [f32]) {
    for (b, y) in blocks::<BlockQ6K>(x, y.len() / QK_K).iter().zip(y.chunks_exact_mut(QK_K)) {
        let d = f16_to_f32(b.d);
        let q = unpack_q6k(b);
        for (e, o) in y.iter_mut().enumerate() {
            *o = d * b.scales[e / 16] as f32 * q[e] as f32;
        }
    }
}

pub fn dequantize_row_q8_k(x: &[u8], y: &mut [f32]) {
    for (b, y) in blocks::<BlockQ8K>(x, y.len() / QK_K).iter().zip(y.chunks_exact_mut(QK_K)) {
        let d = b.d;
        for (o, &q) in y.iter_mut().zip(b.qs.iter()) {
            *o = d * q as f32;
        }
    }
}

// ---------------------------------------------------------------- activation quantization

/// Q8_K reference quantizer. `d` takes the sign opposite to the largest-magnitude element;
/// rounding is to nearest even (ggml's `nearest_int`), clamped to 127.
pub fn quantize_row_q8_k(x: &[f32], y: &mut [u8]) {
    for (b, x) in blocks_mut::<BlockQ8K>(y, x.len() / QK_K).iter_mut().zip(x.chunks_exact(QK_K)) {
        let (mut max, mut amax) = (0.0f32, 0.0f32);
        for &v in x {
            if v.abs() > amax {
                amax = v.abs();
                max = v;
            }
        }
        if amax == 0.0 {
            *b = BlockQ8K { d: 0.0, qs: [0; QK_K], bsums: [0; 16] };
            continue;
        }
        let iscale = -127.0 / max;
        let qs: [i8; QK_K] = std::array::from_fn(|j| ((iscale * x[j]).round_ties_even() as i32).min(127) as i8);
        let bsums = std::array::from_fn(|k| qs[16 * k..16 * k + 16].iter().map(|&q| q as i16).sum());
        *b = BlockQ8K { d: 1.0 / iscale, qs, bsums };
    }
}

// ---------------------------------------------------------------- dot products (scalar)

/// Integer dot products of each 16-element sub-block of `q` with `y`.
#[inline]
fn dots16(q: &[i8; QK_K], y: &[i8; QK_K]) -> [i32; 16] {
    std::array::from_fn(|k| {
        q[16 * k..16 * k + 16].iter().zip(&y[16 * k..16 * k + 16]).map(|(&a, &b)| a as i32 * b as i32).sum()
    })
}

pub fn vec_dot_q2_k_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / QK_K;
    let mut sumf = 0.0f32;
    for (a, b) in blocks::<BlockQ2K>(x, nb).iter().zip(blocks::<BlockQ8K>(y, nb)) {
        let dots = dots16(&unpack_q2k(a), &b.qs);
        let bsums = b.bsums;
        let (mut isum, mut summs) = (0i32, 0i32);
        for k in 0..16 {
            isum += (a.scales[k] & 0x0f) as i32 * dots[k];
            summs += (a.scales[k] >> 4) as i32 * bsums[k] as i32;
        }
        let dall = b.d * f16_to_f32(a.d);
        let dmin = b.d * f16_to_f32(a.dmin);
        sumf += dall * isum as f32 - dmin * summs as f32;
    }
    sumf
}

pub fn vec_dot_q3_k_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / QK_K;
    let mut sumf = 0.0f32;
    for (a, b) in blocks::<BlockQ3K>(x, nb).iter().zip(blocks::<BlockQ8K>(y, nb)) {
        let dots = dots16(&unpack_q3k(a), &b.qs);
        let sc = q3k_scales(&a.scales);
        let isum: i32 = (0..16).map(|k| (sc[k] as i32 - 32) * dots[k]).sum();
        sumf += f16_to_f32(a.d) * b.d * isum as f32;
    }
    sumf
}

/// One Q4_K/Q5_K super-block against Q8_K: `d * Σ scale·dot - dmin * Σ min·bsum` over the 8
/// sub-blocks of 32 (`q` holds the unpacked unsigned weights).
fn scale_min_block_dot(q: &[i8; QK_K], scales: &[u8; 12], d: u16, dmin: u16, b: &BlockQ8K) -> f32 {
    let dots = dots16(q, &b.qs);
    let (sc, mn) = k4_scales_mins(scales);
    let bsums = b.bsums;
    let (mut isum, mut summs) = (0i32, 0i32);
    for k in 0..16 {
        isum += sc[k / 2] as i32 * dots[k];
        summs += mn[k / 2] as i32 * bsums[k] as i32;
    }
    f16_to_f32(d) * b.d * isum as f32 - f16_to_f32(dmin) * b.d * summs as f32
}

pub fn vec_dot_q4_k_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / QK_K;
    let mut sumf = 0.0f32;
    for (a, b) in blocks::<BlockQ4K>(x, nb).iter().zip(blocks::<BlockQ8K>(y, nb)) {
        sumf += scale_min_block_dot(&unpack_q4k(a), &a.scales, a.d, a.dmin, b);
    }
    sumf
}

pub fn vec_dot_q5_k_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / QK_K;
    let mut sumf = 0.0f32;
    for (a, b) in blocks::<BlockQ5K>(x, nb).iter().zip(blocks::<BlockQ8K>(y, nb)) {
        sumf += scale_min_block_dot(&unpack_q5k(a), &a.scales, a.d, a.dmin, b);
    }
    sumf
}

pub fn vec_dot_q6_k_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / QK_K;
    let mut sumf = 0.0f32;
    for (a, b) in blocks::<BlockQ6K>(x, nb).iter().zip(blocks::<BlockQ8K>(y, nb)) {
        let dots = dots16(&unpack_q6k(a), &b.qs);
        let isum: i32 = (0..16).map(|k| a.scales[k] as i32 * dots[k]).sum();
        sumf += f16_to_f32(a.d) * b.d * isum as f32;
    }
    sumf
}

/// Q8_K · Q8_K (not used by ggml; keeps the traits table total).
pub fn vec_dot_q8_k_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / QK_K;
    let mut sumf = 0.0f32;
    for (a, b) in blocks::<BlockQ8K>(x, nb).iter().zip(blocks::<BlockQ8K>(y, nb)) {
        let isum: i32 = a.qs.iter().zip(b.qs.iter()).map(|(&p, &q)| p as i32 * q as i32).sum();
        sumf += a.d * b.d * isum as f32;
    }
    sumf
}
