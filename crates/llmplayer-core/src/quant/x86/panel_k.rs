//! The K-quant weight panels for the AVX-512 VNNI prefill kernel (see `panel.rs` for the
//! idea): 16 rows, decoded per 256-element super-block into f32 vectors over the 16 rows —
//! first the scale of each sub-block (`NSUB = 256 / SUB` of them), then each sub-block's
//! offset — followed by the quants as unsigned bytes, four elements of every row per 64-byte
//! group, groups in element order at `header + 64 * (e / 4)` (`header = 128 * NSUB`).
//!
//! A row's sub-block `k` then contributes `scale_k * sum(q * y) - offset_k * sum(y)`:
//!
//! * Q2_K (SUB 16): `d * scale_k`, `dmin * min_k`; quants 0..3.
//! * Q3_K (SUB 16): `d * (scale_k - 32)`, `4 *` that; quants 0..7 (stored value + 4).
//! * Q4_K, Q5_K (SUB 32): `d * scale_j`, `dmin * min_j`; quants 0..15 / 0..31.
//! * Q6_K (SUB 16): `d * scale_k`, `32 * d * scale_k`; quants 0..63 (stored value - 32).
//! * IQ4_XS (SUB 32): `d * (ls - 32)`, `128 *` that; quants = table value + 128.
//!
//! `vpdpbusd` takes the unsigned quants against the signed Q8_K activations broadcast four
//! bytes at a time. Per sub-block and token, one conversion and an fma with the scales, and
//! one fma of the offsets against the activations' sub-block sums
//! ([`QuantizedActs::sub_sums`]), finish 16 rows; the activation scale is applied once per
//! super-block.

use super::vnni;
use crate::quant::blocks_k::{q3k_scales, scale_min_k4};
use crate::quant::float::f16_to_f32;
use crate::quant::grids::KVALUES_IQ4NL;
use crate::quant::matmul::PANEL_TOKENS;
use crate::quant::traits::{PackPanelFn, PanelDotFn};
use crate::quant::{QuantizedActs, QK_K};
use std::arch::x86_64::*;

/// Panel bytes per super-block for sub-blocks of `sub` elements.
pub(super) const fn panel_bytes(sub: usize) -> usize {
    128 * (QK_K / sub) + 16 * QK_K
}
/// Bytes of a Q8_K block, and per Q8_K block in [`QuantizedActs::sub_sums`]: 8 sums of 32,
/// then 16 sums of 16.
pub(super) const Q8_K_BYTES: usize = 292;
pub(super) const SUMS: usize = 24;

/// Byte offsets of the 16 rows (`r * row_bytes`) for gathers.
#[inline(always)]
unsafe fn row_offsets(row_bytes: usize) -> __m512i {
    _mm512_mullo_epi32(
        _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
        _mm512_set1_epi32(row_bytes as i32),
    )
}

/// Packs 16 rows (`w[r * row_bytes..]`) of `cols` elements, `block_bytes` per super-block:
/// `header(block, scales_and_offsets)` fills `2 * NSUB` vectors `[k][row]` from one row's
/// block; `quants(block_ptr, rows, q)` writes the 16 rows' quant groups to `q`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn pack_k(
    w: &[u8],
    row_bytes: usize,
    cols: usize,
    panel: &mut [u8],
    block_bytes: usize,
    sub: usize,
    header: impl Fn(&[u8], usize, &mut [[f32; 16]; 32]),
    quants: impl Fn(*const u8, __m512i, *mut u8),
) {
    let (nb, pb, hb) = (cols / QK_K, panel_bytes(sub), 128 * (QK_K / sub));
    assert!(w.len() >= 15 * row_bytes + nb * block_bytes && panel.len() >= nb * pb);
    assert!(row_bytes * 16 < i32::MAX as usize);
    let rows = row_offsets(row_bytes);
    let mut so = [[0.0f32; 16]; 32];
    for i in 0..nb {
        let out = &mut panel[i * pb..(i + 1) * pb];
        for r in 0..16 {
            header(&w[r * row_bytes + i * block_bytes..][..block_bytes], r, &mut so);
        }
        // x86 is little-endian: the f32 vectors are their own byte image.
        std::ptr::copy_nonoverlapping(so.as_ptr().cast::<u8>(), out.as_mut_ptr(), hb);
        quants(w.as_ptr().add(i * block_bytes), rows, out.as_mut_ptr().add(hb));
    }
}

/// Gathers the dword at byte `off` of each of the 16 rows' blocks.
#[inline(always)]
unsafe fn gather(base: *const u8, rows: __m512i, off: usize) -> __m512i {
    _mm512_i32gather_epi32::<1>(rows, base.add(off).cast())
}

