//! Quantization kernels for every ggml tensor type.
//!
//! The design follows ggml's split between block layouts and a per-type traits table:
//!
//! * `blocks_*.rs`: one `#[repr(C, packed)]` struct per block layout (alignment 1, so any
//!   `&[u8]`, e.g. an unaligned mmap slice, can be viewed as blocks), plus the scalar kernels
//!   (`dequantize_row_*`, `vec_dot_*`, `quantize_row_*`). The scalar kernels are the oracle.
//! * [`traits`]: the one table, indexed by [`GgmlType`], holding `dequantize_row`,
//!   `vec_dot_type`, `vec_dot` (the selected implementation), `vec_dot_scalar`, the optional
//!   mat-mat micro-kernels (`vec_dot_x4`: 1 row × 4 tokens; `vec_dot_4x4`: 4 × 4; the panel
//!   pair `pack_panel` / `panel_dot`: 16 rows decoded once per row block × 8 tokens) and, for
//!   activation types, `quantize_row`.
//! * `x86/`: AVX2+FMA kernels, chosen at run time (AVX2 panels in `panel_avx2.rs` and
//!   `panel_k_avx2.rs`), with AVX-512 VNNI mat-mat kernels where the CPU has them (`vnni.rs`,
//!   `tile4x4.rs`, `panel.rs`, `panel_k.rs`; both for Q4_1/Q5_1 in `panel_q8_1.rs`);
//!   `wasm/`: simd128 kernels, chosen at
//!   compile time. Both have the same names as the scalar kernels they replace.
//! * [`matmul`](crate::quant::matmul()): mat-vec and mat-mat on top of the table, with row ranges
//!   for thread pools.
//! * [`check`]: the kernels' self-checks (golden fixtures, fast vs scalar on random data),
//!   shared by the native tests and the WASM check module.
//!
//! Conventions: a row of `n` elements of type `ty` takes `n / block_size * type_size` bytes;
//! `vec_dot(n, w, a)` takes a weight row `w` and an activation row `a` already converted
//! to the weight type's `vec_dot_type`. Slices may be longer than needed; too-short slices
//! panic.

// `usize::is_multiple_of` needs Rust 1.87; the workspace declares 1.85.
#![allow(clippy::manual_is_multiple_of)]

mod blocks_iq1;
mod blocks_iq2;
mod blocks_k;
mod blocks_legacy;
mod blocks_nl4;
mod blocks_ternary;
pub mod check;
pub mod float;
pub mod grids;
mod grids_iq1_iq3;
mod grids_iq2;
mod acts;
mod matmul;
mod traits;

#[cfg(target_arch = "x86_64")]
mod x86;

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm;
/// ggml's AVX2 accumulator emulated exactly on simd128 (attention's f32 dots use it too).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub(crate) use wasm::exact::Acc8;

#[cfg(test)]
mod tests;

pub use blocks_iq1::{BlockIq1M, BlockIq1S};
pub use blocks_iq2::{BlockIq2S, BlockIq2Xs, BlockIq2Xxs, BlockIq3S, BlockIq3Xxs};
pub use blocks_k::{BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K};
pub use blocks_legacy::{BlockQ1_0, BlockQ2_0, BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, BlockQ8_1};
pub use blocks_nl4::{BlockIq4Nl, BlockIq4Xs, BlockMxfp4, BlockNvfp4};
pub use blocks_ternary::{BlockTq1_0, BlockTq2_0};
pub use acts::QuantizedActs;
pub use matmul::{matmul, matmul_par, matmul_q, matvec, matvec_par, matvec_q, matvecs_par, Matvec, OutPtr};
pub use traits::{
    isa, quantize_row, traits, Isa, DequantizeRowFn, QuantTraits, QuantizeRowFn, VecDot4x4Fn, VecDotFn, VecDotX4Fn,
};

use crate::GgmlType;

/// Elements per K-quant super-block.
pub const QK_K: usize = 256;

