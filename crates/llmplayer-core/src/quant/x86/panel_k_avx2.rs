//! The K-quant panel kernel for CPUs with AVX2 but no AVX-512 VNNI, on the panel layout of
//! `panel_k.rs` (same headers, same quants; packed with 256-bit gathers, 8 rows at a time),
//! rounding exactly as ggml's AVX2 `ggml_vec_dot_*_q8_K` (see `panel_k.rs`).
//!
//! A 256-bit register holds 8 rows, so each call runs the two halves of the 16-row panel
//! separately. Per quant group and token: `vpmaddubsw` (unsigned quants × the token's 4
//! activation bytes, broadcast) into two i16 sums of 2, `vpmaddwd` with the rows'
//! `(scale, scale)` pairs and an add into the lane (ggml's `maddubs` + `madd(scale)`). Q2_K's
//! panel has the scales folded into its quants (at most 45), so two groups of a lane are
//! summed in i16 (at most 2 × 2 × 45 × 127 < 32768) before one `vpmaddwd` with ones.
//! Q3_K and IQ4_XS store signed quants and take ggml's sign path (`|w|` against
//! `sign(y, w)`, at most 2 × 128 × 127 per i16): IQ4_XS its table values with the scales in
//! `vpmaddwd`; Q3_K `-(scale - 32) * q` (in -128..=124, folded), `vpmaddwd` with -1.

use super::panel_k::{
    dword_pattern, group_pos, header_bytes, panel_bytes, sc_index, Header, D_AT, DMIN_AT, K2, K4, K5, K6, KI, KS3, MW_AT,
    Q8_K_BSUMS, Q8_K_BYTES, SC_AT, Z,
};
use crate::quant::grids::KVALUES_IQ4NL;
use crate::quant::acts::PANEL_TOKENS;
use crate::quant::traits::{PackPanelFn, PanelDotFn};
use crate::quant::{QuantizedActs, QK_K};
use std::arch::x86_64::*;

/// Packs 16 rows into the `panel_k.rs` layout, as `panel_k::pack_k` does with 512-bit gathers:
/// per 8-row half, `header(block_ptr, rows, h, half)` (that half's fields), then
/// `quants(block_ptr, rows, q, h, half)` writes that half's 32-byte lines of each group (`q`
/// already offset to the half).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn pack_k(
    w: &[u8],
    row_bytes: usize,
    cols: usize,
    panel: &mut [u8],
    (block_bytes, kind): (usize, u8),
    header: impl Fn(*const u8, __m256i, &mut Header, usize),
    quants: impl Fn(*const u8, __m256i, *mut u8, &Header, usize),
) {
    let (nb, pb, hb) = (cols / QK_K, panel_bytes(kind), header_bytes(kind));
    assert!(w.len() >= 15 * row_bytes + nb * block_bytes && panel.len() >= nb * pb);
    assert!(row_bytes * 16 < i32::MAX as usize);
    let rows = _mm256_mullo_epi32(_mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0), _mm256_set1_epi32(row_bytes as i32));
    let mut h = Header::new();
    for i in 0..nb {
        let out = &mut panel[i * pb..(i + 1) * pb];
        for half in 0..2 {
            header(w.as_ptr().add(8 * half * row_bytes + i * block_bytes), rows, &mut h, half);
        }
        h.write(kind, out.as_mut_ptr());
        for half in 0..2 {
            quants(w.as_ptr().add(8 * half * row_bytes + i * block_bytes), rows, out.as_mut_ptr().add(hb + 32 * half), &h, half);
        }
    }
}

// ---------------------------------------------------------------- headers
// The 256-bit twins of `panel_k.rs`'s: `header(b, rows, h, half)` fills rows
// `8 * half..8 * half + 8` of `h` from the 8 blocks at `b + rows[r]`.

