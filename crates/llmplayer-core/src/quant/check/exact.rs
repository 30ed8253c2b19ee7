//! [`ggml_dot`]: ggml's x86 rounding of the quantized dot products, in portable scalar Rust.
//!
//! llama.cpp's logits are only reproduced when every dot product rounds its f32 steps exactly
//! as ggml's AVX2 code does: one ulp of difference flips an 8-bit activation downstream. The
//! integer parts are exact in any order, so what this module pins down is (1) which i32 sum
//! lands in which of the eight lanes of a 256-bit register, and (2) the order of the float
//! steps: one fused multiply-add per lane and block (or super-block), then `hsum_float_8`.
//!
//! Lanes: every AVX2 kernel here loads activation bytes 32 at a time from offsets that are
//! multiples of 32 and reduces the products with `maddubs` + `madd` (or the sign trick), so
//! i32 lane `k` holds the products of bytes `4k..4k+4` of each load, i.e. of the elements `e`
//! with `(e % 32) / 4 == k` ([`lane`]), each times its sub-block scale where the type has one.
//! Constant offsets taken through `bsums` (Q2_K, Q6_K) use `madd` lanes over i16 pairs.
//!
//! Which kernel llama.cpp runs: `ggml_vec_dot_*` for one token (decode); for a batch, tinyBLAS
//! (`llamafile/sgemm.cpp`, `tinyBLAS_Q0_AVX`) for Q8_0 / Q4_0 / Q5_0 / IQ4_NL and the same
//! `ggml_vec_dot_*` for every other type. tinyBLAS rounds per (row, token) exactly as the
//! one-accumulator vec_dot does (8 lanes, `fma(d_w * d_y, lanes, acc)`, `hsum`), so only
//! IQ4_NL differs between the two: its vec_dot keeps two accumulators (even / odd blocks).
//!
//! Scalar steps follow the reference build: `sum += a * b` in ggml's C is contracted to an FMA
//! in the SIMD files (TQ1_0 / TQ2_0, IQ1_S and the IQ4_NL / MXFP4 tails match the fixtures only
//! so) but not in the generic one (Q2_0, which x86 has no SIMD code for).
//!
//! Every FMA is `f32::mul_add` (exact on every target); `i32 as f32` rounds like
//! `cvtepi32_ps`. Every quantized type with a fixture is covered (`check_fixture` compares this
//! with ggml's `y_ggml` / `yb_ggml` bit for bit); `exact_k.rs` holds the Q8_K-activation ones.
//! The simd128 kernels (`quant/wasm`) are checked against this bit for bit, and so are the x86
//! ones that [`held_bitwise`] lists.

use super::exact_k::*;
use crate::quant::blocks;
use crate::quant::blocks_iq2::{self as iq2, BlockIq2S, BlockIq2Xs, BlockIq2Xxs, BlockIq3S, BlockIq3Xxs};
use crate::quant::blocks_legacy::{BlockQ1_0, BlockQ2_0, BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, BlockQ8_1};
use crate::quant::blocks_nl4::{e8m0_to_f32_half, ue4m3_to_f32_half, BlockIq4Nl, BlockMxfp4, BlockNvfp4};
use crate::quant::blocks_ternary::{self as ternary, BlockTq1_0, BlockTq2_0};
use crate::quant::float::f16_to_f32;
use crate::quant::grids::{KVALUES_FP4, KVALUES_IQ4NL};
use crate::quant::{Isa, QuantTraits};
use crate::GgmlType;

/// The 256-bit register lane that element `e` of a block or super-block lands in.
pub(super) fn lane(e: usize) -> usize {
    (e % 32) / 4
}

/// `_mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(q), acc)`.
pub(super) fn fma8(acc: &mut [f32; 8], d: f32, q: &[i32; 8]) {
    for k in 0..8 {
        acc[k] = d.mul_add(q[k] as f32, acc[k]);
    }
}

/// ggml's `hsum_float_8`: the two 128-bit halves added, then `movehl` and `movehdup`.
pub(super) fn hsum8(v: &[f32; 8]) -> f32 {
    let t: [f32; 4] = std::array::from_fn(|k| v[k] + v[k + 4]);
    hsum4(&t)
}

/// A 128-bit sum as ggml writes it: `add(x, movehl(x))`, then `add_ss(., movehdup(.))`.
pub(super) fn hsum4(t: &[f32; 4]) -> f32 {
    (t[0] + t[2]) + (t[1] + t[3])
}

