//! The K-quant panel kernel for CPUs with AVX2 but no AVX-512 VNNI, on the panel layout of
//! `panel_k.rs` (same headers, same unsigned quants; packed with 256-bit gathers, 8 rows at a time).
//!
//! Without `vpdpbusd` a product goes through `vpmaddubsw` (u8 × i8, pairs summed in i16) and
//! `vpmaddwd` (pairs into i32): two multiply-port instructions per 32 products in the
//! row-by-token kernels. Here a lane is a row, and the quants are small, so `CH` groups of
//! four elements are summed in i16 before the one widening `vpmaddwd`: a lane of one
//! `vpmaddubsw` is at most `2 * qmax * 127`, so `CH = 8` for Q4_K (qmax 15), 4 for Q5_K (31),
//! 2 for Q6_K (63), a whole sub-block for Q2_K and Q3_K. The i32 sums are exact, so this kernel
//! gives the same floats as the VNNI one. IQ4_XS (its `+128` quants reach 241) would saturate
//! `vpmaddubsw`, so its AVX2 panel stores the signed table values and takes the sign path of
//! `panel_avx2.rs` (`|w|` against sign-applied activations, one `vpmaddwd` per group; the
//! header's offsets go unused).
//!
//! A 256-bit register holds 8 rows, so each call runs the two halves of the 16-row panel
//! separately, up to 4 tokens at a time (accumulators stay in registers).

use super::panel_k::{iq4_xs_header, k4_header, panel_bytes, q2_k_header, q3_k_header, q6_k_header, Q8_K_BYTES, SUMS};
use crate::quant::grids::KVALUES_IQ4NL;
use crate::quant::matmul::PANEL_TOKENS;
use crate::quant::traits::{PackPanelFn, PanelDotFn};
use crate::quant::{QuantizedActs, QK_K};
use std::arch::x86_64::*;

/// Packs 16 rows into the `panel_k.rs` layout, as `panel_k::pack_k` does with 512-bit gathers:
/// `header` per row, then `quants(block_ptr, rows, q)` per 8-row half, writing that half's
/// 32-byte lines of each group (`q` already offset to the half).
#[inline(always)]
unsafe fn pack_k(
    w: &[u8],
    row_bytes: usize,
    cols: usize,
    panel: &mut [u8],
    (block_bytes, sub): (usize, usize),
    header: fn(&[u8], usize, &mut [[f32; 16]; 32]),
    quants: impl Fn(*const u8, __m256i, *mut u8),
) {
    let (nb, pb, hb) = (cols / QK_K, panel_bytes(sub), 128 * (QK_K / sub));
    assert!(w.len() >= 15 * row_bytes + nb * block_bytes && panel.len() >= nb * pb);
    assert!(row_bytes * 16 < i32::MAX as usize);
    let rows = _mm256_mullo_epi32(_mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0), _mm256_set1_epi32(row_bytes as i32));
    let mut so = [[0.0f32; 16]; 32];
    for i in 0..nb {
        let out = &mut panel[i * pb..(i + 1) * pb];
        for r in 0..16 {
            header(&w[r * row_bytes + i * block_bytes..][..block_bytes], r, &mut so);
        }
        // x86 is little-endian: the f32 vectors are their own byte image.
        std::ptr::copy_nonoverlapping(so.as_ptr().cast::<u8>(), out.as_mut_ptr(), hb);
        for half in 0..2 {
            quants(w.as_ptr().add(8 * half * row_bytes + i * block_bytes), rows, out.as_mut_ptr().add(hb + 32 * half));
        }
    }
}

/// Gathers the dword at byte `off` of each of the 8 rows' blocks.
#[inline(always)]
unsafe fn gather(base: *const u8, rows: __m256i, off: usize) -> __m256i {
    _mm256_i32gather_epi32::<1>(base.add(off).cast(), rows)
}