#[inline(always)]
unsafe fn shuf(v: __m256i, p: [i32; 4]) -> __m256i {
    _mm256_shuffle_epi8(v, _mm256_setr_epi32(p[0], p[1], p[2], p[3], p[0], p[1], p[2], p[3]))
}
#[inline(always)]
unsafe fn pair_u(v: __m256i, j: u8) -> __m256i {
    shuf(v, dword_pattern(j, Z, j, Z))
}
#[inline(always)]
unsafe fn pair_s(v: __m256i, j: u8, j2: u8) -> __m256i {
    _mm256_srai_epi16::<8>(shuf(v, dword_pattern(j, j, j2, j2)))
}
/// The f16 in the low (`HI` false) or high half of every dword, as f32.
#[inline(always)]
unsafe fn f16s<const HI: bool>(v: __m256i) -> __m256 {
    let h = if HI { _mm256_srli_epi32::<16>(v) } else { _mm256_and_si256(v, _mm256_set1_epi32(0xffff)) };
    let p = _mm256_permute4x64_epi64::<0b1000>(_mm256_packus_epi32(h, h));
    _mm256_cvtph_ps(_mm256_castsi256_si128(p))
}
#[inline(always)]
unsafe fn put(dst: &mut [[i16; 2]; 16], half: usize, v: __m256i) {
    _mm256_storeu_si256(dst[8 * half..].as_mut_ptr().cast(), v);
}
#[inline(always)]
unsafe fn put_f(dst: &mut [f32; 16], half: usize, v: __m256) {
    _mm256_storeu_ps(dst[8 * half..].as_mut_ptr(), v);
}

#[inline(always)]
unsafe fn q2_k_header(b: *const u8, rows: __m256i, h: &mut Header, half: usize) {
    let v = gather(b, rows, 80);
    put_f(&mut h.d, half, f16s::<false>(v));
    put_f(&mut h.dmin, half, f16s::<true>(v));
    let m4 = _mm256_set1_epi8(0x0f);
    for m in 0..4u8 {
        let s = gather(b, rows, 4 * m as usize);
        let (lo, hi) = (_mm256_and_si256(s, m4), _mm256_and_si256(_mm256_srli_epi32::<4>(s), m4));
        for j in 0..4 {
            put(&mut h.sc[(4 * m + j) as usize], half, pair_u(lo, j));
        }
        for kk in 0..2 {
            put(&mut h.mw[(2 * m + kk) as usize], half, shuf(hi, dword_pattern(2 * kk, Z, 2 * kk + 1, Z)));
        }
    }
}

#[inline(always)]
unsafe fn q6_k_header(b: *const u8, rows: __m256i, h: &mut Header, half: usize) {
    put_f(&mut h.d, half, f16s::<true>(gather(b, rows, 206)));
    for m in 0..4u8 {
        let s = gather(b, rows, 192 + 4 * m as usize);
        for j in 0..4 {
            put(&mut h.sc[(4 * m + j) as usize], half, pair_s(s, j, j));
        }
        for kk in 0..2 {
            put(&mut h.mw[(2 * m + kk) as usize], half, _mm256_mullo_epi16(pair_s(s, 2 * kk, 2 * kk + 1), _mm256_set1_epi16(-32)));
        }
    }
}

/// Q3_K: `d`; `scale - 32` in `h.sc` for the packer (no scale vectors in this panel).
#[inline(always)]
unsafe fn q3_k_header(b: *const u8, rows: __m256i, h: &mut Header, half: usize) {
    put_f(&mut h.d, half, f16s::<true>(gather(b, rows, 106)));
    let (a0, a1, a2) = (gather(b, rows, 96), gather(b, rows, 100), gather(b, rows, 104));
    let (k1, k2) = (_mm256_set1_epi32(0x0303_0303), _mm256_set1_epi32(0x0f0f_0f0f));
    let hi = |x: __m256i| _mm256_slli_epi32::<4>(_mm256_and_si256(x, k1));
    let s = [
        _mm256_or_si256(_mm256_and_si256(a0, k2), hi(a2)),
        _mm256_or_si256(_mm256_and_si256(a1, k2), hi(_mm256_srli_epi32::<2>(a2))),
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32::<4>(a0), k2), hi(_mm256_srli_epi32::<4>(a2))),
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32::<4>(a1), k2), hi(_mm256_srli_epi32::<6>(a2))),
    ];
    for (m, &sm) in s.iter().enumerate() {
        for j in 0..4 {
            put(&mut h.sc[4 * m + j as usize], half, _mm256_sub_epi16(pair_u(sm, j), _mm256_set1_epi16(32)));
        }
    }
}