/// Lane sums of a 32-element block: `sum w[e] * y[e]` into [`lane`]`(e)`.
fn lanes32(w: &[i32; 32], y: &[i8; 32]) -> [i32; 8] {
    let mut q = [0i32; 8];
    for e in 0..32 {
        q[lane(e)] += w[e] * y[e] as i32;
    }
    q
}

/// Element `e < 32` of a block of 16 nibble bytes: low nibbles first, then high ones.
pub(super) fn nibble(qs: &[u8; 16], e: usize) -> i32 {
    (if e < 16 { qs[e] & 15 } else { qs[e - 16] >> 4 }) as i32
}

fn bit(bits: [u8; 4], e: usize) -> i32 {
    ((u32::from_le_bytes(bits) >> e) & 1) as i32
}

/// The 32 signed weights and the f16 scale of a Q8_0-activation type's block `i` (MXFP4: the
/// E8M0 exponent byte).
fn q8_0_family(ty: GgmlType, w: &[u8], nb: usize, i: usize) -> (u16, [i32; 32]) {
    match ty {
        GgmlType::Q8_0 => {
            let b = &blocks::<BlockQ8_0>(w, nb)[i];
            (b.d, std::array::from_fn(|e| b.qs[e] as i32))
        }
        GgmlType::Q4_0 => {
            let b = &blocks::<BlockQ4_0>(w, nb)[i];
            (b.d, std::array::from_fn(|e| nibble(&b.qs, e) - 8))
        }
        GgmlType::Q5_0 => {
            let b = &blocks::<BlockQ5_0>(w, nb)[i];
            (b.d, std::array::from_fn(|e| (nibble(&b.qs, e) | bit(b.qh, e) << 4) - 16))
        }
        GgmlType::IQ4_NL => {
            let b = &blocks::<BlockIq4Nl>(w, nb)[i];
            (b.d, std::array::from_fn(|e| KVALUES_IQ4NL[nibble(&b.qs, e) as usize] as i32))
        }
        GgmlType::MXFP4 => {
            let b = &blocks::<BlockMxfp4>(w, nb)[i];
            (b.e as u16, std::array::from_fn(|e| KVALUES_FP4[nibble(&b.qs, e) as usize] as i32))
        }
        _ => unreachable!(),
    }
}

/// `d_w * d_y` of a Q8_0-activation type's block, as ggml forms it.
fn q8_0_scale(ty: GgmlType, dw: u16, dy: u16) -> f32 {
    match ty {
        GgmlType::MXFP4 => f16_to_f32(dy) * e8m0_to_f32_half(dw as u8),
        GgmlType::IQ4_NL => f16_to_f32(dy) * f16_to_f32(dw),
        _ => f16_to_f32(dw) * f16_to_f32(dy),
    }
}

/// Q8_0 / Q4_0 / Q5_0 / IQ4_NL / MXFP4 against Q8_0: `ggml_vec_dot_*_q8_0` (AVX2), which
/// tinyBLAS matches; `two_acc`: IQ4_NL's and MXFP4's vec_dot (blocks alternate between two
/// accumulators, summed before `hsum_float_8`; an odd last block is added in scalar code).
fn dot_q8_0(ty: GgmlType, n: usize, w: &[u8], a: &[u8], two_acc: bool) -> f32 {
    let nb = n / 32;
    let ys = blocks::<BlockQ8_0>(a, nb);
    let mut acc = [[0f32; 8]; 2];
    let paired = if two_acc { nb & !1 } else { nb };
    for (i, y) in ys.iter().enumerate().take(paired) {
        let (dw, wq) = q8_0_family(ty, w, nb, i);
        fma8(&mut acc[if two_acc { i & 1 } else { 0 }], q8_0_scale(ty, dw, y.d), &lanes32(&wq, &y.qs));
    }
    let sum: [f32; 8] = std::array::from_fn(|k| if two_acc { acc[0][k] + acc[1][k] } else { acc[0][k] });
    let mut s = hsum8(&sum);
    for i in paired..nb {
        // `sumf += d * (sumi1 + sumi2)`, contracted to an FMA by the compiler.
        let (dw, wq) = q8_0_family(ty, w, nb, i);
        let y = &ys[i];
        let sumi: i32 = (0..32).map(|e| wq[e] * y.qs[e] as i32).sum();
        s = q8_0_scale(ty, dw, y.d).mul_add(sumi as f32, s);
    }
    s
}

