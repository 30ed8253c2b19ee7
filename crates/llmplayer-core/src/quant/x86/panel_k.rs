//! The K-quant weight panels for the AVX-512 VNNI prefill kernel (see `panel.rs` for the
//! idea), rounding exactly as ggml's AVX2 `ggml_vec_dot_*_q8_K` (our `kquants.rs`), which
//! llama.cpp runs for these types in prefill too.
//!
//! ggml's dot keeps, per super-block of 256, 8 i32 lanes: lane `k` gathers elements
//! `32c + 4k..32c + 4k + 4` of every 32-element chunk `c`, each 4-element product sum times the
//! integer scale of its sub-block (`vpmaddubsw` + `vpmaddwd`), plus a lane's share of the
//! offsets through the activations' 16-element sums `bsums`; then, per lane, one fma of the
//! lane (as f32) with `d = y.d * x.d` into 8 f32 accumulators, and `hsum_float_8` at the end.
//! The integer lanes are exact, so any instruction sequence giving the same 8 integers per
//! super-block, followed by the same f32 operations in the same order, gives the same float.
//!
//! Here each 32-bit lane of a 512-bit register is a weight row (16 rows per panel) and each of
//! ggml's 8 lanes is its own register: for lane `k`, the 8 quant groups `(c, k)` are stored one
//! after the other, and per group and token `vpmaddubsw` (unsigned quants × the token's 4
//! activation bytes, broadcast) and `vpdpwssd` against the rows' sub-block scales (as
//! `(scale, scale)` i16 pairs) add the group to the lane. Where the scale times the quant fits a byte (Q2_K: at
//! most 15 × 3; Q3_K: `(scale - 32) * q + 127` in 3..=255) the scale is folded into the packed
//! quants and one `vpdpbusd` per group and token does it all.
//!
//! Panel layout per super-block (`panel_bytes(KIND)` bytes), rows in 32-bit lanes:
//! `d` (f32), `dmin` (f32), 8 vectors `mw` of i16 pairs (the `bsums` terms), `nsc(KIND)` vectors
//! of `(scale, scale)` i16 pairs (IQ4_XS: then sign masks), then 64 groups of 16 rows × 4 quant
//! bytes, group `(c, k)` at `64 * (8k + c)` (lane-major, [`group_pos`]). Per kind:
//!
//! * `K4` (Q4_K), `K5` (Q5_K): quants 0..15 / 0..31; 8 scales; `mw[m] = (min[m], min[m])`, so
//!   that `mw[2j] · bsums pair 2j + mw[2j+1] · bsums pair 2j+1` is ggml's `min_j * sum32_j`
//!   product lane `j`. Q4_K scales those 4 lanes by `dmin = -y.d * x.dmin` into 4 f32 lanes
//!   (`acc_m`); Q5_K first sums them in integers and keeps one f32 (`summs += dmin * isum`),
//!   as ggml's two dots differ there. Either is added after `hsum_float_8`.
//! * `K6` (Q6_K): quants 0..63; 16 scales (lanes 0..3 of chunk `c` take sub-block `2c`, lanes
//!   4..7 `2c + 1`); `mw[k] = (-32 sc[2k], -32 sc[2k+1])` starts lane `k` (ggml's
//!   `- 32 * (bsum·sc)` lane).
//! * `K2` (Q2_K): quants `scale * q`; `mw[k] = (min[2k], min[2k+1])`, whose lane is added to the
//!   f32 lane with `dmin` before the lane of the quants with `d` (ggml's order).
//! * `K3` (Q3_K): quants `(scale - 32) * q + 127` (`q` in -4..=3); each lane starts at
//!   `-127 * (sum of the token's activations in that lane)`.
//! * `KI` (IQ4_XS): quants `|value|`; 8 scales `ls - 32`; then a sign mask per group (bit
//!   `4r + e`: row `r`'s element `e` is negative), applied to the broadcast activations with
//!   one masked byte subtraction per group and token (ggml's `|x| * sign(y, x)`).

use super::vnni;
use crate::quant::grids::KVALUES_IQ4NL;
use crate::quant::acts::PANEL_TOKENS;
use crate::quant::traits::{PackPanelFn, PanelDotFn};
use crate::quant::{QuantizedActs, QK_K};
use std::arch::x86_64::*;

