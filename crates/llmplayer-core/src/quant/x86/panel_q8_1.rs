//! Panels for the 32-element types with a min, Q4_1 and Q5_1, against Q8_1 activations: what
//! llama-quantize gives Q5_K tensors (and Q4_1 files) whose rows are not a multiple of 256.
//!
//! A row's block contributes `d * dy * sum(q * y) + m * s`, with `q` unsigned (0..15 / 0..31)
//! and `s = dy * sum(y)` carried by the Q8_1 block ([`QuantizedActs::block_s`]). Panel layout
//! per block (`PANEL_BLOCK_BYTES`): the 16 rows' `d` as f32, their `m` as f32, then 8 groups of
//! 16 rows × 4 quant bytes (group `g` holds elements `4g..4g + 4` of every row), as in
//! `panel.rs`. The quants are unsigned already, so `vpdpbusd` (AVX-512 VNNI) takes them as
//! they are; the AVX2 kernel sums 8 (Q4_1) or 4 (Q5_1) groups of `vpmaddubsw` in i16 before
//! one `vpmaddwd` (at most 30480 / 31496), on each 8-row half.

use super::vnni;
use crate::quant::acts::PANEL_TOKENS;
use crate::quant::traits::{PackPanelFn, PanelDotFn};
use crate::quant::QuantizedActs;
use std::arch::x86_64::*;

/// Panel bytes per 32-element block: 16 f32 `d`, 16 f32 `m`, 16 rows × 32 bytes.
const PANEL_BLOCK_BYTES: usize = 128 + 16 * 32;
/// Bytes of a Q8_1 block (f16 d, f16 s, 32 quants).
const Q8_1_BYTES: usize = 36;

// ---------------------------------------------------------------- AVX-512 VNNI

/// Packs 16 rows of Q4_1 (`HIGH` false: f16 d, f16 m, 16 nibble bytes) or Q5_1 (`HIGH`: f16 d,
/// f16 m, 32 high bits, 16 nibble bytes); element `j < 16` in the low nibble of byte `j`,
/// `j + 16` in the high one, bit `j` of the high bits on top.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")]
unsafe fn pack_vnni<const HIGH: bool>(w: &[u8], row_bytes: usize, cols: usize, panel: &mut [u8]) {
    let (nb, bb) = (cols / 32, if HIGH { 24 } else { 20 });
    assert!(w.len() >= 15 * row_bytes + nb * bb && panel.len() >= nb * PANEL_BLOCK_BYTES && row_bytes * 16 < i32::MAX as usize);
    let rows = _mm512_mullo_epi32(
        _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
        _mm512_set1_epi32(row_bytes as i32),
    );
    let (m4, high) = (_mm512_set1_epi8(0x0f), super::panel::q5_high_bits);
    let (w, p) = (w.as_ptr(), panel.as_mut_ptr());
    for i in 0..nb {
        let (b, out) = (w.add(bb * i), p.add(PANEL_BLOCK_BYTES * i));
        let dm = _mm512_i32gather_epi32::<1>(rows, b.cast());
        _mm512_storeu_ps(out.cast(), _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dm)));
        _mm512_storeu_ps(out.add(64).cast(), _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(dm, 16))));
        let qh = if HIGH { _mm512_i32gather_epi32::<1>(rows, b.add(4).cast()) } else { _mm512_setzero_si512() };
        let qs = b.add(if HIGH { 8 } else { 4 });
        for g in 0..4 {
            let q = _mm512_i32gather_epi32::<1>(rows, qs.add(4 * g).cast());
            let (mut lo, mut hi) = (_mm512_and_si512(q, m4), _mm512_and_si512(_mm512_srli_epi16(q, 4), m4));
            if HIGH {
                lo = _mm512_or_si512(lo, high(qh, 4 * g));
                hi = _mm512_or_si512(hi, high(qh, 16 + 4 * g));
            }
            _mm512_storeu_si512(out.add(128 + 64 * g).cast(), lo);
            _mm512_storeu_si512(out.add(128 + 64 * (g + 4)).cast(), hi);
        }
    }
}

