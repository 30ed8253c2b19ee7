//! The Q8_0 / Q4_0 / IQ4_NL / Q5_0 panel kernel for CPUs with AVX2 but no AVX-512 VNNI: the block
//! layout of `panel.rs` (16 f32 scales, then 8 groups of 16 rows × 4 bytes), but with the
//! weights stored as they are (signed; Q4_0 and Q5_0 unsigned), 8 rows per 256-bit half.
//!
//! `vpmaddubsw` needs an unsigned operand and its i16 pairs must not saturate, so the `+128`
//! of the VNNI panels (up to 255 × 127 × 2) cannot be used; instead each group's `|w|` goes
//! against the activations with `w`'s sign applied (`vpsignb`), at most 128 × 127 × 2 per
//! pair. Q4_0 and Q5_0 quants are stored unsigned (0..15, 0..31), so `vpmaddubsw` takes them
//! as they are, and the `-8` / `-16` comes back as that times the group's `sum(y)`, from
//! `group_bias` (`-128 * sum(y)` per group of 4). A group is one of tinyBLAS's 8 lanes, with
//! its own conversion and fma per block (see `panel.rs`), so both kernels give tinyBLAS's
//! floats.

use crate::quant::grids::KVALUES_IQ4NL;
use crate::quant::acts::PANEL_TOKENS;
use crate::quant::traits::{PackPanelFn, PanelDotFn};
use crate::quant::QuantizedActs;
use std::arch::x86_64::*;

/// Panel bytes per 32-element block: 16 f32 scales + 16 rows × 32 bytes (as `panel.rs`).
const PANEL_BLOCK_BYTES: usize = 64 + 16 * 32;

/// Packs 16 rows of a 32-element type whose block is an f16 scale then `quant_bytes` bytes:
/// `half(block_ptr, rows, out)` writes one 8-row half's 8 groups (32-byte lines, 64 apart).
#[inline(always)]
unsafe fn pack(
    w: &[u8],
    row_bytes: usize,
    cols: usize,
    panel: &mut [u8],
    block_bytes: usize,
    half: impl Fn(*const u8, __m256i, *mut u8),
) {
    let nb = cols / 32;
    assert!(
        w.len() >= 15 * row_bytes + nb * block_bytes
            && panel.len() >= nb * PANEL_BLOCK_BYTES
            && row_bytes * 16 < i32::MAX as usize
    );
    let rows = _mm256_mullo_epi32(_mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0), _mm256_set1_epi32(row_bytes as i32));
    let (w, p) = (w.as_ptr(), panel.as_mut_ptr());
    for i in 0..nb {
        let out = p.add(PANEL_BLOCK_BYTES * i);
        for h in 0..2 {
            let b = w.add(8 * h * row_bytes + block_bytes * i);
            // The 8 rows' f16 scales (low half of each gathered dword).
            let d = _mm256_i32gather_epi32::<1>(b.cast(), rows);
            let d16 = _mm256_shuffle_epi8(d, _mm256_set_epi8(-1, -1, -1, -1, -1, -1, -1, -1, 13, 12, 9, 8, 5, 4, 1, 0, -1, -1, -1, -1, -1, -1, -1, -1, 13, 12, 9, 8, 5, 4, 1, 0));
            let d16 = _mm256_permute4x64_epi64::<0b1000>(d16);
            _mm256_storeu_ps(out.add(32 * h).cast(), _mm256_cvtph_ps(_mm256_castsi256_si128(d16)));
            half(b, rows, out.add(64 + 32 * h));
        }
    }
}

#[inline(always)]
unsafe fn gather(b: *const u8, rows: __m256i, off: usize) -> __m256i {
    _mm256_i32gather_epi32::<1>(b.add(off).cast(), rows)
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn pack_q8_0(w: &[u8], row_bytes: usize, cols: usize, panel: &mut [u8]) {
    pack(w, row_bytes, cols, panel, 34, |b, rows, q| {
        for g in 0..8 {
            _mm256_storeu_si256(q.add(64 * g).cast(), gather(b, rows, 2 + 4 * g));
        }
    })
}

/// Q4_0 / IQ4_NL: element `j < 16` in the low nibble of byte `j`, `j + 16` in the high one,
/// each nibble mapped through `table`.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn pack_nibbles(w: &[u8], row_bytes: usize, cols: usize, panel: &mut [u8], table: &[i8; 16]) {
    let m4 = _mm256_set1_epi8(0x0f);
    let t = _mm_loadu_si128(table.as_ptr().cast());
    let lut = _mm256_set_m128i(t, t);
    pack(w, row_bytes, cols, panel, 18, |b, rows, q| {
        for g in 0..4 {
            let v = gather(b, rows, 2 + 4 * g);
            let lo = _mm256_shuffle_epi8(lut, _mm256_and_si256(v, m4));
            let hi = _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(v, 4), m4));
            _mm256_storeu_si256(q.add(64 * g).cast(), lo);
            _mm256_storeu_si256(q.add(64 * (g + 4)).cast(), hi);
        }
    })
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn pack_q4_0(w: &[u8], row_bytes: usize, cols: usize, panel: &mut [u8]) {
    let table: [i8; 16] = std::array::from_fn(|i| i as i8); // unsigned: see `half_dot::<_, 4>`
    pack_nibbles(w, row_bytes, cols, panel, &table)
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn pack_iq4_nl(w: &[u8], row_bytes: usize, cols: usize, panel: &mut [u8]) {
    pack_nibbles(w, row_bytes, cols, panel, &KVALUES_IQ4NL)
}

/// Bits `s..s + 4` of each dword of `qh`, as bit 4 of the dword's four bytes (the 256-bit
/// `panel::q5_high_bits`).
#[inline(always)]
pub(super) unsafe fn q5_high_bits_256(qh: __m256i, s: usize) -> __m256i {
    let t = _mm256_and_si256(_mm256_srl_epi32(qh, _mm_cvtsi64_si128(s as i64)), _mm256_set1_epi32(0xf));
    let spread = _mm256_and_si256(_mm256_mullo_epi32(t, _mm256_set1_epi32(0x0020_4081)), _mm256_set1_epi32(0x0101_0101));
    _mm256_slli_epi32(spread, 4)
}

/// Q5_0 (f16 scale, 32 high bits, 16 bytes of nibbles): the unsigned 5-bit values.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn pack_q5_0(w: &[u8], row_bytes: usize, cols: usize, panel: &mut [u8]) {
    let (m4, high) = (_mm256_set1_epi8(0x0f), q5_high_bits_256);
    pack(w, row_bytes, cols, panel, 22, |b, rows, q| {
        let qh = gather(b, rows, 2);
        for g in 0..4 {
            let v = gather(b, rows, 6 + 4 * g);
            let lo = _mm256_or_si256(_mm256_and_si256(v, m4), high(qh, 4 * g));
            let hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4), high(qh, 16 + 4 * g));
            _mm256_storeu_si256(q.add(64 * g).cast(), lo);
            _mm256_storeu_si256(q.add(64 * (g + 4)).cast(), hi);
        }
    })
}