#[inline(always)]
unsafe fn store(q: *mut u8, group: usize, v: __m256i) {
    _mm256_storeu_si256(q.add(64 * group).cast(), v);
}

#[inline(always)]
unsafe fn srl(v: __m256i, s: usize) -> __m256i {
    _mm256_srl_epi16(v, _mm_cvtsi64_si128(s as i64))
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn pack_q2_k(w: &[u8], row_bytes: usize, cols: usize, panel: &mut [u8]) {
    let m2 = _mm256_set1_epi8(3);
    pack_k(w, row_bytes, cols, panel, (84, 16), q2_k_header, |b, rows, q| {
        // Element 128n + 32j + l is bits 2j of qs[32n + l] (qs at 16).
        for n in 0..2 {
            for g in 0..8 {
                let v = gather(b, rows, 16 + 32 * n + 4 * g);
                for j in 0..4 {
                    store(q, 32 * n + 8 * j + g, _mm256_and_si256(srl(v, 2 * j), m2));
                }
            }
        }
    })
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn pack_q3_k(w: &[u8], row_bytes: usize, cols: usize, panel: &mut [u8]) {
    let (m2, one) = (_mm256_set1_epi8(3), _mm256_set1_epi8(1));
    pack_k(w, row_bytes, cols, panel, (110, 16), q3_k_header, |b, rows, q| {
        // As Q2_K (qs at 32), plus bit 4n + j of hmask[l] (at 0) as the value's bit 2.
        for g in 0..8 {
            let h = gather(b, rows, 4 * g);
            for n in 0..2 {
                let v = gather(b, rows, 32 + 32 * n + 4 * g);
                for j in 0..4 {
                    let lo = _mm256_and_si256(srl(v, 2 * j), m2);
                    let hb = _mm256_and_si256(srl(h, 4 * n + j), one);
                    store(q, 32 * n + 8 * j + g, _mm256_or_si256(lo, _mm256_slli_epi16(hb, 2)));
                }
            }
        }
    })
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn pack_q4_k(w: &[u8], row_bytes: usize, cols: usize, panel: &mut [u8]) {
    let m4 = _mm256_set1_epi8(0x0f);
    pack_k(w, row_bytes, cols, panel, (144, 32), k4_header, |b, rows, q| {
        // Bytes 32jj..32jj+32 of qs (at 16): low nibbles are sub-block 2jj, high ones 2jj + 1.
        for jj in 0..4 {
            for g in 0..8 {
                let v = gather(b, rows, 16 + 32 * jj + 4 * g);
                store(q, 8 * (2 * jj) + g, _mm256_and_si256(v, m4));
                store(q, 8 * (2 * jj + 1) + g, _mm256_and_si256(_mm256_srli_epi16(v, 4), m4));
            }
        }
    })
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn pack_q5_k(w: &[u8], row_bytes: usize, cols: usize, panel: &mut [u8]) {
    let (m4, one) = (_mm256_set1_epi8(0x0f), _mm256_set1_epi8(1));
    // Bit `s` of each byte, moved to bit 4.
    let bit = |h: __m256i, s: usize| _mm256_slli_epi16(_mm256_and_si256(srl(h, s), one), 4);
    pack_k(w, row_bytes, cols, panel, (176, 32), k4_header, |b, rows, q| {
        // As Q4_K (qs at 48), plus bit 2jj / 2jj + 1 of qh[l] (at 16) for element l.
        for g in 0..8 {
            let h = gather(b, rows, 16 + 4 * g);
            for jj in 0..4 {
                let v = gather(b, rows, 48 + 32 * jj + 4 * g);
                store(q, 8 * (2 * jj) + g, _mm256_or_si256(_mm256_and_si256(v, m4), bit(h, 2 * jj)));
                let hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
                store(q, 8 * (2 * jj + 1) + g, _mm256_or_si256(hi, bit(h, 2 * jj + 1)));
            }
        }
    })
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn pack_q6_k(w: &[u8], row_bytes: usize, cols: usize, panel: &mut [u8]) {
    let m4 = _mm256_set1_epi8(0x0f);
    let bits = |v: __m256i, m: u8| _mm256_and_si256(v, _mm256_set1_epi8(m as i8));
    pack_k(w, row_bytes, cols, panel, (210, 16), q6_k_header, |b, rows, q| {
        // ggml's layout: per half n, byte l < 32 of ql (at 64n) / qh (at 128 + 32n) gives
        // elements l, l + 32, l + 64, l + 96 of the half.
        for n in 0..2 {
            for g in 0..8 {
                let (la, lb, h) = (gather(b, rows, 64 * n + 4 * g), gather(b, rows, 64 * n + 32 + 4 * g), gather(b, rows, 128 + 32 * n + 4 * g));
                let q1 = _mm256_or_si256(_mm256_and_si256(la, m4), _mm256_slli_epi16(bits(h, 0x03), 4));
                let q2 = _mm256_or_si256(_mm256_and_si256(lb, m4), _mm256_slli_epi16(bits(h, 0x0c), 2));
                let q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(la, 4), m4), bits(h, 0x30));
                let q4 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(lb, 4), m4), _mm256_srli_epi16(bits(h, 0xc0), 2));
                for (k, v) in [q1, q2, q3, q4].into_iter().enumerate() {
                    store(q, 32 * n + 8 * k + g, v);
                }
            }
        }
    })
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn pack_iq4_xs(w: &[u8], row_bytes: usize, cols: usize, panel: &mut [u8]) {
    let t = _mm_loadu_si128(KVALUES_IQ4NL.as_ptr().cast());
    let (lut, m4) = (_mm256_set_m128i(t, t), _mm256_set1_epi8(0x0f));
    pack_k(w, row_bytes, cols, panel, (136, 32), iq4_xs_header, |b, rows, q| {
        // Sub-block ib: qs[16ib + l] (at 8) holds element l (low nibble) and l + 16 (high).
        for ib in 0..8 {
            for g in 0..4 {
                let v = gather(b, rows, 8 + 16 * ib + 4 * g);
                store(q, 8 * ib + g, _mm256_shuffle_epi8(lut, _mm256_and_si256(v, m4)));
                store(q, 8 * ib + 4 + g, _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(v, 4), m4)));
            }
        }
    })
}

