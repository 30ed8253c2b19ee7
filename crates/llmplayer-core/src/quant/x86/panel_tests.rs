//! Panel kernel tests.
//!
//! * On an AVX-512 VNNI machine, the AVX2 panels against the VNNI ones: the integer sums of
//!   both are exact and their float steps the same, so the dots must agree bit for bit; where
//!   the two layouts are the same (Q2_K, Q4_K-Q6_K, Q4_1/Q5_1), the packed bytes must too.
//! * The K-quant panels (both ISAs, whichever this CPU runs) against the type's `vec_dot`
//!   (ggml's AVX2 dot, which llama.cpp runs in prefill too), bit for bit, on random blocks,
//!   extreme blocks and activations with outliers; and mat-mat through the selected kernels
//!   against `vec_dot`, bit for bit, for every type whose panel rounds as its dot.

use super::{panel, panel_avx2, panel_k, panel_k_avx2, panel_q8_1};
use crate::quant::float::f32_to_f16;
use crate::quant::traits::{PackPanelFn, PanelDotFn};
use crate::quant::{matmul_q, row_bytes, traits, QuantizedActs};
use crate::GgmlType::{self, *};

type Kernels = Option<(PackPanelFn, PanelDotFn, usize)>;

/// xorshift64 bytes (the other kernel tests' source too).
pub(super) struct Rng(pub(super) u64);
impl Rng {
    pub(super) fn next(&mut self) -> u8 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 24) as u8
    }
    /// Uniform in [-1, 1).
    pub(super) fn f32(&mut self) -> f32 {
        (u32::from_le_bytes([self.next(), self.next(), self.next(), 0]) as f32 / (1u32 << 23) as f32) - 1.0
    }
}

/// (weight type, block bytes, byte offsets of its f16 scales, activation type, AVX2 kernels,
/// VNNI kernels, whether the packed bytes are the same).
#[allow(clippy::type_complexity)]
fn cases() -> Vec<(GgmlType, usize, &'static [usize], GgmlType, Kernels, Kernels, bool)> {
    let k = |ty: GgmlType, bb: usize, f16: &'static [usize]| (ty, bb, f16, Q8_K, panel_k_avx2::kernels(ty), panel_k::kernels(ty), true);
    // Q3_K and IQ4_XS: signed quants in the AVX2 panel, so only the dots must agree.
    let ks = |ty: GgmlType, bb: usize, f16: &'static [usize]| (ty, bb, f16, Q8_K, panel_k_avx2::kernels(ty), panel_k::kernels(ty), false);
    let l = |ty: GgmlType, bb: usize| (ty, bb, &[0usize][..], Q8_0, panel_avx2::kernels(ty), panel::kernels(ty), false);
    let m = |ty: GgmlType, bb: usize| (ty, bb, &[0usize, 2][..], Q8_1, panel_q8_1::kernels(ty, false), panel_q8_1::kernels(ty, true), true);
    vec![
        k(Q2_K, 84, &[80, 82]),
        ks(Q3_K, 110, &[108]),
        k(Q4_K, 144, &[0, 2]),
        k(Q5_K, 176, &[0, 2]),
        k(Q6_K, 210, &[208]),
        ks(IQ4_XS, 136, &[0]),
        l(Q8_0, 34),
        l(Q4_0, 18),
        l(IQ4_NL, 18),
        l(Q5_0, 22),
        m(Q4_1, 20),
        m(Q5_1, 24),
    ]
}

/// `rows` random rows of `cols` elements of a type with `bb`-byte blocks whose f16 scales sit
/// at `f16_at`: random bytes, scales finite (~0.0078..0.0156, or random sign and exponent
/// with `wide`).
fn random_rows(rng: &mut Rng, rows: usize, cols: usize, block: usize, bb: usize, f16_at: &[usize], wide: bool) -> Vec<u8> {
    let mut w: Vec<u8> = (0..rows * cols / block * bb).map(|_| rng.next()).collect();
    for b in w.chunks_exact_mut(bb) {
        for &o in f16_at {
            let h = if wide {
                f32_to_f16(rng.f32() * 2f32.powi((rng.next() % 12) as i32 - 8))
            } else {
                0x2000u16 | (b[o] as u16 & 0x3ff)
            };
            b[o..o + 2].copy_from_slice(&h.to_le_bytes());
        }
    }
    w
}

/// Activations for `batch` tokens: uniform (`kind` 0), hidden-state-like with outliers 50-100x
/// the rest (1), or every value at ±the block maximum (2: activation bytes ±127).
fn activations(rng: &mut Rng, batch: usize, cols: usize, kind: usize) -> Vec<f32> {
    (0..batch * cols)
        .map(|_| match kind {
            0 => rng.f32() * 3.0,
            1 if rng.next() < 3 => (50.0 + 50.0 * rng.f32().abs()) * if rng.next() & 1 == 0 { -1.0 } else { 1.0 },
            1 => rng.f32(),
            _ => if rng.next() & 1 == 0 { -2.5 } else { 2.5 },
        })
        .collect()
}

