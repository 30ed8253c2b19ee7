//! Gated feed-forward activations (f32, as ggml's CPU `swiglu` and `silu`).

pub use super::expf::Rounding;

/// `gate[i] = silu(gate[i]) * up[i]` (separate gate and up projections, LLM_FFN_PAR).
pub fn swiglu_inplace(gate: &mut [f32], up: &[f32], r: Rounding) {
    super::expf::swiglu(gate, up, r);
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