/// Panel kinds (see the module docs).
pub(super) const K4: u8 = 0;
pub(super) const K6: u8 = 1;
pub(super) const K2: u8 = 2;
pub(super) const K3: u8 = 3;
pub(super) const KI: u8 = 4;
/// AVX2 Q3_K (`panel_k_avx2.rs`): signed quants `-(scale - 32) * q`, no scale vectors.
pub(super) const KS3: u8 = 5;
/// Q5_K: `K4`'s layout, but the min term rounded as ggml's Q5_K dot does (see the module docs).
pub(super) const K5: u8 = 6;

/// Byte offsets in a super-block's header.
pub(super) const D_AT: usize = 0;
pub(super) const DMIN_AT: usize = 64;
pub(super) const MW_AT: usize = 128;
pub(super) const SC_AT: usize = 640;

/// Scale vectors per super-block.
pub(super) const fn nsc(kind: u8) -> usize {
    match kind {
        K4 | K5 | KI => 8,
        K6 => 16,
        _ => 0,
    }
}
/// IQ4_XS: the sign masks (one u64 per quant group, in panel group order) after the scales.
pub(super) const MASK_AT: usize = SC_AT + 64 * 8;
pub(super) const fn header_bytes(kind: u8) -> usize {
    SC_AT + 64 * nsc(kind) + if kind == KI { 8 * 64 } else { 0 }
}
/// Panel bytes per super-block.
pub(super) const fn panel_bytes(kind: u8) -> usize {
    header_bytes(kind) + 16 * QK_K
}
/// The scale vector of lane `k` of chunk `c`.
#[inline(always)]
pub(super) const fn sc_index(kind: u8, c: usize, k: usize) -> usize {
    if kind == K6 {
        2 * c + k / 4
    } else {
        c
    }
}
/// Panel position (in 64-byte groups) of quant group `g` (elements `4g..4g + 4`): chunk
/// `g / 8`, lane `g % 8`, stored lane-major.
#[inline(always)]
pub(super) const fn group_pos(g: usize) -> usize {
    8 * (g % 8) + g / 8
}

/// Bytes of a Q8_K block (d: f32, qs: 256 × i8, bsums: 16 × i16).
pub(super) const Q8_K_BYTES: usize = 292;
pub(super) const Q8_K_BSUMS: usize = 260;

/// One super-block's header for the 16 rows, in panel byte order (`#[repr(C)]`, no padding):
/// its first `SC_AT + 64 * nsc(kind)` bytes are copied to the panel, then IQ4_XS's masks. `sc`
/// also holds what the folded kinds multiply their quants by (Q2_K: scale; Q3_K: scale - 32),
/// not copied.
#[repr(C)]
pub(super) struct Header {
    pub d: [f32; 16],
    pub dmin: [f32; 16],
    pub mw: [[[i16; 2]; 16]; 8],
    pub sc: [[[i16; 2]; 16]; 16],
    /// IQ4_XS: per quant group (panel order), bit `4r + e` set where row `r`'s element `e` is
    /// negative.
    pub mask: [u64; 64],
}

impl Header {
    pub(super) fn new() -> Header {
        Header { d: [0.0; 16], dmin: [0.0; 16], mw: [[[0; 2]; 16]; 8], sc: [[[0; 2]; 16]; 16], mask: [0; 64] }
    }
    /// Copies the panel part of the header to `out`.
    ///
    /// # Safety
    /// `out` must be valid for `header_bytes(kind)` writes.
    pub(super) unsafe fn write(&self, kind: u8, out: *mut u8) {
        std::ptr::copy_nonoverlapping((self as *const Header).cast::<u8>(), out, SC_AT + 64 * nsc(kind));
        if kind == KI {
            std::ptr::copy_nonoverlapping(self.mask.as_ptr().cast::<u8>(), out.add(MASK_AT), 8 * 64);
        }
    }
}

const _: () = assert!(std::mem::size_of::<Header>() == header_bytes(K6) + 8 * 64);

/// A `vpshufb` pattern taking, in every dword, its own bytes `a, b, c, d` (`Z`: zero).
pub(super) const fn dword_pattern(a: u8, b: u8, c: u8, d: u8) -> [i32; 4] {
    const fn idx(x: u8, q: usize) -> u32 {
        if x == Z {
            0x80
        } else {
            4 * q as u32 + x as u32
        }
    }
    let mut p = [0i32; 4];
    let mut q = 0;
    while q < 4 {
        p[q] = (idx(a, q) | idx(b, q) << 8 | idx(c, q) << 16 | idx(d, q) << 24) as i32;
        q += 1;
    }
    p
}
pub(super) const Z: u8 = 0x80;

