//! AVX-512 VNNI prefill kernel on weight panels: 16 weight rows of a 32-element type,
//! decoded to bytes and interleaved so that one 512-bit `vpdpbusd` advances 16 rows by four
//! elements against one token's four activation bytes (broadcast from memory).
//!
//! Why: in the row-by-token kernels every (row, token) pair decodes its weights again and
//! reduces its 8 lanes with shuffles; here a zmm lane is a row, so the weights are decoded
//! once per row block and one `vpdpbusd` serves 16 rows. The float steps stay tinyBLAS's (what
//! llama.cpp runs in prefill for these types): each group of 4 elements is one of its 8 lanes,
//! converted and fused into its own accumulator per block, the 8 summed in `hsum`'s order at
//! the end. The panel is packed on the fly per row block (see `matmul.rs`), so the model file
//! is never rewritten and mat-vec keeps the plain layout.
//!
//! Panel layout, per 32-element block `i` (`PANEL_BLOCK_BYTES` each): the 16 rows' scales as
//! f32, then 8 groups of 16 × 4 weight bytes (group `g` holds elements `4g..4g+4` of every
//! row, row-major), each byte `w + 128` (unsigned for `vpdpbusd`). The activations stay
//! signed Q8_0; the `+128` is undone by starting each group's sum at `-128 * sum(y)` over its
//! 4 activations ([`QuantizedActs::group_bias`]), so the integer sums are exact.

use super::vnni;
use crate::quant::grids::KVALUES_IQ4NL;
use crate::quant::acts::PANEL_TOKENS;
use crate::quant::traits::{PackPanelFn, PanelDotFn};
use crate::quant::QuantizedActs;
use std::arch::x86_64::*;

/// Panel bytes per 32-element block: 16 f32 scales + 16 rows × 32 bytes.
pub(super) const PANEL_BLOCK_BYTES: usize = 64 + 16 * 32;

/// Byte offsets of the 16 rows (`r * row_bytes`) for gathers.
#[inline(always)]
pub(super) unsafe fn row_offsets(row_bytes: usize) -> __m512i {
    _mm512_mullo_epi32(
        _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
        _mm512_set1_epi32(row_bytes as i32),
    )
}

/// The 16 rows' f16 scales at byte `at` of each row's block, as f32.
#[inline(always)]
unsafe fn gather_scales(w: *const u8, rows: __m512i, at: usize) -> __m512 {
    let d = _mm512_i32gather_epi32::<1>(rows, w.add(at).cast());
    _mm512_cvtph_ps(_mm512_cvtepi32_epi16(d))
}

/// Packs Q8_0 rows `w[r * row_bytes..]`, `r < 16`, of `cols` elements into `panel`.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")]
unsafe fn pack_q8_0(w: &[u8], row_bytes: usize, cols: usize, panel: &mut [u8]) {
    let nb = cols / 32;
    assert!(
        w.len() >= 15 * row_bytes + nb * 34
            && panel.len() >= nb * PANEL_BLOCK_BYTES
            && row_bytes * 16 < i32::MAX as usize
    );
    let rows = row_offsets(row_bytes);
    let flip = _mm512_set1_epi8(0x80u8 as i8);
    let (w, p) = (w.as_ptr(), panel.as_mut_ptr());
    for i in 0..nb {
        let (b, out) = (w.add(34 * i), p.add(PANEL_BLOCK_BYTES * i));
        _mm512_storeu_ps(out.cast(), gather_scales(b, rows, 0));
        for g in 0..8 {
            let q = _mm512_i32gather_epi32::<1>(rows, b.add(2 + 4 * g).cast());
            _mm512_storeu_si512(out.add(64 + 64 * g).cast(), _mm512_xor_si512(q, flip));
        }
    }
}

