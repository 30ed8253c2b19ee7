//! On an AVX-512 VNNI machine, the AVX2 panels against the VNNI ones: the integer sums of both
//! are exact and their float steps the same, so the dots must agree bit for bit; where the
//! two layouts are the same (K-quants, Q4_1/Q5_1), the packed bytes must too.
//! (IQ4_XS is left out: its AVX2 panel is signed by design, so its floats round differently;
//! the fixture and random checks cover it.)

use super::{panel, panel_avx2, panel_k, panel_k_avx2, panel_q8_1};
use crate::quant::traits::{PackPanelFn, PanelDotFn};
use crate::quant::QuantizedActs;
use crate::GgmlType::{self, *};

type Kernels = Option<(PackPanelFn, PanelDotFn, usize)>;

/// (weight type, block bytes, byte offsets of its f16 scales, activation type, AVX2 kernels,
/// VNNI kernels, whether the packed bytes are the same).
#[allow(clippy::type_complexity)]
fn cases() -> Vec<(GgmlType, usize, &'static [usize], GgmlType, Kernels, Kernels, bool)> {
    let k = |ty: GgmlType, bb: usize, f16: &'static [usize]| (ty, bb, f16, Q8_K, panel_k_avx2::kernels(ty), panel_k::kernels(ty), true);
    let l = |ty: GgmlType, bb: usize| (ty, bb, &[0usize][..], Q8_0, panel_avx2::kernels(ty), panel::kernels(ty), false);
    let m = |ty: GgmlType, bb: usize| (ty, bb, &[0usize, 2][..], Q8_1, panel_q8_1::kernels(ty, false), panel_q8_1::kernels(ty, true), true);
    vec![
        k(Q2_K, 84, &[80, 82]),
        k(Q3_K, 110, &[108]),
        k(Q4_K, 144, &[0, 2]),
        k(Q5_K, 176, &[0, 2]),
        k(Q6_K, 210, &[208]),
        l(Q8_0, 34),
        l(Q4_0, 18),
        l(IQ4_NL, 18),
        l(Q5_0, 22),
        m(Q4_1, 20),
        m(Q5_1, 24),
    ]
}

#[test]
fn avx2_panels_equal_vnni_panels() {
    if !(super::available() && super::vnni::available()) {
        eprintln!("no AVX-512 VNNI on this CPU: skipped");
        return;
    }
    let (cols, batch) = (1024usize, 8usize);
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 24) as u8
    };
    let x: Vec<f32> = (0..batch * cols).map(|_| (next() as f32 - 127.5) / 37.0).collect();
    for (ty, bb, f16_at, act_ty, avx2, vnni, same_bytes) in cases() {
        let mut acts = QuantizedActs::new();
        acts.quantize(act_ty, &x, cols);
        acts.prepare_block_sums();
        let block = crate::quant::traits(ty).unwrap().block_size;
        let row_bytes = cols / block * bb;
        let mut w: Vec<u8> = (0..16 * row_bytes).map(|_| next()).collect();
        for b in w.chunks_exact_mut(bb) {
            for &o in f16_at {
                let h = 0x2000u16 | (b[o] as u16 & 0x3ff); // finite, ~0.0078..0.0156
                b[o..o + 2].copy_from_slice(&h.to_le_bytes());
            }
        }
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
