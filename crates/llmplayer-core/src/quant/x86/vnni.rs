//! AVX-512 VNNI version of the Q4_K `vec_dot_x4` kernel (for batches too small for the
//! panels of `panel_k.rs`), and [`available`], which gates every AVX-512 VNNI kernel
//! (AVX-512 F/BW/VL + VNNI on top of AVX2/FMA/F16C).
//!
//! `vpdpbusd` (u8 x i8, groups of 4 summed into i32) replaces `vpmaddubsw` + `vpmaddwd`, and
//! `vpdpwssd` applies the per-sub-block scale and accumulates in one step: a `vpdpbusd` lane
//! (4 products) fits in i16 (4 * 15 * 128 < 32768), so
//! `dpwssd(acc, lane, scale)` with the scale in the low i16 and 0 in the high i16 of each i32
//! lane adds exactly `lane * scale`.

use super::{fp16, hsum_ps};
use crate::quant::blocks;
use crate::quant::blocks_k::{BlockQ4K, BlockQ8K};
use crate::quant::QK_K;
use std::arch::x86_64::*;
use std::ptr::addr_of;
use std::sync::OnceLock;

/// Whether this CPU has AVX-512 F/BW/VL and AVX-512 VNNI (besides AVX2/FMA/F16C), and
/// `LLMPLAYER_X86=avx2` does not ask for the AVX2 kernels only (how the tests and benchmarks
/// exercise the AVX2 paths on an AVX-512 machine).
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        super::available()
            && std::env::var_os("LLMPLAYER_X86").is_none_or(|v| v != "avx2")
            && is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("avx512vnni")
    })
}

#[inline(always)]
unsafe fn q8k_rows(y: [&[u8]; 4], nb: usize) -> [&[BlockQ8K]; 4] {
    [blocks::<BlockQ8K>(y[0], nb), blocks::<BlockQ8K>(y[1], nb), blocks::<BlockQ8K>(y[2], nb), blocks::<BlockQ8K>(y[3], nb)]
}

