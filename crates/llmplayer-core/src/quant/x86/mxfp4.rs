//! AVX-512 VNNI kernels for MXFP4 weights (gpt-oss experts) against Q8_0 activations: the
//! mat-vec ([`vec_dot_mxfp4_q8_0`]) and the prefill panels ([`kernels`]).
//!
//! Both round as ggml's AVX2 `ggml_vec_dot_mxfp4_q8_0`, bit for bit, which is what llama.cpp
//! runs for MXFP4 in decode and prefill alike (tinyBLAS has no MXFP4): per block eight f32
//! lanes, lane `g` the products of elements `4g..4g + 4`, `fma(d_y * d_w, lane, acc)`, the
//! even blocks into one accumulator and the odd ones into another, added before
//! `hsum_float_8`; an odd last block then goes through ggml's scalar tail, `sum += d * sumi`
//! (contracted to an fma).
//!
//! The integer sums are exact either way: the mat-vec feeds `vpdpbusd` the weights'
//! magnitudes and the activations with the weights' signs (as `vpmaddubsw` does in ggml; Q8_0
//! quants are never -128), the panels store each weight + 128 and start each group's sum at
//! `-128 * sum(y)` (`panel.rs`).

use super::panel::{row_offsets, PANEL_BLOCK_BYTES};
use super::{fp16, hsum_ps, vnni};
use crate::quant::acts::PANEL_TOKENS;
use crate::quant::blocks;
use crate::quant::blocks_legacy::BlockQ8_0;
use crate::quant::blocks_nl4::{e8m0_to_f32_half, BlockMxfp4};
use crate::quant::grids::KVALUES_FP4;
use crate::quant::traits::{PackPanelFn, PanelDotFn};
use crate::quant::QuantizedActs;
use std::arch::x86_64::*;

/// ggml's scalar tail for an odd last block: `sum + d * sumi`, fused.
#[inline(always)]
fn tail(a: &BlockMxfp4, b: &BlockQ8_0, d_y: f32, sum: f32) -> f32 {
    let sumi: i32 = (0..16)
        .map(|j| b.qs[j] as i32 * KVALUES_FP4[(a.qs[j] & 0xf) as usize] as i32 + b.qs[j + 16] as i32 * KVALUES_FP4[(a.qs[j] >> 4) as usize] as i32)
        .sum();
    (d_y * e8m0_to_f32_half(a.e)).mul_add(sumi as f32, sum)
}

