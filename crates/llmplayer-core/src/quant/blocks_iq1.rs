//! The 1.5- and 1.75-bit codebook types IQ1_S and IQ1_M.
//!
//! Each group of 8 weights is an entry of `IQ1S_GRID` (values in {-1, 0, 1}) shifted by
//! `±IQ1S_DELTA`, times an odd 3-bit sub-block scale `2*s + 1`. Layouts and formulas follow
//! ggml (llama.cpp de3ff815).

use super::float::f16_to_f32;
use super::grids::{grid_byte_u64, IQ1S_DELTA, IQ1S_GRID};
use super::{blocks, blocks_k::BlockQ8K, Block, QK_K};

#[repr(C, packed)]
#[derive(Clone, Copy, Debug)]
pub struct BlockIq1S {
    pub d: u16,
    /// Low 8 bits of the 11-bit grid indices.
    pub qs: [u8; 32],
    /// Per 32 elements: four 3-bit index highs, a 3-bit scale (bits 12..15), delta sign (bit 15).
    pub qh: [u16; 8],
}
const _: () = assert!(size_of::<BlockIq1S>() == 50);

#[repr(C, packed)]
#[derive(Clone, Copy, Debug)]
pub struct BlockIq1M {
    pub qs: [u8; 32],
    /// Per 8 elements, a nibble: 3 index-high bits and the delta sign (bit 3).
    pub qh: [u8; 16],
    /// Four u16: 3-bit scales per 16 elements in bits 0..12; the f16 super-scale is spread
    /// over the top nibbles.
    pub scales: [u8; 8],
}
const _: () = assert!(size_of::<BlockIq1M>() == 56);

unsafe impl Block for BlockIq1S {}
unsafe impl Block for BlockIq1M {}

/// One unpacked super-block: grid values, the delta sign (+1 / -1) and scale `2*s + 1`
/// of each 8-element group.
pub struct Iq1Unpacked {
    pub q: [i8; QK_K],
    pub delta: [i8; 32],
    pub ls: [u8; 32],
}

fn put_grid(out: &mut [i8], idx: usize) {
    let g = IQ1S_GRID[idx];
    for (j, o) in out[..8].iter_mut().enumerate() {
        *o = grid_byte_u64(g, j) as i8;
    }
}

pub fn unpack_iq1_s(b: &BlockIq1S) -> Iq1Unpacked {
    let qh = b.qh;
    let mut u = Iq1Unpacked { q: [0; QK_K], delta: [0; 32], ls: [0; 32] };
    for (ib, &h) in qh.iter().enumerate() {
        let h = h as usize;
        for l in 0..4 {
            let g = 4 * ib + l;
            put_grid(&mut u.q[8 * g..], b.qs[g] as usize | (((h >> (3 * l)) & 7) << 8));
            u.delta[g] = if h & 0x8000 != 0 { -1 } else { 1 };
            u.ls[g] = (2 * ((h >> 12) & 7) + 1) as u8;
        }
    }
    u
}

/// The f16 super-block scale of IQ1_M, assembled from the top nibbles of the scale words.
pub fn iq1m_scale(b: &BlockIq1M) -> f32 {
    let sc = iq1m_scale_words(b);
    f16_to_f32((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) | (sc[3] & 0xf000))
}

fn iq1m_scale_words(b: &BlockIq1M) -> [u16; 4] {
    std::array::from_fn(|k| u16::from_le_bytes([b.scales[2 * k], b.scales[2 * k + 1]]))
}

pub fn unpack_iq1_m(b: &BlockIq1M) -> Iq1Unpacked {
    let sc = iq1m_scale_words(b);
    let mut u = Iq1Unpacked { q: [0; QK_K], delta: [0; 32], ls: [0; 32] };
    for ib in 0..8 {
        for l in 0..4 {
            let g = 4 * ib + l;
            let h = (b.qh[2 * ib + l / 2] >> (4 * (l % 2))) & 0x0f;
            put_grid(&mut u.q[8 * g..], b.qs[g] as usize | ((h as usize & 7) << 8));
            u.delta[g] = if h & 0x08 != 0 { -1 } else { 1 };
            let shift = 6 * (ib % 2) + 3 * (l / 2);
            u.ls[g] = (2 * ((sc[ib / 2] >> shift) & 7) + 1) as u8;
        }
    }
    u
}

fn dequant_unpacked(u: &Iq1Unpacked, d: f32, y: &mut [f32]) {
    for (g, y) in y.chunks_exact_mut(8).enumerate() {
        let dl = d * u.ls[g] as i32 as f32;
        let delta = if u.delta[g] < 0 { -IQ1S_DELTA } else { IQ1S_DELTA };
        for (o, &q) in y.iter_mut().zip(&u.q[8 * g..]) {
            *o = dl * (q as f32 + delta);
        }
    }
}

pub fn dequantize_row_iq1_s(x: &[u8], y: &mut [f32]) {
    for (b, y) in blocks::<BlockIq1S>(x, y.len() / QK_K).iter().zip(y.chunks_exact_mut(QK_K)) {
        dequant_unpacked(&unpack_iq1_s(b), f16_to_f32(b.d), y);
    }
}

pub fn dequantize_row_iq1_m(x: &[u8], y: &mut [f32]) {
    for (b, y) in blocks::<BlockIq1M>(x, y.len() / QK_K).iter().zip(y.chunks_exact_mut(QK_K)) {
        dequant_unpacked(&unpack_iq1_m(b), iq1m_scale(b), y);
    }
}

/// `(sum_g ls[g] * dot(q_g, y_g), sum_g ls[g] * delta[g] * sum(y_g))` over the 8-groups.
fn iq1_sums(u: &Iq1Unpacked, y: &[i8; QK_K]) -> (i32, i32) {
    let (mut sumi, mut sumd) = (0i32, 0i32);
    for g in 0..32 {
        let (q, y) = (&u.q[8 * g..8 * g + 8], &y[8 * g..8 * g + 8]);
        let dot: i32 = q.iter().zip(y).map(|(&a, &b)| a as i32 * b as i32).sum();
        let ysum: i32 = y.iter().map(|&b| b as i32).sum();
        sumi += u.ls[g] as i32 * dot;
        sumd += u.ls[g] as i32 * u.delta[g] as i32 * ysum;
    }
    (sumi, sumd)
}

pub fn vec_dot_iq1_s_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / QK_K;
    let mut sumf = 0.0f32;
    for (a, b) in blocks::<BlockIq1S>(x, nb).iter().zip(blocks::<BlockQ8K>(y, nb)) {
        let (sumi, sumd) = iq1_sums(&unpack_iq1_s(a), &b.qs);
        sumf += f16_to_f32(a.d) * b.d * (sumi as f32 + IQ1S_DELTA * sumd as f32);
    }
    sumf
}

pub fn vec_dot_iq1_m_q8_k(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / QK_K;
    let mut sumf = 0.0f32;
    for (a, b) in blocks::<BlockIq1M>(x, nb).iter().zip(blocks::<BlockQ8K>(y, nb)) {
        let (sumi, sumd) = iq1_sums(&unpack_iq1_m(a), &b.qs);
        sumf += iq1m_scale(a) * b.d * (sumi as f32 + IQ1S_DELTA * sumd as f32);
    }
    sumf
}
