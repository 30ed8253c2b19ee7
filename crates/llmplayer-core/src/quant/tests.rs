//! The selected (SIMD) kernels against the scalar oracle on random data, through
//! [`check_fast_vs_scalar`](super::check::check_fast_vs_scalar): the same code the WASM check
//! module runs under Node (`test/quant-wasm.test.ts`).

use super::check::check_fast_vs_scalar;
use super::traits;
use crate::ggml_type::TYPE_TABLE;
use crate::GgmlType;

#[test]
fn selected_kernels_match_scalar_on_random_data() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for info in TYPE_TABLE {
        if traits(info.ty).is_none() {
            continue;
        }
        for seed in [42, 11, 7, 3] {
            match check_fast_vs_scalar(info.ty, seed) {
                Ok(r) => {
                    assert!(r.dots_checked > 0, "{}: nothing checked", info.ty);
                    assert_eq!(r.quantized_rows_checked > 0, traits(info.ty).unwrap().quantize_row.is_some());
                    checked += 1;
                }
                Err(e) => failures.push(e),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked > 0);
}

#[test]
fn types_without_kernels_are_refused() {
    for ty in [GgmlType::I8, GgmlType::I16, GgmlType::I32, GgmlType::I64, GgmlType::F64] {
        assert!(check_fast_vs_scalar(ty, 1).is_err(), "{ty}");
    }
}

#[test]
fn dot_rows_f32_matches_f64_dots() {
    let mut s = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    };
    // Head sizes with and without 8-element tails, row counts with and without 4-row tails.
    for (n, stride, rows) in [(64usize, 512usize, 37usize), (128, 128, 8), (80, 96, 5), (7, 9, 3), (64, 64, 1), (64, 64, 0)] {
        let x: Vec<f32> = (0..n).map(|_| rnd()).collect();
        let data: Vec<f32> = (0..(rows.max(1) - 1) * stride + n).map(|_| rnd()).collect();
        let mut out = vec![f32::NAN; rows];
        super::dot_rows_f32(&x, &data, stride, &mut out);
        for (j, &o) in out.iter().enumerate() {
            let r = &data[j * stride..][..n];
            let want: f64 = x.iter().zip(r).map(|(a, b)| *a as f64 * *b as f64).sum();
            let scale: f64 = x.iter().zip(r).map(|(a, b)| (*a as f64 * *b as f64).abs()).sum();
            assert!(((o as f64) - want).abs() <= 1e-6 * scale + 1e-12, "n {n} row {j}: {o} vs {want}");
        }
    }
}