/// IQ4_XS: `d`; the 8 scales `ls - 32`.
#[inline(always)]
unsafe fn iq4_xs_header(b: *const u8, rows: __m256i, h: &mut Header, half: usize) {
    let v = gather(b, rows, 0);
    put_f(&mut h.d, half, f16s::<false>(v));
    let (sh, sl) = (_mm256_srli_epi32::<16>(v), gather(b, rows, 4));
    let m = |x: __m256i, bits: i32| _mm256_and_si256(x, _mm256_set1_epi32(bits));
    for ib in 0..8u32 {
        let lo = m(_mm256_srl_epi32(sl, _mm_cvtsi32_si128(4 * ib as i32)), 0xf);
        let hi = m(_mm256_srl_epi32(sh, _mm_cvtsi32_si128(2 * ib as i32)), 3);
        let ls = _mm256_sub_epi32(_mm256_or_si256(lo, _mm256_slli_epi32::<4>(hi)), _mm256_set1_epi32(32));
        put(&mut h.sc[ib as usize], half, _mm256_or_si256(m(ls, 0xffff), _mm256_slli_epi32::<16>(ls)));
    }
}

#[inline(always)]
unsafe fn k4_header(b: *const u8, rows: __m256i, h: &mut Header, half: usize) {
    let v = gather(b, rows, 0);
    put_f(&mut h.d, half, f16s::<false>(v));
    put_f(&mut h.dmin, half, f16s::<true>(v));
    let (u0, u1, u2) = (gather(b, rows, 4), gather(b, rows, 8), gather(b, rows, 12));
    let (k1, k2, k3) = (_mm256_set1_epi32(0x3f3f_3f3f), _mm256_set1_epi32(0x0f0f_0f0f), _mm256_set1_epi32(0x0303_0303));
    let top = |x: __m256i| _mm256_slli_epi32::<4>(_mm256_and_si256(_mm256_srli_epi32::<6>(x), k3));
    let sc_lo = _mm256_and_si256(u0, k1);
    let sc_hi = _mm256_or_si256(_mm256_and_si256(u2, k2), top(u0));
    let mn_lo = _mm256_and_si256(u1, k1);
    let mn_hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32::<4>(u2), k2), top(u1));
    for j in 0..4u8 {
        let j4 = j as usize + 4;
        put(&mut h.sc[j as usize], half, pair_u(sc_lo, j));
        put(&mut h.sc[j4], half, pair_u(sc_hi, j));
        put(&mut h.mw[j as usize], half, pair_u(mn_lo, j));
        put(&mut h.mw[j4], half, pair_u(mn_hi, j));
    }
}

/// Gathers the dword at byte `off` of each of the 8 rows' blocks.
#[inline(always)]
unsafe fn gather(base: *const u8, rows: __m256i, off: usize) -> __m256i {
    _mm256_i32gather_epi32::<1>(base.add(off).cast(), rows)
}

/// Stores quant group `g` of the half.
#[inline(always)]
unsafe fn store(q: *mut u8, g: usize, v: __m256i) {
    _mm256_storeu_si256(q.add(64 * group_pos(g)).cast(), v);
}