// ---------------------------------------------------------------- headers
// `header(b, rows, h)`: the 16 rows' fields of one super-block, from the blocks at
// `b + rows[r]`, with 512-bit gathers (the AVX2 panels have 256-bit twins in
// `panel_k_avx2.rs`). Every gather reads 4 bytes inside the block.

#[inline(always)]
unsafe fn shuf(v: __m512i, p: [i32; 4]) -> __m512i {
    _mm512_shuffle_epi8(v, _mm512_set4_epi32(p[3], p[2], p[1], p[0]))
}
/// Byte `j` of every dword as an i16 pair `(b, b)`, zero-extended.
#[inline(always)]
unsafe fn pair_u(v: __m512i, j: u8) -> __m512i {
    shuf(v, dword_pattern(j, Z, j, Z))
}
/// Bytes `j` and `j2` of every dword as an i16 pair, sign-extended.
#[inline(always)]
unsafe fn pair_s(v: __m512i, j: u8, j2: u8) -> __m512i {
    _mm512_srai_epi16::<8>(shuf(v, dword_pattern(j, j, j2, j2)))
}
/// The f16 in the low (`HI` false) or high half of every dword, as f32.
#[inline(always)]
unsafe fn f16s<const HI: bool>(v: __m512i) -> __m512 {
    _mm512_cvtph_ps(_mm512_cvtepi32_epi16(if HI { _mm512_srli_epi32::<16>(v) } else { v }))
}
#[inline(always)]
unsafe fn put(dst: &mut [[i16; 2]; 16], v: __m512i) {
    _mm512_storeu_si512(dst.as_mut_ptr().cast(), v);
}
#[inline(always)]
unsafe fn put_f(dst: &mut [f32; 16], v: __m512) {
    _mm512_storeu_ps(dst.as_mut_ptr(), v);
}

/// Q2_K: `d`, `dmin`; scales (folded into the quants); mins pairs `(min[2k], min[2k+1])`.
#[inline(always)]
unsafe fn q2_k_header(b: *const u8, rows: __m512i, h: &mut Header) {
    let v = gather(b, rows, 80);
    put_f(&mut h.d, f16s::<false>(v));
    put_f(&mut h.dmin, f16s::<true>(v));
    let m4 = _mm512_set1_epi8(0x0f);
    for m in 0..4u8 {
        let s = gather(b, rows, 4 * m as usize);
        let (lo, hi) = (_mm512_and_si512(s, m4), _mm512_and_si512(_mm512_srli_epi32::<4>(s), m4));
        for j in 0..4 {
            put(&mut h.sc[(4 * m + j) as usize], pair_u(lo, j));
        }
        for kk in 0..2 {
            put(&mut h.mw[(2 * m + kk) as usize], shuf(hi, dword_pattern(2 * kk, Z, 2 * kk + 1, Z)));
        }
    }
}

/// Q3_K: `d`; `scale - 32` (folded into the quants), the 6-bit scales unpacked as ggml does.
#[inline(always)]
unsafe fn q3_k_header(b: *const u8, rows: __m512i, h: &mut Header) {
    put_f(&mut h.d, f16s::<true>(gather(b, rows, 106)));
    let (a0, a1, a2) = (gather(b, rows, 96), gather(b, rows, 100), gather(b, rows, 104));
    let (k1, k2) = (_mm512_set1_epi32(0x0303_0303), _mm512_set1_epi32(0x0f0f_0f0f));
    let hi = |x: __m512i| _mm512_slli_epi32::<4>(_mm512_and_si512(x, k1));
    let s = [
        _mm512_or_si512(_mm512_and_si512(a0, k2), hi(a2)),
        _mm512_or_si512(_mm512_and_si512(a1, k2), hi(_mm512_srli_epi32::<2>(a2))),
        _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32::<4>(a0), k2), hi(_mm512_srli_epi32::<4>(a2))),
        _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32::<4>(a1), k2), hi(_mm512_srli_epi32::<6>(a2))),
    ];
    for (m, &sm) in s.iter().enumerate() {
        for j in 0..4 {
            put(&mut h.sc[4 * m + j as usize], _mm512_sub_epi16(pair_u(sm, j), _mm512_set1_epi16(32)));
        }
    }
}