/// Rows `8 * half..8 * half + 8` of the panel against activation rows `j0..j0 + T` (sub-blocks
/// of `SUB`, `CH` groups summed in i16; `SIGNED`: signed quants, no offsets), into
/// `out[t][8 * half..]`.
#[inline(always)]
unsafe fn half_dot<const T: usize, const SUB: usize, const CH: usize, const SIGNED: bool>(
    nb: usize,
    panel: *const u8,
    half: usize,
    acts: &QuantizedActs,
    j0: usize,
    out: &mut [[f32; 16]],
) {
    let (nsub, pb) = (QK_K / SUB, panel_bytes(SUB));
    let hb = 128 * nsub;
    let ys: [*const u8; T] = std::array::from_fn(|t| acts.row(j0 + t).as_ptr());
    // Per Q8_K block: 8 sums of 32, then 16 sums of 16.
    let sums = acts.sub_sums().as_ptr().add(j0 * nb * SUMS + if SUB == 32 { 0 } else { 8 });
    let p = panel.add(32 * half);
    let ones = _mm256_set1_epi16(1);
    let mut acc = [_mm256_setzero_ps(); T];
    for i in 0..nb {
        let blk = p.add(pb * i);
        let mut inner = [_mm256_setzero_ps(); T];
        for k in 0..nsub {
            let mut sum = [_mm256_setzero_si256(); T];
            if SIGNED {
                for g in 0..SUB / 4 {
                    let wg = _mm256_loadu_si256(blk.add(hb + 64 * (k * SUB / 4 + g)).cast());
                    let aw = _mm256_sign_epi8(wg, wg);
                    for t in 0..T {
                        let y4 = (ys[t].add(Q8_K_BYTES * i + 4 + SUB * k + 4 * g) as *const i32).read_unaligned();
                        let sy = _mm256_sign_epi8(_mm256_set1_epi32(y4), wg);
                        sum[t] = _mm256_add_epi32(sum[t], _mm256_madd_epi16(_mm256_maddubs_epi16(aw, sy), ones));
                    }
                }
            }
            for c in 0..if SIGNED { 0 } else { SUB / 4 / CH } {
                let mut s16 = [_mm256_setzero_si256(); T];
                for g in CH * c..CH * (c + 1) {
                    let wg = _mm256_loadu_si256(blk.add(hb + 64 * (k * SUB / 4 + g)).cast());
                    for t in 0..T {
                        let y4 = (ys[t].add(Q8_K_BYTES * i + 4 + SUB * k + 4 * g) as *const i32).read_unaligned();
                        s16[t] = _mm256_add_epi16(s16[t], _mm256_maddubs_epi16(wg, _mm256_set1_epi32(y4)));
                    }
                }
                for t in 0..T {
                    sum[t] = _mm256_add_epi32(sum[t], _mm256_madd_epi16(s16[t], ones));
                }
            }
            let sc = _mm256_loadu_ps(blk.add(64 * k).cast());
            let off = _mm256_loadu_ps(blk.add(64 * (nsub + k)).cast());
            for t in 0..T {
                inner[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum[t]), sc, inner[t]);
                if !SIGNED {
                    inner[t] = _mm256_fnmadd_ps(off, _mm256_set1_ps(*sums.add((t * nb + i) * SUMS + k)), inner[t]);
                }
            }
        }
        for t in 0..T {
            let dy = (ys[t].add(Q8_K_BYTES * i) as *const f32).read_unaligned();
            acc[t] = _mm256_fmadd_ps(inner[t], _mm256_set1_ps(dy), acc[t]);
        }
    }
    for t in 0..T {
        _mm256_storeu_ps(out[t].as_mut_ptr().add(8 * half), acc[t]);
    }
}

