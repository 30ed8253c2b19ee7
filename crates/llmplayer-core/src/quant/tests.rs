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