#[inline(always)]
unsafe fn store(q: *mut u8, group: usize, v: __m512i) {
    _mm512_storeu_si512(q.add(64 * group).cast(), v);
}

// ---------------------------------------------------------------- per-row headers
// `header(block, r, so)`: row `r`'s sub-block scales in `so[k][r]`, offsets in `so[NSUB + k][r]`
// (shared with the AVX2 panels, which use the same layout).

/// Q2_K: `d * scale_k`, `dmin * min_k`.
pub(super) fn q2_k_header(b: &[u8], r: usize, so: &mut [[f32; 16]; 32]) {
    let (d, dmin) = (f16_to_f32(u16::from_le_bytes([b[80], b[81]])), f16_to_f32(u16::from_le_bytes([b[82], b[83]])));
    for (k, &s) in b[..16].iter().enumerate() {
        so[k][r] = d * (s & 0x0f) as f32;
        so[16 + k][r] = dmin * (s >> 4) as f32;
    }
}

/// Q3_K: `d * (scale_k - 32)`, and 4 times that for the `+4` of the stored quants.
pub(super) fn q3_k_header(b: &[u8], r: usize, so: &mut [[f32; 16]; 32]) {
    let d = f16_to_f32(u16::from_le_bytes([b[108], b[109]]));
    for (k, s) in q3k_scales(b[96..108].try_into().unwrap()).into_iter().enumerate() {
        so[k][r] = d * (s as i32 - 32) as f32;
        so[16 + k][r] = 4.0 * so[k][r];
    }
}

/// Q6_K: `d * scale_k`, and 32 times that for the `+32` of the stored quants.
pub(super) fn q6_k_header(b: &[u8], r: usize, so: &mut [[f32; 16]; 32]) {
    let d = f16_to_f32(u16::from_le_bytes([b[208], b[209]]));
    for (k, &s) in b[192..208].iter().enumerate() {
        so[k][r] = d * (s as i8) as f32;
        so[16 + k][r] = 32.0 * so[k][r];
    }
}

/// IQ4_XS: `d * (ls - 32)`, and 128 times that for the `+128` of the stored table values.
pub(super) fn iq4_xs_header(b: &[u8], r: usize, so: &mut [[f32; 16]; 32]) {
    let d = f16_to_f32(u16::from_le_bytes([b[0], b[1]]));
    let h = u16::from_le_bytes([b[2], b[3]]);
    for ib in 0..8 {
        let ls = ((b[4 + ib / 2] >> (4 * (ib % 2))) & 0x0f) as u16 | (((h >> (2 * ib)) & 3) << 4);
        so[ib][r] = d * (ls as i32 - 32) as f32;
        so[8 + ib][r] = 128.0 * so[ib][r];
    }
}

/// Q4_K and Q5_K scales: `d * scale_j` in `so[j]`, `dmin * min_j` in `so[8 + j]`.
pub(super) fn k4_header(b: &[u8], r: usize, so: &mut [[f32; 16]; 32]) {
    let (d, dmin) = (f16_to_f32(u16::from_le_bytes([b[0], b[1]])), f16_to_f32(u16::from_le_bytes([b[2], b[3]])));
    let scales: &[u8; 12] = b[4..16].try_into().unwrap();
    for j in 0..8 {
        let (sc, m) = scale_min_k4(j, scales);
        so[j][r] = d * sc as f32;
        so[8 + j][r] = dmin * m as f32;
    }
}

// ---------------------------------------------------------------- AVX-512 packers

#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")]
unsafe fn pack_q2_k(w: &[u8], row_bytes: usize, cols: usize, panel: &mut [u8]) {
    let m2 = _mm512_set1_epi8(3);
    pack_k(w, row_bytes, cols, panel, 84, 16, q2_k_header, |b, rows, q| {
        // Element 128n + 32j + l is bits 2j of qs[32n + l] (qs at 16).
        for n in 0..2 {
            for g in 0..8 {
                let v = gather(b, rows, 16 + 32 * n + 4 * g);
                for j in 0..4 {
                    let s = _mm_cvtsi64_si128(2 * j as i64);
                    store(q, 32 * n + 8 * j + g, _mm512_and_si512(_mm512_srl_epi16(v, s), m2));
                }
            }
        }
    })
}