/// Packs rows of a 4-bit type with an f16 scale and 16 bytes of nibbles (Q4_0, IQ4_NL:
/// element `j < 16` in the low nibble of byte `j`, `j + 16` in the high one), each nibble
/// mapped through `table` (its value + 128).
#[inline(always)]
unsafe fn pack_nibbles(w: &[u8], row_bytes: usize, cols: usize, panel: &mut [u8], table: &[u8; 16]) {
    let nb = cols / 32;
    assert!(
        w.len() >= 15 * row_bytes + nb * 18
            && panel.len() >= nb * PANEL_BLOCK_BYTES
            && row_bytes * 16 < i32::MAX as usize
    );
    let rows = row_offsets(row_bytes);
    let m4 = _mm512_set1_epi8(0x0f);
    let lut = _mm512_broadcast_i32x4(_mm_loadu_si128(table.as_ptr().cast()));
    let (w, p) = (w.as_ptr(), panel.as_mut_ptr());
    for i in 0..nb {
        let (b, out) = (w.add(18 * i), p.add(PANEL_BLOCK_BYTES * i));
        _mm512_storeu_ps(out.cast(), gather_scales(b, rows, 0));
        for g in 0..4 {
            let q = _mm512_i32gather_epi32::<1>(rows, b.add(2 + 4 * g).cast());
            let lo = _mm512_shuffle_epi8(lut, _mm512_and_si512(q, m4));
            let hi = _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi16(q, 4), m4));
            _mm512_storeu_si512(out.add(64 + 64 * g).cast(), lo);
            _mm512_storeu_si512(out.add(64 + 64 * (g + 4)).cast(), hi);
        }
    }
}

/// Bits `s..s + 4` of each dword of `qh`, as bit 4 of the dword's four bytes.
#[inline(always)]
pub(super) unsafe fn q5_high_bits(qh: __m512i, s: usize) -> __m512i {
    // Bits 0..4 times 1 + 2^7 + 2^14 + 2^21 land on bits 0, 8, 16, 24 (no two partial
    // products share a bit, so nothing carries).
    let t = _mm512_and_si512(_mm512_srl_epi32(qh, _mm_cvtsi64_si128(s as i64)), _mm512_set1_epi32(0xf));
    let spread = _mm512_and_si512(_mm512_mullo_epi32(t, _mm512_set1_epi32(0x0020_4081)), _mm512_set1_epi32(0x0101_0101));
    _mm512_slli_epi32(spread, 4)
}

/// Packs Q5_0 rows (f16 scale, 32 high bits, 16 bytes of nibbles; element `j < 16` in the low
/// nibble of byte `j`, `j + 16` in the high one, bit `j` of the high bits on top), each value
/// `q - 16 + 128`.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")]
unsafe fn pack_q5_0(w: &[u8], row_bytes: usize, cols: usize, panel: &mut [u8]) {
    let nb = cols / 32;
    assert!(
        w.len() >= 15 * row_bytes + nb * 22
            && panel.len() >= nb * PANEL_BLOCK_BYTES
            && row_bytes * 16 < i32::MAX as usize
    );
    let rows = row_offsets(row_bytes);
    let (m4, bias) = (_mm512_set1_epi8(0x0f), _mm512_set1_epi8(112));
    let (w, p) = (w.as_ptr(), panel.as_mut_ptr());
    for i in 0..nb {
        let (b, out) = (w.add(22 * i), p.add(PANEL_BLOCK_BYTES * i));
        _mm512_storeu_ps(out.cast(), gather_scales(b, rows, 0));
        let qh = _mm512_i32gather_epi32::<1>(rows, b.add(2).cast());
        for g in 0..4 {
            let q = _mm512_i32gather_epi32::<1>(rows, b.add(6 + 4 * g).cast());
            let lo = _mm512_or_si512(_mm512_and_si512(q, m4), q5_high_bits(qh, 4 * g));
            let hi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(q, 4), m4), q5_high_bits(qh, 16 + 4 * g));
            _mm512_storeu_si512(out.add(64 + 64 * g).cast(), _mm512_add_epi8(lo, bias));
            _mm512_storeu_si512(out.add(64 + 64 * (g + 4)).cast(), _mm512_add_epi8(hi, bias));
        }
    }
}

/// `out[t][r] = panel row r · y[j0 + t]` for `t < T`; `y` is Q8_0 with its group biases.
///
/// Rounds as tinyBLAS (`tinyBLAS_Q0_AVX`, llama.cpp's prefill for these types) does per (row,
/// token): eight f32 lanes, lane `g` the products of elements `4g..4g + 4` of each block,
/// `fma(d_w * d_y, lane, acc)` per block, then `hsum` ((g + g+4), (0 + 2) + (1 + 3)). Here a
/// group is one `vpdpbusd` and a zmm lane a row, so each of a token's 8 accumulators holds
/// one of those lanes for 16 rows.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")]
unsafe fn panel_dot<const T: usize>(
    cols: usize,
    panel: &[u8],
    acts: &QuantizedActs,
    j0: usize,
) -> [[f32; 16]; PANEL_TOKENS] {
    let nb = cols / 32;
    assert!(panel.len() >= nb * PANEL_BLOCK_BYTES && j0 + T <= acts.batch());
    let (bias, dy) = (acts.group_bias(), acts.block_d());
    assert!(bias.len() >= (j0 + T) * nb * 8 && dy.len() >= (j0 + T) * nb);
    let mut out = [[0.0f32; 16]; PANEL_TOKENS];
    // Two tokens per pass: 16 accumulators, each panel group loaded once for both.
    let mut t0 = 0;
    while t0 < T {
        let u = (T - t0).min(2);
        if u == 2 {
            lanes_dot::<2>(nb, panel, acts, j0 + t0, &mut out[t0..]);
        } else {
            lanes_dot::<1>(nb, panel, acts, j0 + t0, &mut out[t0..]);
        }
        t0 += u;
    }
    out
}