/// Q4_1 / Q5_1 against Q8_1: `ggml_vec_dot_q4_1_q8_1` / `q5_1` (AVX2): `d_w * d_y * q·y` in
/// one accumulator, `m * s` summed apart in block order (the f16 product is exact in f32, so
/// fused or not makes no difference), added after the horizontal sum.
fn dot_q8_1(ty: GgmlType, n: usize, w: &[u8], a: &[u8]) -> f32 {
    let nb = n / 32;
    let mut acc = [0f32; 8];
    let mut summs = 0f32;
    for (i, y) in blocks::<BlockQ8_1>(a, nb).iter().enumerate() {
        let (d, m, wq): (u16, u16, [i32; 32]) = if ty == GgmlType::Q4_1 {
            let b = &blocks::<BlockQ4_1>(w, nb)[i];
            (b.d, b.m, std::array::from_fn(|e| nibble(&b.qs, e)))
        } else {
            let b = &blocks::<BlockQ5_1>(w, nb)[i];
            (b.d, b.m, std::array::from_fn(|e| nibble(&b.qs, e) | bit(b.qh, e) << 4))
        };
        summs = f16_to_f32(m).mul_add(f16_to_f32(y.s), summs);
        fma8(&mut acc, f16_to_f32(d) * f16_to_f32(y.d), &lanes32(&wq, &y.qs));
    }
    hsum8(&acc) + summs
}

/// NVFP4 against Q8_0: `ggml_vec_dot_nvfp4_q8_0` (AVX2): per 64-element block two FMAs, one
/// per Q8_0 block, each with the scale of its 16-element sub-block in lanes 0..4 / 4..8
/// (`ue4m3 / 2 * f16(d_y)`).
fn dot_nvfp4(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let nb = n / 64;
    let ys = blocks::<BlockQ8_0>(a, 2 * nb);
    let mut acc = [0f32; 8];
    for (i, b) in blocks::<BlockNvfp4>(w, nb).iter().enumerate() {
        for h in 0..2 {
            let y = &ys[2 * i + h];
            let wq: [i32; 32] = std::array::from_fn(|e| {
                let (sb, j) = (2 * h + e / 16, e % 16);
                KVALUES_FP4[((b.qs[8 * sb + j % 8] >> (4 * (j / 8))) & 0x0f) as usize] as i32
            });
            let q = lanes32(&wq, &y.qs);
            let dy = f16_to_f32(y.d);
            for k in 0..8 {
                let sc = ue4m3_to_f32_half(b.d[2 * h + k / 4]) * dy;
                acc[k] = sc.mul_add(q[k] as f32, acc[k]);
            }
        }
    }
    hsum8(&acc)
}

/// Q1_0 against Q8_0: `ggml_vec_dot_q1_0_q8_0` (AVX2): per 128-element block the four Q8_0
/// blocks' lanes (±y) are combined as `mul(d_y0, .)` then FMAs of `d_yk`, and that vector goes
/// into the accumulator with one FMA of `d_w`.
fn dot_q1_0(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let nb = n / 128;
    let ys = blocks::<BlockQ8_0>(a, 4 * nb);
    let mut acc = [0f32; 8];
    for (i, b) in blocks::<BlockQ1_0>(w, nb).iter().enumerate() {
        let mut blk = [0f32; 8];
        for k in 0..4 {
            let y = &ys[4 * i + k];
            let wq: [i32; 32] = std::array::from_fn(|e| if (b.qs[4 * k + e / 8] >> (e % 8)) & 1 != 0 { 1 } else { -1 });
            let q = lanes32(&wq, &y.qs);
            let dy = f16_to_f32(y.d);
            for l in 0..8 {
                blk[l] = if k == 0 { dy * q[l] as f32 } else { dy.mul_add(q[l] as f32, blk[l]) };
            }
        }
        let d = f16_to_f32(b.d);
        for l in 0..8 {
            acc[l] = d.mul_add(blk[l], acc[l]);
        }
    }
    hsum8(&acc)
}