#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")]
unsafe fn pack_q3_k(w: &[u8], row_bytes: usize, cols: usize, panel: &mut [u8]) {
    let (m2, one) = (_mm512_set1_epi8(3), _mm512_set1_epi8(1));
    pack_k(w, row_bytes, cols, panel, 110, 16, q3_k_header, |b, rows, q| {
        // As Q2_K (qs at 32), plus bit 4n + j of hmask[l] (at 0) as the value's bit 2.
        for g in 0..8 {
            let h = gather(b, rows, 4 * g);
            for n in 0..2 {
                let v = gather(b, rows, 32 + 32 * n + 4 * g);
                for j in 0..4 {
                    let lo = _mm512_and_si512(_mm512_srl_epi16(v, _mm_cvtsi64_si128(2 * j as i64)), m2);
                    let hb = _mm512_and_si512(_mm512_srl_epi16(h, _mm_cvtsi64_si128((4 * n + j) as i64)), one);
                    store(q, 32 * n + 8 * j + g, _mm512_or_si512(lo, _mm512_slli_epi16(hb, 2)));
                }
            }
        }
    })
}

#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")]
unsafe fn pack_q4_k(w: &[u8], row_bytes: usize, cols: usize, panel: &mut [u8]) {
    let m4 = _mm512_set1_epi8(0x0f);
    pack_k(w, row_bytes, cols, panel, 144, 32, k4_header, |b, rows, q| {
        // Bytes 32jj..32jj+32 of qs: low nibbles are sub-block 2jj, high ones 2jj + 1.
        for jj in 0..4 {
            for g in 0..8 {
                let v = gather(b, rows, 16 + 32 * jj + 4 * g);
                store(q, 8 * (2 * jj) + g, _mm512_and_si512(v, m4));
                store(q, 8 * (2 * jj + 1) + g, _mm512_and_si512(_mm512_srli_epi16(v, 4), m4));
            }
        }
    })
}

#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")]
unsafe fn pack_q5_k(w: &[u8], row_bytes: usize, cols: usize, panel: &mut [u8]) {
    let (m4, one) = (_mm512_set1_epi8(0x0f), _mm512_set1_epi8(1));
    // Bit `s` of each byte, moved to bit 4.
    let bit = |h: __m512i, s: usize| _mm512_slli_epi16(_mm512_and_si512(_mm512_srl_epi16(h, _mm_cvtsi64_si128(s as i64)), one), 4);
    pack_k(w, row_bytes, cols, panel, 176, 32, k4_header, |b, rows, q| {
        // As Q4_K (qs at 48), plus bit 2jj / 2jj + 1 of qh[l] (at 16) for element l.
        for g in 0..8 {
            let h = gather(b, rows, 16 + 4 * g);
            for jj in 0..4 {
                let v = gather(b, rows, 48 + 32 * jj + 4 * g);
                store(q, 8 * (2 * jj) + g, _mm512_or_si512(_mm512_and_si512(v, m4), bit(h, 2 * jj)));
                let hi = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
                store(q, 8 * (2 * jj + 1) + g, _mm512_or_si512(hi, bit(h, 2 * jj + 1)));
            }
        }
    })
}

#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")]
unsafe fn pack_q6_k(w: &[u8], row_bytes: usize, cols: usize, panel: &mut [u8]) {
    let m4 = _mm512_set1_epi8(0x0f);
    let bits = |v: __m512i, m: u8| _mm512_and_si512(v, _mm512_set1_epi8(m as i8));
    pack_k(w, row_bytes, cols, panel, 210, 16, q6_k_header, |b, rows, q| {
        // ggml's layout: per half n, byte l < 32 of ql (at 64n) / qh (at 128 + 32n) gives
        // elements l, l + 32, l + 64, l + 96 of the half.
        for n in 0..2 {
            for g in 0..8 {
                let (la, lb, h) = (gather(b, rows, 64 * n + 4 * g), gather(b, rows, 64 * n + 32 + 4 * g), gather(b, rows, 128 + 32 * n + 4 * g));
                let q1 = _mm512_or_si512(_mm512_and_si512(la, m4), _mm512_slli_epi16(bits(h, 0x03), 4));
                let q2 = _mm512_or_si512(_mm512_and_si512(lb, m4), _mm512_slli_epi16(bits(h, 0x0c), 2));
                let q3 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(la, 4), m4), bits(h, 0x30));
                let q4 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(lb, 4), m4), _mm512_srli_epi16(bits(h, 0xc0), 2));
                for (k, v) in [q1, q2, q3, q4].into_iter().enumerate() {
                    store(q, 32 * n + 8 * k + g, v);
                }
            }
        }
    })
}

