//! The K-quant weight panels for the AVX-512 VNNI prefill kernel (see `panel.rs` for the
//! idea): 16 rows, decoded per 256-element super-block (`PANEL_K_BYTES` each) into f32 scales
//! for every sub-block × 16 rows, then the quants as unsigned bytes, four elements of every
//! row per 64-byte group, groups in element order at `1024 + 64 * (e / 4)`.
//!
//! * Q4_K: `d * scale_j` (8 × 16 f32) and `dmin * min_j` (8 × 16 f32); quants 0..15.
//! * Q6_K: `d * scale_k` (16 sub-blocks of 16 × 16 f32); quants 0..63 (the -32 is applied
//!   through the activations' 16-element sums).
//!
//! The quants are unsigned, so `vpdpbusd` takes them as they are against the signed Q8_K
//! activations broadcast four bytes at a time. Per sub-block and token, one conversion and an
//! fma with the scales, and one fma of the mins (offsets) against the activations' sub-block
//! sums ([`QuantizedActs::sub_sums`]) finish 16 rows; the activation scale is applied once
//! per super-block.

use super::vnni;
use crate::quant::blocks_k::scale_min_k4;
use crate::quant::matmul::PANEL_TOKENS;
use crate::quant::traits::{PackPanelFn, PanelDotFn};
use crate::quant::{QuantizedActs, QK_K};
use std::arch::x86_64::*;

/// Panel bytes per super-block: 1024 bytes of f32 scales + 16 rows × 256 quants.
const PANEL_K_BYTES: usize = 1024 + 16 * QK_K;
/// Bytes of a Q4_K, Q6_K and Q8_K block.
const Q4_K_BYTES: usize = 144;
const Q6_K_BYTES: usize = 210;
const Q8_K_BYTES: usize = 292;
/// Per Q8_K block in [`QuantizedActs::sub_sums`]: 8 sums of 32, then 16 sums of 16.
const SUMS: usize = 24;

/// Byte offsets of the 16 rows (`r * row_bytes`) for gathers.
#[inline(always)]
unsafe fn row_offsets(row_bytes: usize) -> __m512i {
    _mm512_mullo_epi32(
        _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
        _mm512_set1_epi32(row_bytes as i32),
    )
}

/// Writes the 16 rows' values `v[k][r]` as `v.len()` f32 vectors at the start of `out`.
fn put_scales(out: &mut [u8], v: &[[f32; 16]]) {
    for (k, row) in v.iter().enumerate() {
        for (r, x) in row.iter().enumerate() {
            out[64 * k + 4 * r..64 * k + 4 * r + 4].copy_from_slice(&x.to_le_bytes());
        }
    }
}

/// Packs Q4_K rows `w[r * row_bytes..]`, `r < 16`, of `cols` elements into `panel`.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")]
unsafe fn pack_q4_k(w: &[u8], row_bytes: usize, cols: usize, panel: &mut [u8]) {
    let nb = cols / QK_K;
    assert!(w.len() >= 15 * row_bytes + nb * Q4_K_BYTES && panel.len() >= nb * PANEL_K_BYTES);
    assert!(row_bytes * 16 < i32::MAX as usize);
    let rows = row_offsets(row_bytes);
    let m4 = _mm512_set1_epi8(0x0f);
    for i in 0..nb {
        let out = &mut panel[i * PANEL_K_BYTES..(i + 1) * PANEL_K_BYTES];
        let mut sm = [[0.0f32; 16]; 16]; // scales of sub-blocks 0..8, then mins
        for r in 0..16 {
            let b = &w[r * row_bytes + i * Q4_K_BYTES..][..Q4_K_BYTES];
            let d = crate::quant::float::f16_to_f32(u16::from_le_bytes([b[0], b[1]]));
            let dmin = crate::quant::float::f16_to_f32(u16::from_le_bytes([b[2], b[3]]));
            let scales: &[u8; 12] = b[4..16].try_into().unwrap();
            for j in 0..8 {
                let (sc, m) = scale_min_k4(j, scales);
                sm[j][r] = d * sc as f32;
                sm[8 + j][r] = dmin * m as f32;
            }
        }
        put_scales(out, &sm);
        let base = w.as_ptr().add(i * Q4_K_BYTES + 16);
        let q = out.as_mut_ptr().add(1024);
        for jj in 0..4 {
            for g in 0..8 {
                let v = _mm512_i32gather_epi32::<1>(rows, base.add(32 * jj + 4 * g).cast());
                _mm512_storeu_si512(q.add(64 * (8 * (2 * jj) + g)).cast(), _mm512_and_si512(v, m4));
                let hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
                _mm512_storeu_si512(q.add(64 * (8 * (2 * jj + 1) + g)).cast(), hi);
            }
        }
    }
}