#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")]
unsafe fn dot_vnni<const T: usize>(cols: usize, panel: &[u8], acts: &QuantizedActs, j0: usize) -> [[f32; 16]; PANEL_TOKENS] {
    let nb = cols / 32;
    assert!(panel.len() >= nb * PANEL_BLOCK_BYTES && j0 + T <= acts.batch());
    assert!(acts.block_d().len() >= (j0 + T) * nb && acts.block_s().len() >= (j0 + T) * nb);
    let ys: [*const u8; T] = std::array::from_fn(|t| acts.row(j0 + t).as_ptr());
    let (dy, sy) = (acts.block_d().as_ptr().add(j0 * nb), acts.block_s().as_ptr().add(j0 * nb));
    let p = panel.as_ptr();
    let mut acc = [_mm512_setzero_ps(); T];
    for i in 0..nb {
        let blk = p.add(PANEL_BLOCK_BYTES * i);
        let mut sum = [_mm512_setzero_si512(); T];
        for g in 0..8 {
            let wg = _mm512_loadu_si512(blk.add(128 + 64 * g).cast());
            for t in 0..T {
                let y4 = (ys[t].add(Q8_1_BYTES * i + 4 + 4 * g) as *const i32).read_unaligned();
                sum[t] = _mm512_dpbusd_epi32(sum[t], wg, _mm512_set1_epi32(y4));
            }
        }
        let (dw, mw) = (_mm512_loadu_ps(blk.cast()), _mm512_loadu_ps(blk.add(64).cast()));
        for t in 0..T {
            let scale = _mm512_mul_ps(dw, _mm512_set1_ps(*dy.add(t * nb + i)));
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum[t]), scale, acc[t]);
            acc[t] = _mm512_fmadd_ps(mw, _mm512_set1_ps(*sy.add(t * nb + i)), acc[t]);
        }
    }
    let mut out = [[0.0f32; 16]; PANEL_TOKENS];
    for t in 0..T {
        _mm512_storeu_ps(out[t].as_mut_ptr(), acc[t]);
    }
    out
}

unsafe fn dot_vnni_any(cols: usize, panel: &[u8], acts: &QuantizedActs, j0: usize, nt: usize) -> [[f32; 16]; PANEL_TOKENS] {
    by_tokens!(dot_vnni, nt, cols, panel, acts, j0)
}

// ---------------------------------------------------------------- AVX2

/// The 8 rows' f16 at byte `at` (0: d, 2: m) of the gathered dwords `dm`, as f32.
#[inline(always)]
unsafe fn f16_lanes(dm: __m256i, at: i8) -> __m256 {
    let (a, b) = (at, at + 1);
    let idx = _mm256_setr_epi8(
        a, b, a + 4, b + 4, a + 8, b + 8, a + 12, b + 12, -1, -1, -1, -1, -1, -1, -1, -1, //
        a, b, a + 4, b + 4, a + 8, b + 8, a + 12, b + 12, -1, -1, -1, -1, -1, -1, -1, -1,
    );
    let h = _mm256_permute4x64_epi64::<0b1000>(_mm256_shuffle_epi8(dm, idx));
    _mm256_cvtph_ps(_mm256_castsi256_si128(h))
}

/// As [`pack_vnni`], 8 rows at a time with 256-bit gathers.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn pack_avx2<const HIGH: bool>(w: &[u8], row_bytes: usize, cols: usize, panel: &mut [u8]) {
    let (nb, bb) = (cols / 32, if HIGH { 24 } else { 20 });
    assert!(w.len() >= 15 * row_bytes + nb * bb && panel.len() >= nb * PANEL_BLOCK_BYTES && row_bytes * 16 < i32::MAX as usize);
    let rows = _mm256_mullo_epi32(_mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0), _mm256_set1_epi32(row_bytes as i32));
    let (m4, high) = (_mm256_set1_epi8(0x0f), super::panel_avx2::q5_high_bits_256);
    let gather = |b: *const u8, off: usize| _mm256_i32gather_epi32::<1>(b.add(off).cast(), rows);
    let (w, p) = (w.as_ptr(), panel.as_mut_ptr());
    for i in 0..nb {
        let out = p.add(PANEL_BLOCK_BYTES * i);
        for h in 0..2 {
            let b = w.add(8 * h * row_bytes + bb * i);
            let dm = gather(b, 0);
            _mm256_storeu_ps(out.add(32 * h).cast(), f16_lanes(dm, 0));
            _mm256_storeu_ps(out.add(64 + 32 * h).cast(), f16_lanes(dm, 2));
            let qh = if HIGH { gather(b, 4) } else { _mm256_setzero_si256() };
            let qs = if HIGH { 8 } else { 4 };
            let q = out.add(128 + 32 * h);
            for g in 0..4 {
                let v = gather(b, qs + 4 * g);
                let (mut lo, mut hi) = (_mm256_and_si256(v, m4), _mm256_and_si256(_mm256_srli_epi16(v, 4), m4));
                if HIGH {
                    lo = _mm256_or_si256(lo, high(qh, 4 * g));
                    hi = _mm256_or_si256(hi, high(qh, 16 + 4 * g));
                }
                _mm256_storeu_si256(q.add(64 * g).cast(), lo);
                _mm256_storeu_si256(q.add(64 * (g + 4)).cast(), hi);
            }
        }
    }
}