/// Rows `8 * half..8 * half + 8` against Q8_0 activation row `j`, into `out[8 * half..]`;
/// `UBITS` 4 / 5: the Q4_0 / Q5_0 panels' unsigned values (0: signed). tinyBLAS's float steps
/// (see `panel.rs`): group `g` is its lane `g`, one accumulator each, `hsum`'s order at the end.
#[inline(always)]
unsafe fn half_dot<const UBITS: u32>(nb: usize, panel: *const u8, half: usize, acts: &QuantizedActs, j: usize, out: &mut [f32; 16]) {
    let y = acts.row(j).as_ptr();
    let (dy, bias) = (acts.block_d().as_ptr().add(j * nb), acts.group_bias().as_ptr().add(j * nb * 8));
    let p = panel.add(32 * half);
    let ones = _mm256_set1_epi16(1);
    let mut acc = [_mm256_setzero_ps(); 8];
    for i in 0..nb {
        let blk = p.add(PANEL_BLOCK_BYTES * i);
        let scale = _mm256_mul_ps(_mm256_loadu_ps(blk.cast()), _mm256_set1_ps(*dy.add(i)));
        for (g, a) in acc.iter_mut().enumerate() {
            let w = _mm256_loadu_si256(blk.add(64 + 64 * g).cast());
            let y4 = _mm256_set1_epi32((y.add(34 * i + 2 + 4 * g) as *const i32).read_unaligned());
            let sum = if UBITS > 0 {
                // group_bias = -128 * sum(y): this adds -2^(UBITS-1) * sum(y) exactly.
                let b = _mm256_set1_epi32(*bias.add(8 * i + g) >> (8 - UBITS));
                _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(w, y4), ones), b)
            } else {
                let aw = _mm256_sign_epi8(w, w);
                _mm256_madd_epi16(_mm256_maddubs_epi16(aw, _mm256_sign_epi8(y4, w)), ones)
            };
            *a = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(sum), *a);
        }
    }
    let h = _mm256_add_ps(
        _mm256_add_ps(_mm256_add_ps(acc[0], acc[4]), _mm256_add_ps(acc[2], acc[6])),
        _mm256_add_ps(_mm256_add_ps(acc[1], acc[5]), _mm256_add_ps(acc[3], acc[7])),
    );
    _mm256_storeu_ps(out.as_mut_ptr().add(8 * half), h);
}

/// `out[t][r] = panel row r · y[j0 + t]` for `t < nt`.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn panel_dot_avx2<const UBITS: u32>(cols: usize, panel: &[u8], acts: &QuantizedActs, j0: usize, nt: usize) -> [[f32; 16]; PANEL_TOKENS] {
    let nb = cols / 32;
    assert!(panel.len() >= nb * PANEL_BLOCK_BYTES && nt <= PANEL_TOKENS && j0 + nt <= acts.batch());
    assert!(acts.block_d().len() >= (j0 + nt) * nb && acts.group_bias().len() >= (j0 + nt) * nb * 8);
    let mut out = [[0.0f32; 16]; PANEL_TOKENS];
    for (t, o) in out.iter_mut().enumerate().take(nt) {
        half_dot::<UBITS>(nb, panel.as_ptr(), 0, acts, j0 + t, o);
        half_dot::<UBITS>(nb, panel.as_ptr(), 1, acts, j0 + t, o);
    }
    out
}

/// The AVX2 panel kernels for Q8_0, Q4_0, IQ4_NL and Q5_0 weights: (pack, dot, panel bytes per block).
pub(crate) fn kernels(ty: crate::GgmlType) -> Option<(PackPanelFn, PanelDotFn, usize)> {
    use crate::GgmlType::*;
    let (pack, dot) = match ty {
        Q8_0 => (panel_pack_fn!(pack_q8_0, super::available), panel_dot_fn!(panel_dot_avx2::<0>, super::available)),
        Q4_0 => (panel_pack_fn!(pack_q4_0, super::available), panel_dot_fn!(panel_dot_avx2::<4>, super::available)),
        IQ4_NL => (panel_pack_fn!(pack_iq4_nl, super::available), panel_dot_fn!(panel_dot_avx2::<0>, super::available)),
        Q5_0 => (panel_pack_fn!(pack_q5_0, super::available), panel_dot_fn!(panel_dot_avx2::<5>, super::available)),
        _ => return None,
    };
    Some((pack, dot, PANEL_BLOCK_BYTES))
}