/// `out[t][r] = panel row r · y[j0 + t]` for `t < T`; `y` is Q8_K with its sub-block sums.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")]
unsafe fn panel_dot_q4_k<const T: usize>(
    cols: usize,
    panel: &[u8],
    acts: &QuantizedActs,
    j0: usize,
) -> [[f32; 16]; PANEL_TOKENS] {
    let nb = cols / QK_K;
    assert!(panel.len() >= nb * PANEL_K_BYTES && j0 + T <= acts.batch());
    let sums = acts.sub_sums();
    assert!(sums.len() >= (j0 + T) * nb * SUMS);
    let ys: [*const u8; T] = std::array::from_fn(|t| acts.row(j0 + t).as_ptr());
    let sums = sums.as_ptr().add(j0 * nb * SUMS);
    let p = panel.as_ptr();
    let mut acc = [_mm512_setzero_ps(); T];
    for i in 0..nb {
        let blk = p.add(PANEL_K_BYTES * i);
        let mut inner = [_mm512_setzero_ps(); T];
        for j in 0..8 {
            let mut sum = [_mm512_setzero_si512(); T];
            for g in 0..8 {
                let wg = _mm512_loadu_si512(blk.add(1024 + 64 * (8 * j + g)).cast());
                for t in 0..T {
                    let y4 = (ys[t].add(Q8_K_BYTES * i + 4 + 32 * j + 4 * g) as *const i32).read_unaligned();
                    sum[t] = _mm512_dpbusd_epi32(sum[t], wg, _mm512_set1_epi32(y4));
                }
            }
            let (sc, mn) = (_mm512_loadu_ps(blk.add(64 * j).cast()), _mm512_loadu_ps(blk.add(512 + 64 * j).cast()));
            for t in 0..T {
                inner[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum[t]), sc, inner[t]);
                inner[t] = _mm512_fnmadd_ps(mn, _mm512_set1_ps(*sums.add((t * nb + i) * SUMS + j)), inner[t]);
            }
        }
        for t in 0..T {
            let dy = (ys[t].add(Q8_K_BYTES * i) as *const f32).read_unaligned();
            acc[t] = _mm512_fmadd_ps(inner[t], _mm512_set1_ps(dy), acc[t]);
        }
    }
    let mut out = [[0.0f32; 16]; PANEL_TOKENS];
    for t in 0..T {
        _mm512_storeu_ps(out[t].as_mut_ptr(), acc[t]);
    }
    out
}

/// Packs Q6_K rows `w[r * row_bytes..]`, `r < 16`, of `cols` elements into `panel`.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")]
unsafe fn pack_q6_k(w: &[u8], row_bytes: usize, cols: usize, panel: &mut [u8]) {
    let nb = cols / QK_K;
    assert!(w.len() >= 15 * row_bytes + nb * Q6_K_BYTES && panel.len() >= nb * PANEL_K_BYTES);
    assert!(row_bytes * 16 < i32::MAX as usize);
    let rows = row_offsets(row_bytes);
    let m4 = _mm512_set1_epi8(0x0f);
    let bits = |v: __m512i, m: u8| _mm512_and_si512(v, _mm512_set1_epi8(m as i8));
    for i in 0..nb {
        let out = &mut panel[i * PANEL_K_BYTES..(i + 1) * PANEL_K_BYTES];
        let mut sc = [[0.0f32; 16]; 16];
        for r in 0..16 {
            let b = &w[r * row_bytes + i * Q6_K_BYTES..][..Q6_K_BYTES];
            let d = crate::quant::float::f16_to_f32(u16::from_le_bytes([b[208], b[209]]));
            for (k, s) in b[192..208].iter().enumerate() {
                sc[k][r] = d * (*s as i8) as f32;
            }
        }
        put_scales(out, &sc);
        let base = w.as_ptr().add(i * Q6_K_BYTES);
        let q = out.as_mut_ptr().add(1024);
        // ggml's layout: per half n, byte l < 32 of ql/qh gives elements l, l+32, l+64, l+96.
        for n in 0..2 {
            for g in 0..8 {
                let at = |off: usize| _mm512_i32gather_epi32::<1>(rows, base.add(off).cast());
                let (la, lb, h) = (at(64 * n + 4 * g), at(64 * n + 32 + 4 * g), at(128 + 32 * n + 4 * g));
                let q1 = _mm512_or_si512(_mm512_and_si512(la, m4), _mm512_slli_epi16(bits(h, 0x03), 4));
                let q2 = _mm512_or_si512(_mm512_and_si512(lb, m4), _mm512_slli_epi16(bits(h, 0x0c), 2));
                let q3 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(la, 4), m4), bits(h, 0x30));
                let q4 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(lb, 4), m4), _mm512_srli_epi16(bits(h, 0xc0), 2));
                for (k, v) in [q1, q2, q3, q4].into_iter().enumerate() {
                    _mm512_storeu_si512(q.add(64 * (32 * n + 8 * k + g)).cast(), v);
                }
            }
        }
    }
}