/// [`panel_dot`] for activation rows `j..j + U` into `out[..U]`.
#[inline(always)]
unsafe fn lanes_dot<const U: usize>(nb: usize, panel: &[u8], acts: &QuantizedActs, j: usize, out: &mut [[f32; 16]]) {
    let ys: [*const u8; U] = std::array::from_fn(|t| acts.row(j + t).as_ptr());
    let (bias, dy) = (acts.group_bias().as_ptr().add(j * nb * 8), acts.block_d().as_ptr().add(j * nb));
    let p = panel.as_ptr();
    let mut acc = [[_mm512_setzero_ps(); 8]; U];
    for i in 0..nb {
        let blk = p.add(PANEL_BLOCK_BYTES * i);
        let dw = _mm512_loadu_ps(blk.cast());
        let scale: [__m512; U] = std::array::from_fn(|t| _mm512_mul_ps(dw, _mm512_set1_ps(*dy.add(t * nb + i))));
        for g in 0..8 {
            let wg = _mm512_loadu_si512(blk.add(64 + 64 * g).cast());
            for t in 0..U {
                let y4 = (ys[t].add(34 * i + 2 + 4 * g) as *const i32).read_unaligned();
                let s = _mm512_dpbusd_epi32(_mm512_set1_epi32(*bias.add((t * nb + i) * 8 + g)), wg, _mm512_set1_epi32(y4));
                acc[t][g] = _mm512_fmadd_ps(scale[t], _mm512_cvtepi32_ps(s), acc[t][g]);
            }
        }
    }
    for t in 0..U {
        let a = &acc[t];
        let h = _mm512_add_ps(
            _mm512_add_ps(_mm512_add_ps(a[0], a[4]), _mm512_add_ps(a[2], a[6])),
            _mm512_add_ps(_mm512_add_ps(a[1], a[5]), _mm512_add_ps(a[3], a[7])),
        );
        _mm512_storeu_ps(out[t].as_mut_ptr(), h);
    }
}

unsafe fn panel_dot_any(cols: usize, panel: &[u8], acts: &QuantizedActs, j0: usize, nt: usize) -> [[f32; 16]; PANEL_TOKENS] {
    by_tokens!(panel_dot, nt, cols, panel, acts, j0)
}

#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")]
unsafe fn pack_q4_0(w: &[u8], row_bytes: usize, cols: usize, panel: &mut [u8]) {
    let table: [u8; 16] = std::array::from_fn(|i| i as u8 + 120); // nibble - 8 + 128
    pack_nibbles(w, row_bytes, cols, panel, &table)
}

#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")]
unsafe fn pack_iq4_nl(w: &[u8], row_bytes: usize, cols: usize, panel: &mut [u8]) {
    let table: [u8; 16] = std::array::from_fn(|i| (KVALUES_IQ4NL[i] as u8) ^ 0x80);
    pack_nibbles(w, row_bytes, cols, panel, &table)
}

/// The panel kernels for Q8_0, Q4_0, IQ4_NL and Q5_0 weights (against Q8_0 activations): (pack,
/// dot, panel bytes per block).
pub(crate) fn kernels(ty: crate::GgmlType) -> Option<(PackPanelFn, PanelDotFn, usize)> {
    use crate::GgmlType::*;
    let pack = match ty {
        Q8_0 => panel_pack_fn!(pack_q8_0, vnni::available),
        Q4_0 => panel_pack_fn!(pack_q4_0, vnni::available),
        IQ4_NL => panel_pack_fn!(pack_iq4_nl, vnni::available),
        Q5_0 => panel_pack_fn!(pack_q5_0, vnni::available),
        _ => return None,
    };
    Some((pack, panel_dot_fn!(panel_dot_any, vnni::available), PANEL_BLOCK_BYTES))
}