/// One MXFP4 row against one Q8_0 row, two blocks per 512-bit register: block `2j` in the low
/// half (ggml's even accumulator), `2j + 1` in the high half (its odd one). Eight blocks per
/// step have their scales converted together (the E8M0 halves by integer shifts, the Q8_0
/// f16s in one `vcvtph2ps`), so no scalar conversion sits on the per-block path.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")]
pub unsafe fn vec_dot_mxfp4_q8_0(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let nb = n / 32;
    let (xs, ys) = (blocks::<BlockMxfp4>(x, nb), blocks::<BlockQ8_0>(y, nb));
    let mag: [u8; 16] = KVALUES_FP4.map(|v| v.unsigned_abs());
    let lut = _mm512_broadcast_i32x4(_mm_loadu_si128(mag.as_ptr().cast()));
    let (m4, sign) = (_mm512_set1_epi8(0x0f), _mm512_set1_epi8(0x08));
    // 128-bit lanes 0 and 2 take the low nibbles (elements 0..16), 1 and 3 the high ones.
    let four = 4 << 48 | 4 << 32 | 4 << 16 | 4;
    let shift = _mm512_set_epi64(four, four, 0, 0, four, four, 0, 0);
    let (xp, yp) = (xs.as_ptr(), ys.as_ptr());
    // The integer lanes of blocks i and i + 1 (i + 1 < nb).
    let pair = |i: usize| {
        let (a0, a1, b0, b1) = (&*xp.add(i), &*xp.add(i + 1), &*yp.add(i), &*yp.add(i + 1));
        let q0 = _mm_loadu_si128(a0.qs.as_ptr().cast());
        let q1 = _mm_loadu_si128(a1.qs.as_ptr().cast());
        let q = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set_m128i(q0, q0)), _mm256_set_m128i(q1, q1), 1);
        let nib = _mm512_and_si512(_mm512_srlv_epi16(q, shift), m4);
        let w = _mm512_shuffle_epi8(lut, nib);
        let neg = _mm512_test_epi8_mask(nib, sign);
        let yq = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(b0.qs.as_ptr().cast())), _mm256_loadu_si256(b1.qs.as_ptr().cast()), 1);
        let yq = _mm512_mask_sub_epi8(yq, neg, _mm512_setzero_si512(), yq);
        _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), w, yq))
    };
    let mut acc = _mm512_setzero_ps();
    let mut i = 0;
    // Per pair k of the eight blocks: lanes 2k (low half) and 2k + 1 (high half) of the scales.
    let sel: [__m512i; 4] = std::array::from_fn(|k| _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32(2 * k as i32)), _mm256_set1_epi32(2 * k as i32 + 1), 1));
    let e_at = _mm256_setr_epi32(0, 17, 34, 51, 68, 85, 102, 119);
    while i + 8 <= nb {
        // The eight exponent bytes (17 bytes apart) in one gather.
        let e = _mm256_and_si256(_mm256_i32gather_epi32::<1>(xp.add(i).cast(), e_at), _mm256_set1_epi32(0xff));
        let normal = _mm256_slli_epi32(_mm256_sub_epi32(e, _mm256_set1_epi32(1)), 23);
        let small = _mm256_cmplt_epu32_mask(e, _mm256_set1_epi32(2));
        let dw = _mm256_castsi256_ps(_mm256_mask_sllv_epi32(normal, small, _mm256_set1_epi32(0x0020_0000), e));
        // The eight f16 scales packed into one integer with shifts (integer ports) rather than
        // inserted lane by lane (the shuffle port, which the pairs already keep busy).
        let dh = (0..8).fold(0u128, |v, k| v | ((*yp.add(i + k)).d as u128) << (16 * k));
        let dy = _mm256_cvtph_ps(_mm_set_epi64x((dh >> 64) as i64, dh as i64));
        let scales = _mm512_castps256_ps512(_mm256_mul_ps(dy, dw));
        for (k, s) in sel.iter().enumerate() {
            acc = _mm512_fmadd_ps(_mm512_permutexvar_ps(*s, scales), pair(i + 2 * k), acc);
        }
        i += 8;
    }
    while i + 1 < nb {
        let s0 = fp16(ys[i].d) * e8m0_to_f32_half(xs[i].e);
        let s1 = fp16(ys[i + 1].d) * e8m0_to_f32_half(xs[i + 1].e);
        let scale = _mm512_insertf32x8(_mm512_set1_ps(s0), _mm256_set1_ps(s1), 1);
        acc = _mm512_fmadd_ps(scale, pair(i), acc);
        i += 2;
    }
    let mut sum = hsum_ps(_mm256_add_ps(_mm512_castps512_ps256(acc), _mm512_extractf32x8_ps(acc, 1)));
    if i < nb {
        sum = tail(&xs[i], &ys[i], fp16(ys[i].d), sum);
    }
    sum
}

/// Packs MXFP4 rows `w[r * row_bytes..]`, `r < 16`, of `cols` elements into a panel
/// (`panel.rs`'s layout): each row's E8M0 scale halved as f32, each weight + 128.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")]
unsafe fn pack_mxfp4(w: &[u8], row_bytes: usize, cols: usize, panel: &mut [u8]) {
    let nb = cols / 32;
    assert!(w.len() >= 15 * row_bytes + nb * 17 && panel.len() >= nb * PANEL_BLOCK_BYTES && row_bytes * 16 < i32::MAX as usize);
    let table: [u8; 16] = KVALUES_FP4.map(|v| (v as u8) ^ 0x80);
    let lut = _mm512_broadcast_i32x4(_mm_loadu_si128(table.as_ptr().cast()));
    let rows = row_offsets(row_bytes);
    let (m4, ff) = (_mm512_set1_epi8(0x0f), _mm512_set1_epi32(0xff));
    let (w, p) = (w.as_ptr(), panel.as_mut_ptr());
    for i in 0..nb {
        let (b, out) = (w.add(17 * i), p.add(PANEL_BLOCK_BYTES * i));
        // ggml_e8m0_to_fp32_half: 2^(e - 128) as f32 bits, (e - 1) << 23, or 0x200000 << e for
        // e < 2 (subnormals).
        let e = _mm512_and_si512(_mm512_i32gather_epi32::<1>(rows, b.cast()), ff);
        let small = _mm512_cmplt_epu32_mask(e, _mm512_set1_epi32(2));
        let normal = _mm512_slli_epi32(_mm512_sub_epi32(e, _mm512_set1_epi32(1)), 23);
        let sub = _mm512_sllv_epi32(_mm512_set1_epi32(0x0020_0000), e);
        _mm512_storeu_si512(out.cast(), _mm512_mask_blend_epi32(small, normal, sub));
        for g in 0..4 {
            let q = _mm512_i32gather_epi32::<1>(rows, b.add(1 + 4 * g).cast());
            let lo = _mm512_shuffle_epi8(lut, _mm512_and_si512(q, m4));
            let hi = _mm512_shuffle_epi8(lut, _mm512_and_si512(_mm512_srli_epi16(q, 4), m4));
            _mm512_storeu_si512(out.add(64 + 64 * g).cast(), lo);
            _mm512_storeu_si512(out.add(64 + 64 * (g + 4)).cast(), hi);
        }
    }
}