/// As [`panel_dot_q4_k`] for a Q6_K panel: 16 sub-blocks of 16, offset 32.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")]
unsafe fn panel_dot_q6_k<const T: usize>(
    cols: usize,
    panel: &[u8],
    acts: &QuantizedActs,
    j0: usize,
) -> [[f32; 16]; PANEL_TOKENS] {
    let nb = cols / QK_K;
    assert!(panel.len() >= nb * PANEL_K_BYTES && j0 + T <= acts.batch());
    let sums = acts.sub_sums();
    assert!(sums.len() >= (j0 + T) * nb * SUMS);
    let ys: [*const u8; T] = std::array::from_fn(|t| acts.row(j0 + t).as_ptr());
    let sums = sums.as_ptr().add(j0 * nb * SUMS + 8);
    let p = panel.as_ptr();
    let mut acc = [_mm512_setzero_ps(); T];
    for i in 0..nb {
        let blk = p.add(PANEL_K_BYTES * i);
        let mut inner = [_mm512_setzero_ps(); T];
        for k in 0..16 {
            let mut sum = [_mm512_setzero_si512(); T];
            for g in 0..4 {
                let wg = _mm512_loadu_si512(blk.add(1024 + 64 * (4 * k + g)).cast());
                for t in 0..T {
                    let y4 = (ys[t].add(Q8_K_BYTES * i + 4 + 16 * k + 4 * g) as *const i32).read_unaligned();
                    sum[t] = _mm512_dpbusd_epi32(sum[t], wg, _mm512_set1_epi32(y4));
                }
            }
            let sc = _mm512_loadu_ps(blk.add(64 * k).cast());
            let off = _mm512_mul_ps(sc, _mm512_set1_ps(32.0));
            for t in 0..T {
                inner[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum[t]), sc, inner[t]);
                inner[t] = _mm512_fnmadd_ps(off, _mm512_set1_ps(*sums.add((t * nb + i) * SUMS + k)), inner[t]);
            }
        }
        for t in 0..T {
            let dy = (ys[t].add(Q8_K_BYTES * i) as *const f32).read_unaligned();
            acc[t] = _mm512_fmadd_ps(inner[t], _mm512_set1_ps(dy), acc[t]);
        }
    }
    let mut out = [[0.0f32; 16]; PANEL_TOKENS];
    for t in 0..T {
        _mm512_storeu_ps(out[t].as_mut_ptr(), acc[t]);
    }
    out
}

/// The K-quant panel kernels for `ty` (Q4_K, Q6_K): (pack, dot, panel bytes per super-block).
pub(crate) fn kernels(ty: crate::GgmlType) -> Option<(PackPanelFn, PanelDotFn, usize)> {
    fn pack4(w: &[u8], row_bytes: usize, cols: usize, panel: &mut [u8]) {
        // SAFETY: installed only after `vnni::available()` returned true.
        unsafe { pack_q4_k(w, row_bytes, cols, panel) }
    }
    fn dot4(cols: usize, panel: &[u8], acts: &QuantizedActs, j0: usize, nt: usize) -> [[f32; 16]; PANEL_TOKENS] {
        debug_assert!(vnni::available());
        // SAFETY: as above; bounds are asserted inside.
        unsafe { by_tokens!(panel_dot_q4_k, nt, cols, panel, acts, j0) }
    }
    fn pack6(w: &[u8], row_bytes: usize, cols: usize, panel: &mut [u8]) {
        // SAFETY: as above.
        unsafe { pack_q6_k(w, row_bytes, cols, panel) }
    }
    fn dot6(cols: usize, panel: &[u8], acts: &QuantizedActs, j0: usize, nt: usize) -> [[f32; 16]; PANEL_TOKENS] {
        // SAFETY: as above.
        unsafe { by_tokens!(panel_dot_q6_k, nt, cols, panel, acts, j0) }
    }
    match ty {
        crate::GgmlType::Q4_K => Some((pack4, dot4, PANEL_K_BYTES)),
        crate::GgmlType::Q6_K => Some((pack6, dot6, PANEL_K_BYTES)),
        _ => None,
    }
}