/// A block layout: plain old data with alignment 1 for which every bit pattern is valid.
///
/// # Safety
/// Implementors must be `#[repr(C, packed)]` structs of integer fields and arrays only.
pub unsafe trait Block: Copy + 'static {}

/// Views bytes as blocks. Panics unless `bytes.len()` is a multiple of the block size.
pub fn as_blocks<B: Block>(bytes: &[u8]) -> &[B] {
    const { assert!(align_of::<B>() == 1) };
    assert!(bytes.len() % size_of::<B>() == 0, "byte length is not a whole number of blocks");
    // SAFETY: B is POD with alignment 1 and the length is a whole number of blocks.
    unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast(), bytes.len() / size_of::<B>()) }
}

/// Mutable counterpart of [`as_blocks`].
pub fn as_blocks_mut<B: Block>(bytes: &mut [u8]) -> &mut [B] {
    const { assert!(align_of::<B>() == 1) };
    assert!(bytes.len() % size_of::<B>() == 0, "byte length is not a whole number of blocks");
    // SAFETY: as in `as_blocks`; the borrow is exclusive.
    unsafe { std::slice::from_raw_parts_mut(bytes.as_mut_ptr().cast(), bytes.len() / size_of::<B>()) }
}

/// The first `nb` blocks of `bytes`.
#[inline]
pub(crate) fn blocks<B: Block>(bytes: &[u8], nb: usize) -> &[B] {
    let len = nb * size_of::<B>();
    assert!(bytes.len() >= len, "need {len} bytes for {nb} blocks, got {}", bytes.len());
    as_blocks(&bytes[..len])
}

#[inline]
pub(crate) fn blocks_mut<B: Block>(bytes: &mut [u8], nb: usize) -> &mut [B] {
    let len = nb * size_of::<B>();
    assert!(bytes.len() >= len, "need {len} bytes for {nb} blocks, got {}", bytes.len());
    as_blocks_mut(&mut bytes[..len])
}

/// `out[j] = x · rows[j * stride..][..x.len()]`: many dot products of one vector (attention
/// scores of one query against every cached key) without a call and a horizontal sum each,
/// where SIMD allows; otherwise one f32 `vec_dot` per row.
pub fn dot_rows_f32(x: &[f32], rows: &[f32], stride: usize, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if x86::dot_rows_f32(x, rows, stride, out) {
        return;
    }
    let dot = traits(GgmlType::F32).expect("f32 kernels").vec_dot;
    let n = x.len();
    // SAFETY: u8 has alignment 1 and every byte of an f32 slice is initialized.
    let as_bytes = |v: &[f32]| unsafe { std::slice::from_raw_parts(v.as_ptr().cast::<u8>(), 4 * v.len()) };
    for (j, o) in out.iter_mut().enumerate() {
        *o = dot(n, as_bytes(&rows[j * stride..][..n]), as_bytes(x));
    }
}

/// Whether a batched [`matmul`] of `ty` rounds every output as that row's `vec_dot` (what
/// llama.cpp's `mul_mat_id` runs): every type but IQ4_NL, whose batched kernels round as
/// tinyBLAS (one accumulator) where its `vec_dot` keeps two, and the float types, whose
/// batches round as tinyBLAS's float GEMM (F32 experts: an ulp off `ggml_vec_dot_f32` in the
/// qwen3moe fixture's expert outputs, which flash attention's f16 cache then turned into 3e-3
/// on the logits).
pub fn batch_rounds_as_vec_dot(ty: GgmlType) -> bool {
    !matches!(ty, GgmlType::IQ4_NL | GgmlType::F32 | GgmlType::F16 | GgmlType::BF16)
}

/// Bytes taken by a row of `n` elements of `ty`. Panics if `n` is not a whole number of blocks.
pub fn row_bytes(ty: GgmlType, n: usize) -> usize {
    let bs = ty.block_size() as usize;
    assert!(n % bs == 0, "{n} elements is not a whole number of {ty} blocks ({bs})");
    n / bs * ty.type_size() as usize
}