#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")]
unsafe fn pack_iq4_xs(w: &[u8], row_bytes: usize, cols: usize, panel: &mut [u8]) {
    let table: [u8; 16] = std::array::from_fn(|i| (KVALUES_IQ4NL[i] as u8) ^ 0x80);
    let lut = _mm512_broadcast_i32x4(_mm_loadu_si128(table.as_ptr().cast()));
    let m4 = _mm512_set1_epi8(0x0f);
    pack_k(w, row_bytes, cols, panel, 136, 32, iq4_xs_header, |b, rows, q| {
        // Sub-block ib: qs[16ib + l] (at 8) holds element l (low nibble) and l + 16 (high).
        for ib in 0..8 {
            for g in 0..4 {
                let v = gather(b, rows, 8 + 16 * ib + 4 * g);
                store(q, 8 * ib + g, _mm512_shuffle_epi8(lut, _mm512_and_si512(v, m4)));
                store(q, 8 * ib + 4 + g, _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi16(v, 4), m4)));
            }
        }
    })
}

/// `out[t][r] = panel row r · y[j0 + t]` for `t < T`, sub-blocks of `SUB` elements; `y` is
/// Q8_K with its sub-block sums.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")]
unsafe fn panel_dot_k<const T: usize, const SUB: usize>(
    cols: usize,
    panel: &[u8],
    acts: &QuantizedActs,
    j0: usize,
) -> [[f32; 16]; PANEL_TOKENS] {
    let (nb, nsub, pb) = (cols / QK_K, QK_K / SUB, panel_bytes(SUB));
    let hb = 128 * nsub;
    assert!(panel.len() >= nb * pb && j0 + T <= acts.batch());
    let sums = acts.sub_sums();
    assert!(sums.len() >= (j0 + T) * nb * SUMS);
    let ys: [*const u8; T] = std::array::from_fn(|t| acts.row(j0 + t).as_ptr());
    let sums = sums.as_ptr().add(j0 * nb * SUMS + if SUB == 32 { 0 } else { 8 });
    let p = panel.as_ptr();
    let mut acc = [_mm512_setzero_ps(); T];
    for i in 0..nb {
        let blk = p.add(pb * i);
        let mut inner = [_mm512_setzero_ps(); T];
        for k in 0..nsub {
            let mut sum = [_mm512_setzero_si512(); T];
            for g in 0..SUB / 4 {
                let wg = _mm512_loadu_si512(blk.add(hb + 64 * (k * SUB / 4 + g)).cast());
                for t in 0..T {
                    let y4 = (ys[t].add(Q8_K_BYTES * i + 4 + SUB * k + 4 * g) as *const i32).read_unaligned();
                    sum[t] = _mm512_dpbusd_epi32(sum[t], wg, _mm512_set1_epi32(y4));
                }
            }
            let sc = _mm512_loadu_ps(blk.add(64 * k).cast());
            let off = _mm512_loadu_ps(blk.add(64 * (nsub + k)).cast());
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

unsafe fn dot32(cols: usize, panel: &[u8], acts: &QuantizedActs, j0: usize, nt: usize) -> [[f32; 16]; PANEL_TOKENS] {
    by_tokens!(dot32_t, nt, cols, panel, acts, j0)
}
unsafe fn dot32_t<const T: usize>(cols: usize, panel: &[u8], acts: &QuantizedActs, j0: usize) -> [[f32; 16]; PANEL_TOKENS] {
    panel_dot_k::<T, 32>(cols, panel, acts, j0)
}
unsafe fn dot16(cols: usize, panel: &[u8], acts: &QuantizedActs, j0: usize, nt: usize) -> [[f32; 16]; PANEL_TOKENS] {
    by_tokens!(dot16_t, nt, cols, panel, acts, j0)
}
unsafe fn dot16_t<const T: usize>(cols: usize, panel: &[u8], acts: &QuantizedActs, j0: usize) -> [[f32; 16]; PANEL_TOKENS] {
    panel_dot_k::<T, 16>(cols, panel, acts, j0)
}

/// The K-quant panel kernels for `ty`: (pack, dot, panel bytes per super-block).
pub(crate) fn kernels(ty: crate::GgmlType) -> Option<(PackPanelFn, PanelDotFn, usize)> {
    use crate::GgmlType::*;
    let (dot32, dot16) = (panel_dot_fn!(dot32, vnni::available), panel_dot_fn!(dot16, vnni::available));
    let (pack, dot, sub) = match ty {
        Q2_K => (panel_pack_fn!(pack_q2_k, vnni::available), dot16, 16),
        Q3_K => (panel_pack_fn!(pack_q3_k, vnni::available), dot16, 16),
        Q4_K => (panel_pack_fn!(pack_q4_k, vnni::available), dot32, 32),
        Q5_K => (panel_pack_fn!(pack_q5_k, vnni::available), dot32, 32),
        Q6_K => (panel_pack_fn!(pack_q6_k, vnni::available), dot16, 16),
        IQ4_XS => (panel_pack_fn!(pack_iq4_xs, vnni::available), dot32, 32),
        _ => return None,
    };
    Some((pack, dot, panel_bytes(sub)))
}