#[test]
fn avx2_panels_equal_vnni_panels() {
    if !(super::available() && super::vnni::available()) {
        eprintln!("no AVX-512 VNNI on this CPU: skipped");
        return;
    }
    let (cols, batch) = (1024usize, 8usize);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let x: Vec<f32> = (0..batch * cols).map(|_| (rng.next() as f32 - 127.5) / 37.0).collect();
    for (ty, bb, f16_at, act_ty, avx2, vnni, same_bytes) in cases() {
        let mut acts = QuantizedActs::new();
        acts.quantize(act_ty, &x, cols);
        acts.prepare_block_sums();
        let block = traits(ty).unwrap().block_size;
        let row_bytes = cols / block * bb;
        let w = random_rows(&mut rng, 16, cols, block, bb, f16_at, false);
        let ((pack2, dot2, bytes), (pack5, dot5, bytes5)) = (avx2.unwrap(), vnni.unwrap());
        assert_eq!(bytes, bytes5, "{ty}: panel sizes");
        let (mut p2, mut p5) = (vec![0u8; cols / block * bytes], vec![0u8; cols / block * bytes]);
        pack2(&w, row_bytes, cols, &mut p2);
        pack5(&w, row_bytes, cols, &mut p5);
        if same_bytes {
            assert!(p2 == p5, "{ty}: AVX2 panel bytes differ from the AVX-512 ones");
        } else {
            assert_eq!(p2[..64], p5[..64], "{ty}: scales");
        }
        for nt in 1..=batch {
            let (a, b) = (dot2(cols, &p2, &acts, 0, nt), dot5(cols, &p5, &acts, 0, nt));
            for t in 0..nt {
                assert_eq!(a[t].map(f32::to_bits), b[t].map(f32::to_bits), "{ty}: nt {nt} token {t}");
            }
        }
    }
}

/// (type, block bytes, f16 scale offsets) of the K-quants and IQ4_XS (Q8_K activations).
const K_TYPES: [(GgmlType, usize, &[usize]); 6] = [
    (Q2_K, 84, &[80, 82]),
    (Q3_K, 110, &[108]),
    (Q4_K, 144, &[0, 2]),
    (Q5_K, 176, &[0, 2]),
    (Q6_K, 210, &[208]),
    (IQ4_XS, 136, &[0]),
];

#[test]
#[allow(clippy::needless_range_loop)]
fn k_quant_panels_equal_vec_dot_bit_for_bit() {
    if !super::available() {
        eprintln!("no AVX2 on this CPU: skipped");
        return;
    }
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut checked = 0;
    for (ty, bb, f16_at) in K_TYPES {
        let t = traits(ty).unwrap();
        let isas: Vec<(&str, Kernels)> = [("AVX2", panel_k_avx2::kernels(ty))]
            .into_iter()
            .chain(super::vnni::available().then(|| ("VNNI", panel_k::kernels(ty))))
            .collect();
        for (isa, k) in isas {
            let Some((pack, dot, bytes)) = k else { continue };
            for (cols, act_kind, wide) in [(256usize, 0usize, false), (1024, 1, false), (4096, 1, true), (768, 2, false), (512, 0, true)] {
                let rb = row_bytes(ty, cols);
                let mut w = random_rows(&mut rng, 16, cols, 256, bb, f16_at, wide);
                // Rows of extreme quants: every quant byte 0xff, or 0 (scales stay random).
                for (r, fill) in [(3usize, 0xffu8), (11, 0x00)] {
                    for b in w[r * rb..(r + 1) * rb].chunks_exact_mut(bb) {
                        for (o, v) in b.iter_mut().enumerate() {
                            let scale_byte = f16_at.iter().any(|&a| o == a || o == a + 1) || (ty == Q6_K && (192..208).contains(&o));
                            if !scale_byte {
                                *v = fill;
                            }
                        }
                    }
                }
                let x = activations(&mut rng, 8, cols, act_kind);
                let mut acts = QuantizedActs::new();
                acts.quantize(Q8_K, &x, cols);
                acts.prepare_block_sums();
                let mut p = vec![0u8; cols / 256 * bytes];
                pack(&w, rb, cols, &mut p);
                for nt in [8usize, 5, 1] {
                    let got = dot(cols, &p, &acts, 8 - nt, nt);
                    for tk in 0..nt {
                        for r in 0..16 {
                            let want = (t.vec_dot)(cols, &w[r * rb..(r + 1) * rb], acts.row(8 - nt + tk));
                            assert_eq!(
                                got[tk][r].to_bits(),
                                want.to_bits(),
                                "{ty} {isa} cols {cols} acts {act_kind} nt {nt} token {tk} row {r}: panel {} vec_dot {want}",
                                got[tk][r]
                            );
                            checked += 1;
                        }
                    }
                }
            }
        }
    }
    assert!(checked > 0);
}

/// Mat-mat through the selected kernels (panels from batch 10 for 16-row blocks, x4 for the
/// other rows and smaller batches) equals `vec_dot` bit for bit for the K-quants: whatever
/// kernel serves them must round as ggml's dot.
#[test]
fn k_quant_matmul_equals_vec_dot_bit_for_bit() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for (ty, bb, f16_at) in K_TYPES {
        let t = traits(ty).unwrap();
        let (rows, cols) = (35usize, 768usize);
        let rb = row_bytes(ty, cols);
        let w = random_rows(&mut rng, rows, cols, 256, bb, f16_at, true);
        for (batch, kind) in [(19usize, 1usize), (12, 0), (7, 1), (64, 1)] {
            let x = activations(&mut rng, batch, cols, kind);
            let mut acts = QuantizedActs::new();
            acts.quantize_for(ty, &x, cols);
            let mut out = vec![f32::NAN; batch * rows];
            matmul_q(&w, ty, rows, cols, &acts, 0..rows, &mut out);
            for j in 0..batch {
                for r in 0..rows {
                    let want = (t.vec_dot)(cols, &w[r * rb..(r + 1) * rb], acts.row(j));
                    let got = out[j * rows + r];
                    assert_eq!(
                        got.to_bits(),
                        want.to_bits(),
                        "{ty} ({}) batch {batch} token {j} row {r}: mat-mat {got} vec_dot {want}",
                        t.mat_mat_kernel()
                    );
                }
            }
        }
    }
}