/// `out[t][r] = panel row r · y[j0 + t]` for `t < T`, rounded as ggml's MXFP4 dot: per token
/// eight lane accumulators for the even blocks and eight for the odd ones (16 rows each).
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")]
unsafe fn panel_dot<const T: usize>(cols: usize, panel: &[u8], acts: &QuantizedActs, j0: usize) -> [[f32; 16]; PANEL_TOKENS] {
    let nb = cols / 32;
    assert!(panel.len() >= nb * PANEL_BLOCK_BYTES && j0 + T <= acts.batch());
    let (bias, dy) = (acts.group_bias(), acts.block_d());
    assert!(bias.len() >= (j0 + T) * nb * 8 && dy.len() >= (j0 + T) * nb);
    let p = panel.as_ptr();
    let mut out = [[0.0f32; 16]; PANEL_TOKENS];
    for (t, o) in out.iter_mut().enumerate().take(T) {
        let j = j0 + t;
        let y = acts.row(j).as_ptr();
        let (bias, dy) = (bias.as_ptr().add(j * nb * 8), dy.as_ptr().add(j * nb));
        let mut acc = [[_mm512_setzero_ps(); 8]; 2];
        let dot = |i: usize, g: usize, wg: __m512i| {
            let y4 = (y.add(34 * i + 2 + 4 * g) as *const i32).read_unaligned();
            _mm512_dpbusd_epi32(_mm512_set1_epi32(*bias.add(i * 8 + g)), wg, _mm512_set1_epi32(y4))
        };
        let pairs = nb / 2 * 2;
        for i in 0..pairs {
            let blk = p.add(PANEL_BLOCK_BYTES * i);
            let scale = _mm512_mul_ps(_mm512_set1_ps(*dy.add(i)), _mm512_loadu_ps(blk.cast()));
            let a = &mut acc[i & 1];
            for (g, ag) in a.iter_mut().enumerate() {
                let s = dot(i, g, _mm512_loadu_si512(blk.add(64 + 64 * g).cast()));
                *ag = _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(s), *ag);
            }
        }
        let l: [__m512; 8] = std::array::from_fn(|g| _mm512_add_ps(acc[0][g], acc[1][g]));
        let mut h = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(l[0], l[4]), _mm512_add_ps(l[2], l[6])), _mm512_add_ps(_mm512_add_ps(l[1], l[5]), _mm512_add_ps(l[3], l[7])));
        if pairs < nb {
            let i = pairs;
            let blk = p.add(PANEL_BLOCK_BYTES * i);
            let mut sumi = _mm512_setzero_si512();
            for g in 0..8 {
                sumi = _mm512_add_epi32(sumi, dot(i, g, _mm512_loadu_si512(blk.add(64 + 64 * g).cast())));
            }
            let d = _mm512_mul_ps(_mm512_set1_ps(*dy.add(i)), _mm512_loadu_ps(blk.cast()));
            h = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(sumi), h);
        }
        _mm512_storeu_ps(o.as_mut_ptr(), h);
    }
    out
}

unsafe fn panel_dot_any(cols: usize, panel: &[u8], acts: &QuantizedActs, j0: usize, nt: usize) -> [[f32; 16]; PANEL_TOKENS] {
    by_tokens!(panel_dot, nt, cols, panel, acts, j0)
}

/// The MXFP4 panel kernels: (pack, dot, panel bytes per block).
pub(crate) fn kernels() -> (PackPanelFn, PanelDotFn, usize) {
    (panel_pack_fn!(pack_mxfp4, vnni::available), panel_dot_fn!(panel_dot_any, vnni::available), PANEL_BLOCK_BYTES)
}

#[cfg(test)]
mod tests {
    use super::super::panel_tests::Rng;
    use super::*;
    use crate::quant::{matmul_q, row_bytes, traits};
    use crate::GgmlType;