/// Q6_K: `d`; the 16 signed scales, and `-32 *` them in pairs for the offset.
#[inline(always)]
unsafe fn q6_k_header(b: *const u8, rows: __m512i, h: &mut Header) {
    put_f(&mut h.d, f16s::<true>(gather(b, rows, 206)));
    for m in 0..4u8 {
        let s = gather(b, rows, 192 + 4 * m as usize);
        for j in 0..4 {
            put(&mut h.sc[(4 * m + j) as usize], pair_s(s, j, j));
        }
        for kk in 0..2 {
            put(&mut h.mw[(2 * m + kk) as usize], _mm512_mullo_epi16(pair_s(s, 2 * kk, 2 * kk + 1), _mm512_set1_epi16(-32)));
        }
    }
}

/// Q4_K and Q5_K: `d`, `dmin`; the 8 scales, and the mins as `(min[m], min[m])` for bsums
/// pair `m` (the sum of the 32 activations of sub-block `m`), unpacked as ggml does.
#[inline(always)]
unsafe fn k4_header(b: *const u8, rows: __m512i, h: &mut Header) {
    let v = gather(b, rows, 0);
    put_f(&mut h.d, f16s::<false>(v));
    put_f(&mut h.dmin, f16s::<true>(v));
    let (u0, u1, u2) = (gather(b, rows, 4), gather(b, rows, 8), gather(b, rows, 12));
    let (k1, k2, k3) = (_mm512_set1_epi32(0x3f3f_3f3f), _mm512_set1_epi32(0x0f0f_0f0f), _mm512_set1_epi32(0x0303_0303));
    let top = |x: __m512i| _mm512_slli_epi32::<4>(_mm512_and_si512(_mm512_srli_epi32::<6>(x), k3));
    let sc_lo = _mm512_and_si512(u0, k1);
    let sc_hi = _mm512_or_si512(_mm512_and_si512(u2, k2), top(u0));
    let mn_lo = _mm512_and_si512(u1, k1);
    let mn_hi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32::<4>(u2), k2), top(u1));
    for j in 0..4u8 {
        let j4 = j as usize + 4;
        put(&mut h.sc[j as usize], pair_u(sc_lo, j));
        put(&mut h.sc[j4], pair_u(sc_hi, j));
        put(&mut h.mw[j as usize], pair_u(mn_lo, j));
        put(&mut h.mw[j4], pair_u(mn_hi, j));
    }
}

/// IQ4_XS: `d`; the 8 scales `ls - 32` as ggml unpacks them (sign masks come with the quants).
#[inline(always)]
unsafe fn iq4_xs_header(b: *const u8, rows: __m512i, h: &mut Header) {
    let v = gather(b, rows, 0);
    put_f(&mut h.d, f16s::<false>(v));
    let (sh, sl) = (_mm512_srli_epi32::<16>(v), gather(b, rows, 4));
    let m = |x: __m512i, bits: i32| _mm512_and_si512(x, _mm512_set1_epi32(bits));
    for ib in 0..8u32 {
        let lo = m(_mm512_srl_epi32(sl, _mm_cvtsi32_si128(4 * ib as i32)), 0xf);
        let hi = m(_mm512_srl_epi32(sh, _mm_cvtsi32_si128(2 * ib as i32)), 3);
        let ls = _mm512_sub_epi32(_mm512_or_si512(lo, _mm512_slli_epi32::<4>(hi)), _mm512_set1_epi32(32));
        put(&mut h.sc[ib as usize], _mm512_or_si512(m(ls, 0xffff), _mm512_slli_epi32::<16>(ls)));
    }
}

// ---------------------------------------------------------------- AVX-512 packers

/// Byte offsets of the 16 rows (`r * row_bytes`) for gathers.
#[inline(always)]
unsafe fn row_offsets(row_bytes: usize) -> __m512i {
    _mm512_mullo_epi32(
        _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
        _mm512_set1_epi32(row_bytes as i32),
    )
}

