//! Gated feed-forward activations (f32, as ggml's CPU `swiglu` and `silu`, and `geglu` with
//! its tanh-GELU looked up in a table of f16 values).

pub use super::expf::Rounding;
use crate::quant::float::{f16_to_f32, f32_to_f16};
use std::sync::OnceLock;

/// ggml's `ggml_table_gelu_f16`: for every f16 `h`, `gelu(f16_to_f32(h))` rounded to f16, with
/// `gelu(x) = 0.5 x (1 + tanh(sqrt(2/pi) x (1 + 0.044715 x^2)))` in f32 as the reference
/// build computes it (`1 + a x x` fused, glibc's `tanhf`): all 65,536 entries equal the table
/// of llama.cpp's CPU library on linux-gnu.
fn gelu_table() -> &'static [u16] {
    static TABLE: OnceLock<Box<[u16]>> = OnceLock::new();
    TABLE.get_or_init(|| {
        const A: f32 = 0.044715;
        #[allow(clippy::excessive_precision)]
        const SQRT_2_OVER_PI: f32 = 0.79788456080286535587989211986876;
        (0..=u16::MAX)
            .map(|h| {
                let x = f16_to_f32(h);
                let inner = SQRT_2_OVER_PI * x * super::expf::fma(A * x, x, 1.0);
                f32_to_f16(0.5 * x * (1.0 + inner.tanh()))
            })
            .collect()
    })
}

/// ggml's CPU GELU (`GGML_GELU_FP16`): 0 at or below -10, the identity at or above 10, else
/// the table entry of `x` rounded to f16.
#[inline]
pub fn gelu(x: f32, table: &[u16]) -> f32 {
    if x <= -10.0 {
        0.0
    } else if x >= 10.0 {
        x
    } else {
        f16_to_f32(table[f32_to_f16(x) as usize])
    }
}

/// `x[i] = gelu(x[i])` (ggml `gelu`, LLM_FFN_GELU + LLM_FFN_SEQ).
pub fn gelu_inplace(x: &mut [f32]) {
    let t = gelu_table();
    x.iter_mut().for_each(|v| *v = gelu(*v, t));
}

/// `gate[i] = gelu(gate[i]) * up[i]` (ggml `geglu`, LLM_FFN_GELU + LLM_FFN_PAR).
pub fn geglu_inplace(gate: &mut [f32], up: &[f32]) {
    let t = gelu_table();
    gate.iter_mut().zip(up).for_each(|(g, &u)| *g = gelu(*g, t) * u);
}

/// `gate[i] = silu(gate[i]) * up[i]` (separate gate and up projections, LLM_FFN_PAR).
pub fn swiglu_inplace(gate: &mut [f32], up: &[f32], r: Rounding) {
    super::expf::swiglu(gate, up, r);
}

/// gpt-oss's `swiglu_oai` as ggml's CPU op computes it: `x = min(gate, limit)`,
/// `y = clamp(up, -limit, limit)`, `gate = x / (1 + expf(alpha * -x)) * (y + 1)` (libm `expf`).
pub fn swiglu_oai_inplace(gate: &mut [f32], up: &[f32], alpha: f32, limit: f32) {
    for (g, &u) in gate.iter_mut().zip(up) {
        let x = g.min(limit);
        let y = u.clamp(-limit, limit);
        *g = x / (1.0 + super::glibc::expf(alpha * -x)) * (y + 1.0);
    }
}

/// step35's clamped SwiGLU as llama.cpp builds it from separate ops (`build_ffn` /
/// `build_moe_ffn` with a positive `swiglu_clamp_*`): `silu` (ggml's vector form, as
/// [`swiglu_inplace`]), clamped above at `limit`, times `up` clamped to `[-limit, limit]`.
/// Unlike gpt-oss's `swiglu_oai`, the clamp is on silu's output, and up gets no `+ 1`.
pub fn swiglu_limit_inplace(gate: &mut [f32], up: &[f32], limit: f32, r: Rounding) {
    super::expf::silu_inplace(gate, r);
    for (g, &u) in gate.iter_mut().zip(up) {
        *g = g.min(limit) * u.clamp(-limit, limit);
    }
}

/// Fused [gate | up] rows of `2 * n_ff` (glm4, phi3 `ffn_up`): `out[t][i] =
/// silu(fused[t][i]) * fused[t][n_ff + i]`.
pub fn swiglu_fused_rows(fused: &[f32], n_ff: usize, out: &mut [f32], r: Rounding) {
    for (f, o) in fused.chunks_exact(2 * n_ff).zip(out.chunks_exact_mut(n_ff)) {
        let (g, u) = f.split_at(n_ff);
        o.copy_from_slice(g);
        super::expf::swiglu(o, u, r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swiglu_limit_clamps_silu_and_up() {
        let gate = [-4.0f32, -0.5, 0.0, 0.7, 1.9, 3.0, 8.0, 40.0];
        let up = [0.3f32, -2.5, 1.0, 2.5, -0.4, 1.2, -1.7, 0.9];
        let limit = 1.5f32;
        for r in [Rounding::Avx2, Rounding::Avx512] {
            let mut got = gate;
            swiglu_limit_inplace(&mut got, &up, limit, r);
            for i in 0..gate.len() {
                // Plain reference: silu in f64, both clamps, the product.
                let (g, u) = (gate[i] as f64, up[i] as f64);
                let silu = g / (1.0 + (-g).exp());
                let want = silu.min(limit as f64) * u.clamp(-(limit as f64), limit as f64);
                assert!((got[i] as f64 - want).abs() <= 1e-6 * want.abs().max(1.0), "{r:?} {i}: {} vs {want}", got[i]);
            }
            // Below the limit it is the plain SwiGLU, bit for bit.
            let (mut a, mut plain, u) = ([0.7f32, -0.5], [0.7f32, -0.5], [0.9f32, -1.2]);
            swiglu_limit_inplace(&mut a, &u, 100.0, r);
            swiglu_inplace(&mut plain, &u, r);
            assert_eq!(a, plain);
        }
    }

    #[test]
    fn gelu_follows_ggml() {
        let t = gelu_table();
        assert_eq!((gelu(-10.0, t), gelu(12.5, t), gelu(0.0, t)), (0.0, 12.5, 0.0));
        // Spot values of llama.cpp's table (f16 bits of gelu at 1.0 and -1.0).
        assert_eq!((t[0x3c00], t[0xbc00]), (15035, 45333));
        // Close to the exact tanh-GELU within f16 rounding.
        for x in [-3.0f32, -0.5, 0.1, 0.7, 2.0, 5.0] {
            let exact = 0.5 * x as f64 * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * x as f64 * (1.0 + 0.044715 * (x * x) as f64)).tanh());
            assert!((gelu(x, t) as f64 - exact).abs() <= 2e-3 * exact.abs().max(1e-2), "{x}");
        }
    }
}