/// Rows `8 * half..8 * half + 8` against Q8_1 rows `j0..j0 + T`, `CH` groups per i16 sum.
#[inline(always)]
unsafe fn half_dot<const T: usize, const CH: usize>(nb: usize, panel: *const u8, half: usize, acts: &QuantizedActs, j0: usize, out: &mut [[f32; 16]]) {
    let ys: [*const u8; T] = std::array::from_fn(|t| acts.row(j0 + t).as_ptr());
    let (dy, sy) = (acts.block_d().as_ptr().add(j0 * nb), acts.block_s().as_ptr().add(j0 * nb));
    let p = panel.add(32 * half);
    let ones = _mm256_set1_epi16(1);
    let mut acc = [_mm256_setzero_ps(); T];
    for i in 0..nb {
        let blk = p.add(PANEL_BLOCK_BYTES * i);
        let mut sum = [_mm256_setzero_si256(); T];
        for c in 0..8 / CH {
            let mut s16 = [_mm256_setzero_si256(); T];
            for g in CH * c..CH * (c + 1) {
                let w = _mm256_loadu_si256(blk.add(128 + 64 * g).cast());
                for t in 0..T {
                    let y4 = (ys[t].add(Q8_1_BYTES * i + 4 + 4 * g) as *const i32).read_unaligned();
                    s16[t] = _mm256_add_epi16(s16[t], _mm256_maddubs_epi16(w, _mm256_set1_epi32(y4)));
                }
            }
            for t in 0..T {
                sum[t] = _mm256_add_epi32(sum[t], _mm256_madd_epi16(s16[t], ones));
            }
        }
        let (dw, mw) = (_mm256_loadu_ps(blk.cast()), _mm256_loadu_ps(blk.add(64).cast()));
        for t in 0..T {
            let scale = _mm256_mul_ps(dw, _mm256_set1_ps(*dy.add(t * nb + i)));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum[t]), scale, acc[t]);
            acc[t] = _mm256_fmadd_ps(mw, _mm256_set1_ps(*sy.add(t * nb + i)), acc[t]);
        }
    }
    for t in 0..T {
        _mm256_storeu_ps(out[t].as_mut_ptr().add(8 * half), acc[t]);
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_avx2<const CH: usize>(cols: usize, panel: &[u8], acts: &QuantizedActs, j0: usize, nt: usize) -> [[f32; 16]; PANEL_TOKENS] {
    let nb = cols / 32;
    assert!(panel.len() >= nb * PANEL_BLOCK_BYTES && nt <= PANEL_TOKENS && j0 + nt <= acts.batch());
    assert!(acts.block_d().len() >= (j0 + nt) * nb && acts.block_s().len() >= (j0 + nt) * nb);
    halves_by_tokens!(half_dot::<_, CH>, nb, panel, acts, j0, nt)
}

/// The Q4_1 / Q5_1 panel kernels: AVX-512 VNNI ones when `with_vnni`, else AVX2 ones.
pub(crate) fn kernels(ty: crate::GgmlType, with_vnni: bool) -> Option<(PackPanelFn, PanelDotFn, usize)> {
    use crate::GgmlType::*;
    let (pack, dot) = match (ty, with_vnni) {
        (Q4_1, true) => (panel_pack_fn!(pack_vnni::<false>, vnni::available), panel_dot_fn!(dot_vnni_any, vnni::available)),
        (Q5_1, true) => (panel_pack_fn!(pack_vnni::<true>, vnni::available), panel_dot_fn!(dot_vnni_any, vnni::available)),
        (Q4_1, false) => (panel_pack_fn!(pack_avx2::<false>, super::available), panel_dot_fn!(dot_avx2::<8>, super::available)),
        (Q5_1, false) => (panel_pack_fn!(pack_avx2::<true>, super::available), panel_dot_fn!(dot_avx2::<4>, super::available)),
        _ => return None,
    };
    Some((pack, dot, PANEL_BLOCK_BYTES))
}