/// `out[t][r] = panel row r · y[j0 + t]` for `t < nt`.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn panel_dot_avx2<const SUB: usize, const CH: usize, const SIGNED: bool>(
    cols: usize,
    panel: &[u8],
    acts: &QuantizedActs,
    j0: usize,
    nt: usize,
) -> [[f32; 16]; PANEL_TOKENS] {
    let nb = cols / QK_K;
    assert!(panel.len() >= nb * panel_bytes(SUB) && nt <= PANEL_TOKENS && j0 + nt <= acts.batch());
    assert!(acts.sub_sums().len() >= (j0 + nt) * nb * SUMS);
    halves_by_tokens!(half_dot::<_, SUB, CH, SIGNED>, nb, panel, acts, j0, nt)
}

/// The AVX2 K-quant panel kernels for `ty`: (pack, dot, panel bytes per super-block).
pub(crate) fn kernels(ty: crate::GgmlType) -> Option<(PackPanelFn, PanelDotFn, usize)> {
    use crate::GgmlType::*;
    macro_rules! k {
        ($pack:ident, $sub:literal, $ch:literal, $signed:literal) => {
            Some((
                panel_pack_fn!($pack, super::available),
                panel_dot_fn!(panel_dot_avx2::<$sub, $ch, $signed>, super::available),
                panel_bytes($sub),
            ))
        };
    }
    match ty {
        Q2_K => k!(pack_q2_k, 16, 4, false),
        Q3_K => k!(pack_q3_k, 16, 4, false),
        Q4_K => k!(pack_q4_k, 32, 8, false),
        Q5_K => k!(pack_q5_k, 32, 4, false),
        Q6_K => k!(pack_q6_k, 16, 2, false),
        IQ4_XS => k!(pack_iq4_xs, 32, 1, true),
        _ => None,
    }
}