    /// MXFP4 rows of random nibbles; exponents around trained weights' (2^-8) or anywhere
    /// (`wide`, subnormal halves 0 and 1 included).
    fn rows(rng: &mut Rng, n: usize, cols: usize, wide: bool) -> Vec<u8> {
        let mut w: Vec<u8> = (0..n * cols / 32 * 17).map(|_| rng.next()).collect();
        for b in w.chunks_exact_mut(17) {
            b[0] = if wide { [0, 1, 2, rng.next(), 254][rng.next() as usize % 5] } else { 116 + rng.next() % 8 };
        }
        w
    }

    fn acts(rng: &mut Rng, batch: usize, cols: usize, outliers: bool) -> QuantizedActs {
        let x: Vec<f32> = (0..batch * cols).map(|_| if outliers && rng.next() < 3 { 80.0 * rng.f32() } else { rng.f32() }).collect();
        let mut a = QuantizedActs::new();
        a.quantize(GgmlType::Q8_0, &x, cols);
        a.prepare_block_sums();
        a
    }

    /// The mat-vec and the panels equal ggml's AVX2 dot (`legacy.rs`) bit for bit, odd block
    /// counts (the scalar tail) and extreme exponents included.
    #[test]
    #[allow(clippy::needless_range_loop)]
    fn vnni_kernels_equal_the_avx2_dot_bit_for_bit() {
        if !vnni::available() {
            eprintln!("no AVX-512 VNNI on this CPU: skipped");
            return;
        }
        let mut rng = Rng(0x5eed_0f4f_b0a7);
        let (pack, dot, bytes) = kernels();
        for (cols, wide, outliers) in [(32usize, false, false), (96, true, true), (2880, false, true), (1024, true, false), (160, false, false), (544, true, true), (608, true, false)] {
            let rb = row_bytes(GgmlType::MXFP4, cols);
            let w = rows(&mut rng, 16, cols, wide);
            let a = acts(&mut rng, 8, cols, outliers);
            let avx2 = |r: usize, j: usize| unsafe { super::super::legacy::vec_dot_mxfp4_q8_0(cols, &w[r * rb..(r + 1) * rb], a.row(j)) };
            for r in 0..16 {
                for j in 0..8 {
                    let got = unsafe { vec_dot_mxfp4_q8_0(cols, &w[r * rb..(r + 1) * rb], a.row(j)) };
                    assert_eq!(got.to_bits(), avx2(r, j).to_bits(), "mat-vec cols {cols} row {r} token {j}: {got} vs {}", avx2(r, j));
                }
            }
            let mut p = vec![0u8; cols / 32 * bytes];
            pack(&w, rb, cols, &mut p);
            for nt in [8usize, 3, 1] {
                let out = dot(cols, &p, &a, 8 - nt, nt);
                for t in 0..nt {
                    for r in 0..16 {
                        let want = avx2(r, 8 - nt + t);
                        assert_eq!(out[t][r].to_bits(), want.to_bits(), "panel cols {cols} nt {nt} token {t} row {r}: {} vs {want}", out[t][r]);
                    }
                }
            }
        }
    }

    /// Mat-mat through whatever kernels this CPU selects for MXFP4 (panels from batch 10 for
    /// 16-row blocks, the mat-vec for the rest) equals its `vec_dot` bit for bit.
    #[test]
    fn matmul_equals_vec_dot_bit_for_bit() {
        let mut rng = Rng(0x0dd_ba11_cafe);
        let t = traits(GgmlType::MXFP4).unwrap();
        let (n_rows, cols) = (35usize, 2880usize);
        let rb = row_bytes(GgmlType::MXFP4, cols);
        let w = rows(&mut rng, n_rows, cols, false);
        for batch in [1usize, 7, 12, 40] {
            let x: Vec<f32> = (0..batch * cols).map(|_| rng.f32()).collect();
            let mut a = QuantizedActs::new();
            a.quantize_for(GgmlType::MXFP4, &x, cols);
            let mut out = vec![f32::NAN; batch * n_rows];
            matmul_q(&w, GgmlType::MXFP4, n_rows, cols, &a, 0..n_rows, &mut out);
            for j in 0..batch {
                for r in 0..n_rows {
                    let want = (t.vec_dot)(cols, &w[r * rb..(r + 1) * rb], a.row(j));
                    assert_eq!(out[j * n_rows + r].to_bits(), want.to_bits(), "batch {batch} token {j} row {r}");
                }
            }
        }
    }
}