/// Q2_0 against Q8_0: x86 has no SIMD version, so `ggml_vec_dot_q2_0_q8_0_generic`: per
/// 64-element block `sumi += d_y * isum` for its two Q8_0 blocks (an exact product: 11 + 13
/// bits), then `sumf += d_w * sumi`, not contracted (the fixture matches only so).
fn dot_q2_0(n: usize, w: &[u8], a: &[u8]) -> f32 {
    let nb = n / 64;
    let ys = blocks::<BlockQ8_0>(a, 2 * nb);
    let mut sumf = 0f32;
    for (i, b) in blocks::<BlockQ2_0>(w, nb).iter().enumerate() {
        let mut sumi = 0f32;
        for k in 0..2 {
            let y = &ys[2 * i + k];
            let isum: i32 = (0..32).map(|e| (((b.qs[8 * k + e / 4] >> (2 * (e % 4))) & 3) as i32 - 1) * y.qs[e] as i32).sum();
            sumi += f16_to_f32(y.d) * isum as f32;
        }
        sumf += f16_to_f32(b.d) * sumi;
    }
    sumf
}

/// llama.cpp's x86 result for weight row `w` · activation row `a` (already in the type's
/// `vec_dot_type`), `n` elements: `batched` false for one token (`ggml_vec_dot_*`), true for
/// a batch (tinyBLAS where llama.cpp uses it). `None` for types not covered yet.
pub fn ggml_dot(ty: GgmlType, n: usize, w: &[u8], a: &[u8], batched: bool) -> Option<f32> {
    use GgmlType::*;
    Some(match ty {
        Q8_0 | Q4_0 | Q5_0 => dot_q8_0(ty, n, w, a, false),
        IQ4_NL => dot_q8_0(ty, n, w, a, !batched),
        // Not in tinyBLAS: vec_dot in prefill too.
        MXFP4 => dot_q8_0(ty, n, w, a, true),
        Q4_1 | Q5_1 => dot_q8_1(ty, n, w, a),
        Q4_K => dot_q45k(n, w, a, false),
        Q5_K => dot_q45k(n, w, a, true),
        Q6_K => dot_q6k(n, w, a),
        Q2_K => dot_q2k(n, w, a),
        Q3_K => dot_q3k(n, w, a),
        IQ4_XS => dot_iq4xs(n, w, a),
        TQ1_0 => dot_ternary(n, w, a, ternary::unpack_tq1_0, |b: &BlockTq1_0| b.d),
        TQ2_0 => dot_ternary(n, w, a, ternary::unpack_tq2_0, |b: &BlockTq2_0| b.d),
        NVFP4 => dot_nvfp4(n, w, a),
        Q1_0 => dot_q1_0(n, w, a),
        Q2_0 => dot_q2_0(n, w, a),
        IQ1_S => dot_iq1s(n, w, a),
        IQ1_M => dot_iq1m(n, w, a),
        IQ2_XXS => dot_iq2(n, w, a, iq2::unpack_iq2_xxs, |b: &BlockIq2Xxs| b.d, 0.125),
        IQ2_XS => dot_iq2(n, w, a, iq2::unpack_iq2_xs, |b: &BlockIq2Xs| b.d, 0.125),
        IQ2_S => dot_iq2(n, w, a, iq2::unpack_iq2_s, |b: &BlockIq2S| b.d, 0.125),
        IQ3_XXS => dot_iq2(n, w, a, iq2::unpack_iq3_xxs, |b: &BlockIq3Xxs| b.d, 0.25),
        IQ3_S => dot_iq2(n, w, a, iq2::unpack_iq3_s, |b: &BlockIq3S| b.d, 1.0),
        _ => return None,
    })
}

/// Which selected kernels a bit-for-bit check runs: `vec_dot` (and mat-vec, which is made of
/// it), `vec_dot_x4`, `vec_dot_4x4`, or the whole mat-mat (panels, 4x4 and x4 tiles,
/// `vec_dot` tails).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Path {
    VecDot,
    X4,
    Tile4x4,
    MatMul,
}

/// Whether this build's selected kernels of `t.ty` on `path` are held to [`ggml_dot`] bit for
/// bit: every simd128 kernel of a type it covers, and the x86 ones listed in [`x86_held`].
pub(super) fn held_bitwise(t: &QuantTraits, path: Path) -> bool {
    ggml_dot(t.ty, 0, &[], &[], false).is_some()
        && match t.vec_dot_isa {
            Isa::Simd128 => true,
            Isa::Avx2 => x86_held(t.ty, path),
            Isa::Scalar => false,
        }
}