#[inline(always)]
unsafe fn srl(v: __m256i, s: usize) -> __m256i {
    _mm256_srl_epi16(v, _mm_cvtsi64_si128(s as i64))
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn pack_q2_k(w: &[u8], row_bytes: usize, cols: usize, panel: &mut [u8]) {
    let m2 = _mm256_set1_epi8(3);
    pack_k(w, row_bytes, cols, panel, (84, K2), |b, r, h, half| q2_k_header(b, r, h, half), |b, rows, q, h, half| {
        // Element 128n + 32j + l is bits 2j of qs[32n + l] (qs at 16), times its scale.
        for n in 0..2 {
            for g in 0..8 {
                let v = gather(b, rows, 16 + 32 * n + 4 * g);
                for j in 0..4 {
                    let grp = 32 * n + 8 * j + g;
                    let sc = _mm256_loadu_si256(h.sc[grp / 4][8 * half..].as_ptr().cast());
                    store(q, grp, _mm256_mullo_epi16(_mm256_and_si256(srl(v, 2 * j), m2), sc));
                }
            }
        }
    })
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn pack_q3_k(w: &[u8], row_bytes: usize, cols: usize, panel: &mut [u8]) {
    let (m2, one, lo8, four) = (_mm256_set1_epi8(3), _mm256_set1_epi8(1), _mm256_set1_epi16(0xff), _mm256_set1_epi16(4));
    pack_k(w, row_bytes, cols, panel, (110, KS3), |b, r, h, half| q3_k_header(b, r, h, half), |b, rows, q, h, half| {
        // As `panel_k.rs`: u = q + 4 in 0..8 from qs (at 32) and hmask (at 0); stored as
        // f * (4 - u) = -f * q with f = scale - 32: in -128..=124, a signed byte.
        for g in 0..8 {
            let hm = gather(b, rows, 4 * g);
            for n in 0..2 {
                let v = gather(b, rows, 32 + 32 * n + 4 * g);
                for j in 0..4 {
                    let lo = _mm256_and_si256(srl(v, 2 * j), m2);
                    let hb = _mm256_and_si256(srl(hm, 4 * n + j), one);
                    let u = _mm256_or_si256(lo, _mm256_slli_epi16(hb, 2));
                    let grp = 32 * n + 8 * j + g;
                    let f = _mm256_loadu_si256(h.sc[grp / 4][8 * half..].as_ptr().cast());
                    let wl = _mm256_mullo_epi16(_mm256_sub_epi16(four, _mm256_and_si256(u, lo8)), f);
                    let wh = _mm256_mullo_epi16(_mm256_sub_epi16(four, _mm256_srli_epi16(u, 8)), f);
                    store(q, grp, _mm256_or_si256(_mm256_and_si256(wl, lo8), _mm256_slli_epi16(wh, 8)));
                }
            }
        }
    })
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn pack_iq4_xs(w: &[u8], row_bytes: usize, cols: usize, panel: &mut [u8]) {
    let t = _mm_loadu_si128(KVALUES_IQ4NL.as_ptr().cast());
    let (lut, m4) = (_mm256_set_m128i(t, t), _mm256_set1_epi8(0x0f));
    pack_k(w, row_bytes, cols, panel, (136, KI), |b, r, h, half| iq4_xs_header(b, r, h, half), |b, rows, q, _, _| {
        // Sub-block ib: qs[16ib + l] (at 8) holds element l (low nibble) and l + 16 (high);
        // stored as the signed table values.
        for ib in 0..8 {
            for g in 0..4 {
                let v = gather(b, rows, 8 + 16 * ib + 4 * g);
                store(q, 8 * ib + g, _mm256_shuffle_epi8(lut, _mm256_and_si256(v, m4)));
                store(q, 8 * ib + 4 + g, _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(v, 4), m4)));
            }
        }
    })
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn pack_q4_k(w: &[u8], row_bytes: usize, cols: usize, panel: &mut [u8]) {
    let m4 = _mm256_set1_epi8(0x0f);
    pack_k(w, row_bytes, cols, panel, (144, K4), |b, r, h, half| k4_header(b, r, h, half), |b, rows, q, _, _| {
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
    pack_k(w, row_bytes, cols, panel, (176, K5), |b, r, h, half| k4_header(b, r, h, half), |b, rows, q, _, _| {
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
    pack_k(w, row_bytes, cols, panel, (210, K6), |b, r, h, half| q6_k_header(b, r, h, half), |b, rows, q, _, _| {
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

/// Rows `8 * half..8 * half + 8` of the panel against activation rows `j0..j0 + T`, into
/// `out[t][8 * half..]`, in ggml's rounding (see `panel_k.rs`).
#[inline(always)]
#[allow(clippy::needless_range_loop)]
unsafe fn half_dot<const T: usize, const KIND: u8>(
    nb: usize,
    panel: *const u8,
    half: usize,
    ys: &[*const u8; T],
    out: &mut [[f32; 16]; PANEL_TOKENS],
) {
    let (pb, hb) = (panel_bytes(KIND), header_bytes(KIND));
    let p = panel.add(32 * half);
    let (zero, ones) = (_mm256_setzero_si256(), _mm256_set1_epi16(1));
    let mut acc = [[_mm256_setzero_ps(); 8]; T];
    let mut acc_m = [[_mm256_setzero_ps(); 4]; T];
    for i in 0..nb {
        let blk = p.add(pb * i);
        let yb: [*const u8; T] = std::array::from_fn(|t| ys[t].add(Q8_K_BYTES * i));
        let yd: [f32; T] = std::array::from_fn(|t| (yb[t] as *const f32).read_unaligned());
        let dw = _mm256_loadu_ps(blk.add(D_AT).cast());
        let dminw = _mm256_loadu_ps(blk.add(DMIN_AT).cast());
        let mw = |m: usize| _mm256_loadu_si256(blk.add(MW_AT + 64 * m).cast());
        let bsum = |t: usize, m: usize| _mm256_set1_epi32((yb[t].add(Q8_K_BSUMS + 4 * m) as *const i32).read_unaligned());
        if KIND == K4 {
            for t in 0..T {
                let dmin = _mm256_mul_ps(dminw, _mm256_set1_ps(-yd[t]));
                for j in 0..4 {
                    let prod = _mm256_add_epi32(_mm256_madd_epi16(mw(2 * j), bsum(t, 2 * j)), _mm256_madd_epi16(mw(2 * j + 1), bsum(t, 2 * j + 1)));
                    acc_m[t][j] = _mm256_fmadd_ps(dmin, _mm256_cvtepi32_ps(prod), acc_m[t][j]);
                }
            }
        }
        if KIND == K5 {
            // Q5_K: the 4 products summed in integers, one f32 (see `panel_k.rs`).
            for t in 0..T {
                let dmin = _mm256_mul_ps(dminw, _mm256_set1_ps(-yd[t]));
                let mut isum = zero;
                for m in 0..8 {
                    isum = _mm256_add_epi32(isum, _mm256_madd_epi16(mw(m), bsum(t, m)));
                }
                acc_m[t][0] = _mm256_fmadd_ps(dmin, _mm256_cvtepi32_ps(isum), acc_m[t][0]);
            }
        }
        for k in 0..8 {
            let mut l: [__m256i; T] = std::array::from_fn(|t| if KIND == K6 { _mm256_madd_epi16(mw(k), bsum(t, k)) } else { zero });
            let y4 = |t: usize, c: usize| _mm256_set1_epi32((yb[t].add(4 + 32 * c + 4 * k) as *const i32).read_unaligned());
            let wg = |c: usize| _mm256_loadu_si256(blk.add(hb + 64 * (8 * k + c)).cast());
            if KIND == K2 {
                for cc in 0..4 {
                    let (w0, w1) = (wg(2 * cc), wg(2 * cc + 1));
                    for t in 0..T {
                        let s16 = _mm256_add_epi16(_mm256_maddubs_epi16(w0, y4(t, 2 * cc)), _mm256_maddubs_epi16(w1, y4(t, 2 * cc + 1)));
                        l[t] = _mm256_add_epi32(l[t], _mm256_madd_epi16(s16, ones));
                    }
                }
            } else if KIND == KI || KIND == KS3 {
                // Signed quants: |w| against sign(y, w) (ggml's mul_add_epi8), then the scale
                // (KS3: -1, its scales are folded into the negated quants).
                for c in 0..8 {
                    let w = wg(c);
                    let aw = _mm256_sign_epi8(w, w);
                    let sc = if KIND == KI { _mm256_loadu_si256(blk.add(SC_AT + 64 * c).cast()) } else { _mm256_set1_epi16(-1) };
                    for t in 0..T {
                        let sy = _mm256_sign_epi8(y4(t, c), w);
                        l[t] = _mm256_add_epi32(l[t], _mm256_madd_epi16(_mm256_maddubs_epi16(aw, sy), sc));
                    }
                }
            } else {
                for c in 0..8 {
                    let (w, sc) = (wg(c), _mm256_loadu_si256(blk.add(SC_AT + 64 * sc_index(KIND, c, k)).cast()));
                    for t in 0..T {
                        l[t] = _mm256_add_epi32(l[t], _mm256_madd_epi16(_mm256_maddubs_epi16(w, y4(t, c)), sc));
                    }
                }
            }
            for t in 0..T {
                if KIND == K2 {
                    let dmin = _mm256_mul_ps(dminw, _mm256_set1_ps(-yd[t]));
                    let prod = _mm256_madd_epi16(mw(k), bsum(t, k));
                    acc[t][k] = _mm256_fmadd_ps(dmin, _mm256_cvtepi32_ps(prod), acc[t][k]);
                }
                let d = _mm256_mul_ps(dw, _mm256_set1_ps(yd[t]));
                acc[t][k] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(l[t]), acc[t][k]);
            }
        }
    }
    for t in 0..T {
        // hsum_float_8: lanes (k, k + 4), then (0 + 2, 1 + 3), then the two.
        let a = &acc[t];
        let add = |x, y| _mm256_add_ps(x, y);
        let mut s = add(add(add(a[0], a[4]), add(a[2], a[6])), add(add(a[1], a[5]), add(a[3], a[7])));
        if KIND == K4 {
            let m = &acc_m[t];
            s = add(s, add(add(m[0], m[2]), add(m[1], m[3])));
        }
        if KIND == K5 {
            s = add(s, acc_m[t][0]);
        }
        _mm256_storeu_ps(out[t].as_mut_ptr().add(8 * half), s);
    }
}

/// `out[t][r] = panel row r · y[j0 + t]` for `t < T`.
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn panel_dot_avx2<const T: usize, const KIND: u8>(
    cols: usize,
    panel: &[u8],
    acts: &QuantizedActs,
    j0: usize,
) -> [[f32; 16]; PANEL_TOKENS] {
    let nb = cols / QK_K;
    assert!(panel.len() >= nb * panel_bytes(KIND) && j0 + T <= acts.batch() && acts.row_bytes() >= nb * Q8_K_BYTES);
    let ys: [*const u8; T] = std::array::from_fn(|t| acts.row(j0 + t).as_ptr());
    let mut out = [[0.0f32; 16]; PANEL_TOKENS];
    for half in 0..2 {
        half_dot::<T, KIND>(nb, panel.as_ptr(), half, &ys, &mut out);
    }
    out
}

macro_rules! dot_kind {
    ($name:ident, $name_t:ident, $kind:expr) => {
        unsafe fn $name(cols: usize, panel: &[u8], acts: &QuantizedActs, j0: usize, nt: usize) -> [[f32; 16]; PANEL_TOKENS] {
            by_tokens!($name_t, nt, cols, panel, acts, j0)
        }
        unsafe fn $name_t<const T: usize>(cols: usize, panel: &[u8], acts: &QuantizedActs, j0: usize) -> [[f32; 16]; PANEL_TOKENS] {
            panel_dot_avx2::<T, { $kind }>(cols, panel, acts, j0)
        }
    };
}
dot_kind!(dot_k4, dot_k4_t, K4);
dot_kind!(dot_k5, dot_k5_t, K5);
dot_kind!(dot_k6, dot_k6_t, K6);
dot_kind!(dot_k2, dot_k2_t, K2);
dot_kind!(dot_ks3, dot_ks3_t, KS3);
dot_kind!(dot_ki, dot_ki_t, KI);

/// The AVX2 K-quant panel kernels for `ty`: (pack, dot, panel bytes per super-block).
pub(crate) fn kernels(ty: crate::GgmlType) -> Option<(PackPanelFn, PanelDotFn, usize)> {
    use crate::GgmlType::*;
    let (pack, dot, kind) = match ty {
        Q2_K => (panel_pack_fn!(pack_q2_k, super::available), panel_dot_fn!(dot_k2, super::available), K2),
        Q4_K => (panel_pack_fn!(pack_q4_k, super::available), panel_dot_fn!(dot_k4, super::available), K4),
        Q5_K => (panel_pack_fn!(pack_q5_k, super::available), panel_dot_fn!(dot_k5, super::available), K5),
        Q6_K => (panel_pack_fn!(pack_q6_k, super::available), panel_dot_fn!(dot_k6, super::available), K6),
        Q3_K => (panel_pack_fn!(pack_q3_k, super::available), panel_dot_fn!(dot_ks3, super::available), KS3),
        IQ4_XS => (panel_pack_fn!(pack_iq4_xs, super::available), panel_dot_fn!(dot_ki, super::available), KI),
        _ => return None,
    };
    Some((pack, dot, panel_bytes(kind)))
}