/// Packs 16 rows (`w[r * row_bytes..]`) of `cols` elements, `block_bytes` per super-block:
/// `header(block_ptr, rows, h)`, then `quants(block_ptr, rows, q, h)` writes the 16 rows'
/// quant groups to `q` (through [`store`]).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn pack_k(
    w: &[u8],
    row_bytes: usize,
    cols: usize,
    panel: &mut [u8],
    block_bytes: usize,
    kind: u8,
    header: impl Fn(*const u8, __m512i, &mut Header),
    quants: impl Fn(*const u8, __m512i, *mut u8, &Header),
) {
    let (nb, pb, hb) = (cols / QK_K, panel_bytes(kind), header_bytes(kind));
    assert!(w.len() >= 15 * row_bytes + nb * block_bytes && panel.len() >= nb * pb);
    assert!(row_bytes * 16 < i32::MAX as usize);
    let rows = row_offsets(row_bytes);
    let mut h = Header::new();
    for i in 0..nb {
        let out = &mut panel[i * pb..(i + 1) * pb];
        let b = w.as_ptr().add(i * block_bytes);
        header(b, rows, &mut h);
        h.write(kind, out.as_mut_ptr());
        quants(b, rows, out.as_mut_ptr().add(hb), &h);
    }
}

/// Gathers the dword at byte `off` of each of the 16 rows' blocks.
#[inline(always)]
unsafe fn gather(base: *const u8, rows: __m512i, off: usize) -> __m512i {
    _mm512_i32gather_epi32::<1>(rows, base.add(off).cast())
}

/// Stores quant group `g` (elements `4g..4g + 4` of the 16 rows).
#[inline(always)]
unsafe fn store(q: *mut u8, g: usize, v: __m512i) {
    _mm512_storeu_si512(q.add(64 * group_pos(g)).cast(), v);
}

/// The 16 rows' `h.sc[s]` pairs.
#[inline(always)]
unsafe fn sc_vec(h: &Header, s: usize) -> __m512i {
    _mm512_loadu_si512(h.sc[s].as_ptr().cast())
}

#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")]
unsafe fn pack_q2_k(w: &[u8], row_bytes: usize, cols: usize, panel: &mut [u8]) {
    let m2 = _mm512_set1_epi8(3);
    pack_k(w, row_bytes, cols, panel, 84, K2, |b, r, h| q2_k_header(b, r, h), |b, rows, q, h| {
        // Element 128n + 32j + l is bits 2j of qs[32n + l] (qs at 16); times its sub-block's
        // scale (at most 45: no carry between the bytes of an i16 product).
        for n in 0..2 {
            for g in 0..8 {
                let v = gather(b, rows, 16 + 32 * n + 4 * g);
                for j in 0..4 {
                    let s = _mm_cvtsi64_si128(2 * j as i64);
                    let grp = 32 * n + 8 * j + g;
                    let qv = _mm512_and_si512(_mm512_srl_epi16(v, s), m2);
                    store(q, grp, _mm512_mullo_epi16(qv, sc_vec(h, grp / 4)));
                }
            }
        }
    })
}

#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")]
unsafe fn pack_q3_k(w: &[u8], row_bytes: usize, cols: usize, panel: &mut [u8]) {
    let (m2, one, lo8) = (_mm512_set1_epi8(3), _mm512_set1_epi8(1), _mm512_set1_epi16(0xff));
    pack_k(w, row_bytes, cols, panel, 110, K3, |b, r, h| q3_k_header(b, r, h), |b, rows, q, h| {
        // As Q2_K (qs at 32), plus bit 4n + j of hmask[l] (at 0) as the value's bit 2: u = q + 4
        // in 0..8; stored as f * (u - 4) + 127 with f = scale - 32, per byte in i16 lanes.
        for g in 0..8 {
            let hm = gather(b, rows, 4 * g);
            for n in 0..2 {
                let v = gather(b, rows, 32 + 32 * n + 4 * g);
                for j in 0..4 {
                    let lo = _mm512_and_si512(_mm512_srl_epi16(v, _mm_cvtsi64_si128(2 * j as i64)), m2);
                    let hb = _mm512_and_si512(_mm512_srl_epi16(hm, _mm_cvtsi64_si128((4 * n + j) as i64)), one);
                    let u = _mm512_or_si512(lo, _mm512_slli_epi16(hb, 2));
                    let grp = 32 * n + 8 * j + g;
                    let f = sc_vec(h, grp / 4);
                    let off = _mm512_sub_epi16(_mm512_set1_epi16(127), _mm512_slli_epi16(f, 2));
                    let wl = _mm512_add_epi16(_mm512_mullo_epi16(_mm512_and_si512(u, lo8), f), off);
                    let wh = _mm512_add_epi16(_mm512_mullo_epi16(_mm512_srli_epi16(u, 8), f), off);
                    store(q, grp, _mm512_or_si512(wl, _mm512_slli_epi16(wh, 8)));
                }
            }
        }
    })
}