/// The x86 kernels that round as ggml's AVX2 code, on both kernel sets (AVX-512 VNNI where
/// the CPU has it, and the AVX2 ones, `LLMPLAYER_X86=avx2`); the tests cover both paths only
/// when run under both settings. Not yet exact: the vec_dot of IQ1_S / IQ1_M / TQ1_0 / TQ2_0
/// / Q1_0 / Q2_0 (their float steps are not ggml's), and IQ4_NL's mat-mat (its token tails
/// outside the panels go through its two-accumulator vec_dot, where tinyBLAS has one).
fn x86_held(ty: GgmlType, path: Path) -> bool {
    use GgmlType::*;
    let k_quant = matches!(ty, Q2_K | Q3_K | Q4_K | Q5_K | Q6_K | IQ4_XS);
    match path {
        Path::VecDot => {
            k_quant
                || matches!(ty, Q8_0 | Q4_0 | Q5_0 | Q4_1 | Q5_1 | IQ4_NL | MXFP4 | NVFP4)
                || matches!(ty, IQ2_XXS | IQ2_XS | IQ2_S | IQ3_XXS | IQ3_S)
        }
        Path::X4 | Path::Tile4x4 => k_quant || matches!(ty, Q8_0 | Q4_0 | Q4_1 | Q5_1 | IQ4_NL),
        Path::MatMul => k_quant || matches!(ty, Q8_0 | Q4_0 | Q5_0 | Q4_1 | Q5_1 | MXFP4 | NVFP4 | IQ2_XXS | IQ2_XS | IQ2_S | IQ3_XXS | IQ3_S),
    }
}

/// Whether the selected float dot of `t.ty` is held to [`float_dot`] bit for bit: the AVX2
/// and simd128 ones.
pub(super) fn float_held(t: &QuantTraits) -> bool {
    matches!(t.vec_dot_isa, Isa::Simd128 | Isa::Avx2) && float_dot(t.ty, 0, &[], &[]).is_some()
}

/// Which of llama.cpp's paths [`ggml_dot`] expects for output row `j` of a mat-mat over
/// `batch` activation rows: the batched one from 2 rows on, except for the rows that the
/// mat-mat's row kernels leave to `vec_dot` (the tail after the x4 groups), which only IQ4_NL
/// tells apart (a known gap: llama.cpp's tinyBLAS rounds those rows like the others).
pub(super) fn mat_mat_batched(ty: GgmlType, j: usize, batch: usize) -> bool {
    batch >= 2 && !(ty == GgmlType::IQ4_NL && j >= batch / 4 * 4)
}

/// `got` against [`ggml_dot`] bit for bit; a message when they differ.
pub(super) fn bitwise_mismatch(ty: GgmlType, n: usize, w: &[u8], a: &[u8], batched: bool, got: f32) -> Option<String> {
    let want = ggml_dot(ty, n, w, a, batched)?;
    (got.to_bits() != want.to_bits()).then(|| format!("got {got:e} ({:#010x}), ggml {want:e} ({:#010x})", got.to_bits(), want.to_bits()))
}

/// The float dots (F32, F16, BF16 rows) in the order of this crate's AVX2 kernels
/// (`quant/x86/float.rs`, after `ggml_vec_dot_f32`): four 8-lane accumulators over 32
/// elements per step with one FMA per element, then 8 at a time into the first, summed as
/// `(a0 + a1) + (a2 + a3)`, `hsum_float_8`, then the scalar tail unfused. The simd128
/// kernels are held to it bit for bit, so attention scores match the native build's.
pub fn float_dot(ty: GgmlType, n: usize, x: &[u8], y: &[u8]) -> Option<f32> {
    let get: fn(&[u8], usize) -> f32 = match ty {
        GgmlType::F32 => |b, i| f32::from_le_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]]),
        GgmlType::F16 => |b, i| f16_to_f32(u16::from_le_bytes([b[2 * i], b[2 * i + 1]])),
        GgmlType::BF16 => |b, i| crate::quant::float::bf16_to_f32(u16::from_le_bytes([b[2 * i], b[2 * i + 1]])),
        _ => return None,
    };
    let mut acc = [[0f32; 8]; 4];
    let mut i = 0;
    let mut step = |k: usize, i: usize| {
        for l in 0..8 {
            acc[k][l] = get(x, i + l).mul_add(get(y, i + l), acc[k][l]);
        }
    };
    while i + 32 <= n {
        for k in 0..4 {
            step(k, i + 8 * k);
        }
        i += 32;
    }
    while i + 8 <= n {
        step(0, i);
        i += 8;
    }
    let v: [f32; 8] = std::array::from_fn(|l| (acc[0][l] + acc[1][l]) + (acc[2][l] + acc[3][l]));
    let mut sum = hsum8(&v);
    for j in i..n {
        sum += get(x, j) * get(y, j);
    }
    Some(sum)
}