/// Q4_K: 64 weights (sub-blocks 2j and 2j+1: low and high nibbles of 32 bytes) per 512-bit
/// register against 64 contiguous activation bytes. The two 256-bit halves are added as
/// integers before the f32 steps, which are then ggml's (`vec_dot_q4_k_q8_k`), bit for bit.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")]
pub unsafe fn vec_dot_q4_k_q8_k_x4(n: usize, x: &[u8], y: [&[u8]; 4]) -> [f32; 4] {
    let nb = n / QK_K;
    let xs = blocks::<BlockQ4K>(x, nb);
    let ys = q8k_rows(y, nb);
    let m4 = _mm512_set1_epi8(0x0f);
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut acc_m = [_mm_setzero_ps(); 4];
    for (i, a) in xs.iter().enumerate() {
        let (d, dmin) = (fp16(a.d), fp16(a.dmin));
        let s = &a.scales;
        let u = |i: usize| u32::from_le_bytes([s[4 * i], s[4 * i + 1], s[4 * i + 2], s[4 * i + 3]]);
        let (u0, u1, u2) = (u(0), u(1), u(2));
        let (k1, k2, k3) = (0x3f3f_3f3fu32, 0x0f0f_0f0fu32, 0x0303_0303u32);
        let sc_lo = u0 & k1;
        let sc_hi = (u2 & k2) | (((u0 >> 6) & k3) << 4);
        let mn_lo = u1 & k1;
        let mn_hi = ((u2 >> 4) & k2) | (((u1 >> 6) & k3) << 4);
        let mins = _mm_cvtepu8_epi16(_mm_set_epi32(0, 0, mn_hi as i32, mn_lo as i32));
        // Scale j in i32 lane j (low i16 = scale, high i16 = 0).
        let sc32 = _mm512_cvtepu8_epi32(_mm_set_epi32(0, 0, sc_hi as i32, sc_lo as i32));
        let mut sumi = [_mm512_setzero_si512(); 4];
        for j in 0..4 {
            let bits = _mm256_loadu_si256(a.qs.as_ptr().add(32 * j).cast());
            let b2 = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(bits), _mm256_srli_epi16(bits, 4));
            let q = _mm512_and_si512(b2, m4);
            let (s0, s1) = (2 * j as i32, 2 * j as i32 + 1);
            let sc = _mm512_permutexvar_epi32(_mm512_set_epi32(s1, s1, s1, s1, s1, s1, s1, s1, s0, s0, s0, s0, s0, s0, s0, s0), sc32);
            for t in 0..4 {
                let y8 = _mm512_loadu_si512(ys[t][i].qs.as_ptr().add(64 * j).cast());
                let p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, y8);
                sumi[t] = _mm512_dpwssd_epi32(sumi[t], p, sc);
            }
        }
        for t in 0..4 {
            let b = &ys[t][i];
            let bs = _mm256_loadu_si256(addr_of!(b.bsums).cast());
            let q8s = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
            let prod = _mm_cvtepi32_ps(_mm_madd_epi16(mins, q8s));
            acc_m[t] = _mm_fmadd_ps(_mm_set1_ps(-b.d * dmin), prod, acc_m[t]);
            // ggml's 8 lanes: each gathers its column of both sub-blocks (exact in i32)
            // before the one conversion and fma.
            let s = _mm256_add_epi32(_mm512_castsi512_si256(sumi[t]), _mm512_extracti64x4_epi64::<1>(sumi[t]));
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(b.d * d), _mm256_cvtepi32_ps(s), acc[t]);
        }
    }
    let mut out = [0.0f32; 4];
    for t in 0..4 {
        let m = _mm_add_ps(acc_m[t], _mm_movehl_ps(acc_m[t], acc_m[t]));
        out[t] = hsum_ps(acc[t]) + _mm_cvtss_f32(_mm_add_ss(m, _mm_movehdup_ps(m)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::traits;
    use crate::GgmlType;

    /// Tiny xorshift generator for random blocks.
    fn rng_bytes(seed: u64, len: usize) -> Vec<u8> {
        let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 24) as u8
            })
            .collect()
    }

    /// Random activation row of `ty` (Q8_0 or Q8_K) through the scalar quantizer.
    fn acts(ty: GgmlType, n: usize, seed: u64) -> Vec<u8> {
        let raw = rng_bytes(seed, n);
        let x: Vec<f32> = raw.iter().map(|&b| (b as f32 - 127.5) / 37.0).collect();
        let t = traits(ty).unwrap();
        let mut out = vec![0u8; n / t.block_size * t.type_size];
        (t.quantize_row_scalar.expect("activation quantizer"))(&x, &mut out);
        out
    }

    /// Random weight bytes with finite, small f16 scales patched in.
    fn weights(ty: GgmlType, n: usize, seed: u64) -> Vec<u8> {
        let t = traits(ty).unwrap();
        let nb = n / t.block_size;
        let mut w = rng_bytes(seed, nb * t.type_size);
        let (d_at, mut extra): (usize, Vec<usize>) = match ty {
            GgmlType::Q4_K => (0, vec![2]),
            _ => unreachable!(),
        };
        extra.push(d_at);
        for b in 0..nb {
            for &off in &extra {
                let h = 0x2000u16 | (w[b * t.type_size + off] as u16 & 0x3ff); // ~0.0078..0.0156
                w[b * t.type_size + off..b * t.type_size + off + 2].copy_from_slice(&h.to_le_bytes());
            }
        }
        w
    }

    #[test]
    fn vnni_x4_matches_scalar_vec_dot() {
        if !available() {
            eprintln!("no AVX-512 VNNI on this CPU: skipped");
            return;
        }
        type K = unsafe fn(usize, &[u8], [&[u8]; 4]) -> [f32; 4];
        let cases: [(GgmlType, K); 1] = [
            (GgmlType::Q4_K, vec_dot_q4_k_q8_k_x4),
        ];
        for (ty, f) in cases {
            let t = traits(ty).unwrap();
            for seed in [1u64, 2, 3, 42, 1234] {
                for n in [256usize, 1024, 4096] {
                    let w = weights(ty, n, seed);
                    let a: Vec<Vec<u8>> = (0..4).map(|k| acts(t.vec_dot_type, n, seed * 10 + k)).collect();
                    let got = unsafe { f(n, &w, [&a[0], &a[1], &a[2], &a[3]]) };
                    let mut wd = vec![0f32; n];
                    (t.dequantize_row)(&w, &mut wd);
                    for k in 0..4 {
                        let want = (t.vec_dot_scalar)(n, &w, &a[k]);
                        let mut ad = vec![0f32; n];
                        (traits(t.vec_dot_type).unwrap().dequantize_row)(&a[k], &mut ad);
                        let abs_dot: f32 = wd.iter().zip(&ad).map(|(p, q)| (p * q).abs()).sum();
                        assert!(abs_dot > 0.0 && want.is_finite());
                        let tol = 1e-5 * abs_dot + 1e-30;
                        assert!((got[k] - want).abs() <= tol, "{ty} seed {seed} n {n} act {k}: {} vs scalar {want}", got[k]);
                    }
                }
            }
        }
    }
}