#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")]
unsafe fn pack_q4_k(w: &[u8], row_bytes: usize, cols: usize, panel: &mut [u8]) {
    let m4 = _mm512_set1_epi8(0x0f);
    pack_k(w, row_bytes, cols, panel, 144, K4, |b, r, h| k4_header(b, r, h), |b, rows, q, _| {
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
    pack_k(w, row_bytes, cols, panel, 176, K5, |b, r, h| k4_header(b, r, h), |b, rows, q, _| {
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
    pack_k(w, row_bytes, cols, panel, 210, K6, |b, r, h| q6_k_header(b, r, h), |b, rows, q, _| {
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
    let lut = _mm512_broadcast_i32x4(_mm_loadu_si128(KVALUES_IQ4NL.as_ptr().cast()));
    let m4 = _mm512_set1_epi8(0x0f);
    pack_k_iq4(w, row_bytes, cols, panel, |b, rows, q, masks| {
        // Sub-block ib: qs[16ib + l] (at 8) holds element l (low nibble) and l + 16 (high);
        // stored as |value| with the sign in the group's mask.
        for ib in 0..8 {
            for g in 0..4 {
                let v = gather(b, rows, 8 + 16 * ib + 4 * g);
                for (grp, nib) in [(8 * ib + g, _mm512_and_si512(v, m4)), (8 * ib + 4 + g, _mm512_and_si512(_mm512_srli_epi16::<4>(v), m4))] {
                    let x = _mm512_shuffle_epi8(lut, nib);
                    masks[group_pos(grp)] = _mm512_movepi8_mask(x);
                    store(q, grp, _mm512_abs_epi8(x));
                }
            }
        }
    })
}

/// [`pack_k`] for IQ4_XS, whose quants also fill the header's sign masks.
#[inline(always)]
unsafe fn pack_k_iq4(w: &[u8], row_bytes: usize, cols: usize, panel: &mut [u8], quants: impl Fn(*const u8, __m512i, *mut u8, &mut [u64; 64])) {
    let (nb, pb, hb, block_bytes) = (cols / QK_K, panel_bytes(KI), header_bytes(KI), 136);
    assert!(w.len() >= 15 * row_bytes + nb * block_bytes && panel.len() >= nb * pb);
    assert!(row_bytes * 16 < i32::MAX as usize);
    let rows = row_offsets(row_bytes);
    let mut h = Header::new();
    for i in 0..nb {
        let out = &mut panel[i * pb..(i + 1) * pb];
        let b = w.as_ptr().add(i * block_bytes);
        iq4_xs_header(b, rows, &mut h);
        quants(b, rows, out.as_mut_ptr().add(hb), &mut h.mask);
        h.write(KI, out.as_mut_ptr());
    }
}

// ---------------------------------------------------------------- the dot

/// `vpdpwssd`: `acc + a.lo * b.lo + a.hi * b.hi` per i32 lane. In asm because LLVM's machine
/// combiner otherwise splits it into `vpmaddwd` + `vpaddd` to shorten the accumulator chain,
/// which costs a third vector op per group here (the 8 tokens' chains already hide the
/// latency).
#[inline]
#[target_feature(enable = "avx512f,avx512vnni")]
unsafe fn dpwssd(acc: __m512i, a: __m512i, b: __m512i) -> __m512i {
    let mut acc = acc;
    std::arch::asm!("vpdpwssd {acc}, {a}, {b}", acc = inout(zmm_reg) acc, a = in(zmm_reg) a, b = in(zmm_reg) b, options(pure, nomem, nostack, preserves_flags));
    acc
}

/// `out[t][r] = panel row r · y[j0 + t]` for `t < T` (Q8_K activations), in ggml's rounding.
#[allow(clippy::needless_range_loop)]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")]
unsafe fn panel_dot_k<const T: usize, const KIND: u8>(
    cols: usize,
    panel: &[u8],
    acts: &QuantizedActs,
    j0: usize,
) -> [[f32; 16]; PANEL_TOKENS] {
    let (nb, pb, hb) = (cols / QK_K, panel_bytes(KIND), header_bytes(KIND));
    assert!(panel.len() >= nb * pb && j0 + T <= acts.batch() && acts.row_bytes() >= nb * Q8_K_BYTES);
    let ys: [*const u8; T] = std::array::from_fn(|t| acts.row(j0 + t).as_ptr());
    let p = panel.as_ptr();
    let zero = _mm512_setzero_si512();
    let mut acc = [[_mm512_setzero_ps(); 8]; T];
    let mut acc_m = [[_mm512_setzero_ps(); 4]; T];
    for i in 0..nb {
        let blk = p.add(pb * i);
        let yb: [*const u8; T] = std::array::from_fn(|t| ys[t].add(Q8_K_BYTES * i));
        let yd: [f32; T] = std::array::from_fn(|t| (yb[t] as *const f32).read_unaligned());
        let dw = _mm512_loadu_ps(blk.add(D_AT).cast());
        let dminw = _mm512_loadu_ps(blk.add(DMIN_AT).cast());
        let mw = |m: usize| _mm512_loadu_si512(blk.add(MW_AT + 64 * m).cast());
        // bsums pair m (bsums 2m, 2m + 1) of token t, in every lane.
        let bsum = |t: usize, m: usize| _mm512_set1_epi32((yb[t].add(Q8_K_BSUMS + 4 * m) as *const i32).read_unaligned());
        if KIND == K4 {
            for t in 0..T {
                let dmin = _mm512_mul_ps(dminw, _mm512_set1_ps(-yd[t]));
                for j in 0..4 {
                    let prod = _mm512_dpwssd_epi32(_mm512_dpwssd_epi32(zero, mw(2 * j), bsum(t, 2 * j)), mw(2 * j + 1), bsum(t, 2 * j + 1));
                    acc_m[t][j] = _mm512_fmadd_ps(dmin, _mm512_cvtepi32_ps(prod), acc_m[t][j]);
                }
            }
        }
        if KIND == K5 {
            for t in 0..T {
                let dmin = _mm512_mul_ps(dminw, _mm512_set1_ps(-yd[t]));
                // All 8 `mw · bsums` pairs in one integer sum (one chain: measured 6% faster
                // than summing `K4`'s four products, 3% faster than `K4` itself).
                let mut isum = zero;
                for m in 0..8 {
                    isum = _mm512_dpwssd_epi32(isum, mw(m), bsum(t, m));
                }
                acc_m[t][0] = _mm512_fmadd_ps(dmin, _mm512_cvtepi32_ps(isum), acc_m[t][0]);
            }
        }
        // Q3_K: -127 times each lane's activation sum.
        let mut corr = [[0i32; 8]; T];
        if KIND == K3 {
            let ones = _mm256_set1_epi8(1);
            for t in 0..T {
                let mut s = _mm256_setzero_si256();
                for c in 0..8 {
                    s = _mm256_dpbusd_epi32(s, ones, _mm256_loadu_si256(yb[t].add(4 + 32 * c).cast()));
                }
                _mm256_storeu_si256(corr[t].as_mut_ptr().cast(), _mm256_mullo_epi32(s, _mm256_set1_epi32(-127)));
            }
        }
        // KK of ggml's lanes at a time: two for the scaled kinds (more independent chains:
        // measured 6% faster), one for the folded ones (5% faster).
        let kk_n = if KIND == K2 || KIND == K3 { 1 } else { 2 };
        for k0 in (0..8).step_by(kk_n) {
            let mut l: [[__m512i; T]; 2] = std::array::from_fn(|kk| {
                std::array::from_fn(|t| match KIND {
                    _ if kk >= kk_n => zero,
                    K6 => _mm512_dpwssd_epi32(zero, mw(k0 + kk), bsum(t, k0 + kk)),
                    K3 => _mm512_set1_epi32(corr[t][k0 + kk]),
                    _ => zero,
                })
            });
            for c in 0..8 {
                for kk in 0..kk_n {
                    let k = k0 + kk;
                    let wg = _mm512_loadu_si512(blk.add(hb + 64 * (8 * k + c)).cast());
                    let y4 = |t: usize| _mm512_set1_epi32((yb[t].add(4 + 32 * c + 4 * k) as *const i32).read_unaligned());
                    if KIND == K2 || KIND == K3 {
                        for t in 0..T {
                            l[kk][t] = _mm512_dpbusd_epi32(l[kk][t], wg, y4(t));
                        }
                    } else if KIND == KI {
                        // |x| against the activations negated where x < 0 (ggml's sign trick).
                        let sc = _mm512_loadu_si512(blk.add(SC_AT + 64 * c).cast());
                        let neg: __mmask64 = (blk.add(MASK_AT + 8 * (8 * k + c)) as *const u64).read_unaligned();
                        for t in 0..T {
                            let y = y4(t);
                            let sy = _mm512_mask_sub_epi8(y, neg, zero, y);
                            l[kk][t] = dpwssd(l[kk][t], _mm512_maddubs_epi16(wg, sy), sc);
                        }
                    } else {
                        let sc = _mm512_loadu_si512(blk.add(SC_AT + 64 * sc_index(KIND, c, k)).cast());
                        for t in 0..T {
                            l[kk][t] = dpwssd(l[kk][t], _mm512_maddubs_epi16(wg, y4(t)), sc);
                        }
                    }
                }
            }
            for kk in 0..kk_n {
                let k = k0 + kk;
                for t in 0..T {
                    if KIND == K2 {
                        let dmin = _mm512_mul_ps(dminw, _mm512_set1_ps(-yd[t]));
                        let prod = _mm512_dpwssd_epi32(zero, mw(k), bsum(t, k));
                        acc[t][k] = _mm512_fmadd_ps(dmin, _mm512_cvtepi32_ps(prod), acc[t][k]);
                    }
                    let d = _mm512_mul_ps(dw, _mm512_set1_ps(yd[t]));
                    acc[t][k] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(l[kk][t]), acc[t][k]);
                }
            }
        }
    }
    let mut out = [[0.0f32; 16]; PANEL_TOKENS];
    for t in 0..T {
        // hsum_float_8: lanes (k, k + 4), then (0 + 2, 1 + 3), then the two.
        let a = &acc[t];
        let add = |x, y| _mm512_add_ps(x, y);
        let mut s = add(add(add(a[0], a[4]), add(a[2], a[6])), add(add(a[1], a[5]), add(a[3], a[7])));
        if KIND == K4 {
            let m = &acc_m[t];
            s = add(s, add(add(m[0], m[2]), add(m[1], m[3])));
        }
        if KIND == K5 {
            s = add(s, acc_m[t][0]);
        }
        _mm512_storeu_ps(out[t].as_mut_ptr(), s);
    }
    out
}

macro_rules! dot_kind {
    ($name:ident, $name_t:ident, $kind:expr) => {
        unsafe fn $name(cols: usize, panel: &[u8], acts: &QuantizedActs, j0: usize, nt: usize) -> [[f32; 16]; PANEL_TOKENS] {
            by_tokens!($name_t, nt, cols, panel, acts, j0)
        }
        unsafe fn $name_t<const T: usize>(cols: usize, panel: &[u8], acts: &QuantizedActs, j0: usize) -> [[f32; 16]; PANEL_TOKENS] {
            panel_dot_k::<T, { $kind }>(cols, panel, acts, j0)
        }
    };
}
dot_kind!(dot_k4, dot_k4_t, K4);
dot_kind!(dot_k5, dot_k5_t, K5);
dot_kind!(dot_k6, dot_k6_t, K6);
dot_kind!(dot_k2, dot_k2_t, K2);
dot_kind!(dot_k3, dot_k3_t, K3);
dot_kind!(dot_ki, dot_ki_t, KI);

/// The K-quant panel kernels for `ty`: (pack, dot, panel bytes per super-block).
pub(crate) fn kernels(ty: crate::GgmlType) -> Option<(PackPanelFn, PanelDotFn, usize)> {
    use crate::GgmlType::*;
    let (pack, dot, kind) = match ty {
        Q2_K => (panel_pack_fn!(pack_q2_k, vnni::available), panel_dot_fn!(dot_k2, vnni::available), K2),
        Q3_K => (panel_pack_fn!(pack_q3_k, vnni::available), panel_dot_fn!(dot_k3, vnni::available), K3),
        Q4_K => (panel_pack_fn!(pack_q4_k, vnni::available), panel_dot_fn!(dot_k4, vnni::available), K4),
        Q5_K => (panel_pack_fn!(pack_q5_k, vnni::available), panel_dot_fn!(dot_k5, vnni::available), K5),
        Q6_K => (panel_pack_fn!(pack_q6_k, vnni::available), panel_dot_fn!(dot_k6, vnni::available), K6),
        IQ4_XS => (panel_pack_fn!(pack_iq4_xs, vnni::available), panel_dot_fn!(dot_ki, vnni::available), KI),
        _ => return None,
    };
    Some((pack, dot, panel_bytes(kind)))
}
