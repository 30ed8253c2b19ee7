//! The standard engine: dense decoder-only transformers with grouped-query attention and a
//! gated (SwiGLU) FFN. The supported architectures differ only in the [`Flags`] below and
//! in which optional tensors their files carry (llama.cpp `src/models/{llama,qwen2,qwen3,
//! glm4,phi3,mistral3,smollm3,granite,olmo2}.cpp`). This file binds the tensors;
//! `forward.rs` runs them.

use super::arch::Arch;
use super::hparams::{HParams, RopeScaling};
use super::names::{Global, Layer, Suffix};
use super::weights::{Loader, Mat};
use super::ModelError;
use crate::parallel::ThreadPool;
use crate::quant::QuantizedActs;

/// How q and k are normalized before rope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum QkNorm {
    None,
    /// RMSNorm over each head (qwen3): weights of `head_dim`.
    PerHead,
    /// RMSNorm over the whole q / k vector (olmo2): weights of `n_head * head_dim`.
    Full,
}

/// Which frequency-factor tensors an architecture reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RopeFactors {
    None,
    /// `rope_freqs` (Llama-3), or long/short factors when `rope.scaling.type = longrope`.
    FreqsOrLongRope,
    /// `rope_factors_long` / `rope_factors_short` (phi3).
    LongShort,
}

/// Everything that distinguishes the supported architectures.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Flags {
    /// attn_norm / ffn_norm before each block (every arch but olmo2).
    pub pre_norms: bool,
    /// post_attention_norm / post_ffw_norm on each block's output (glm4, olmo2).
    pub post_norms: bool,
    pub qk_norm: QkNorm,
    /// `ffn_up` holds [gate; up] and there is no `ffn_gate` (glm4, phi3).
    pub fused_gate_up: bool,
    /// q is scaled by 1/sqrt(head_dim) before attention and the softmax scale is 1 (phi3).
    pub q_prescale: bool,
    pub rope_factors: RopeFactors,
}

pub(crate) fn flags(arch: Arch) -> Flags {
    let base = Flags {
        pre_norms: true,
        post_norms: false,
        qk_norm: QkNorm::None,
        fused_gate_up: false,
        q_prescale: false,
        rope_factors: RopeFactors::None,
    };
    match arch {
        Arch::Llama | Arch::Mistral3 | Arch::Granite => Flags { rope_factors: RopeFactors::FreqsOrLongRope, ..base },
        Arch::Qwen2 | Arch::Smollm3 => base,
        Arch::Qwen3 => Flags { qk_norm: QkNorm::PerHead, ..base },
        Arch::Glm4 => Flags { post_norms: true, fused_gate_up: true, ..base },
        Arch::Phi3 => Flags { fused_gate_up: true, q_prescale: true, rope_factors: RopeFactors::LongShort, ..base },
        Arch::Olmo2 => Flags { pre_norms: false, post_norms: true, qk_norm: QkNorm::Full, ..base },
    }
}

/// A projection: `y = (W x) * scale + bias`.
#[derive(Debug)]
pub(crate) struct Proj {
    pub w: Mat,
    pub bias: Option<Vec<f32>>,
    pub scale: Option<f32>,
}

impl Proj {
    fn load(l: &Loader, t: Layer, il: usize, cols: usize, rows: usize) -> Result<Option<Proj>, ModelError> {
        let Some(w) = l.mat_opt(&t.name(il, Suffix::Weight), cols, Some(rows))? else { return Ok(None) };
        let bias = l.vec_opt(&t.name(il, Suffix::Bias), rows)?;
        let scale = l.scale_opt(&t.name(il, Suffix::Scale))?;
        Ok(Some(Proj { w, bias, scale }))
    }

    fn req(l: &Loader, t: Layer, il: usize, cols: usize, rows: usize) -> Result<Proj, ModelError> {
        Proj::load(l, t, il, cols, rows)?.ok_or_else(|| ModelError::MissingTensor(t.name(il, Suffix::Weight)))
    }

    /// `out (n, rows) = x (n, cols) · Wᵀ * scale + bias`.
    pub fn apply(&self, file: &[u8], pool: &ThreadPool, x: &[f32], n: usize, out: &mut [f32], acts: &mut QuantizedActs) {
        self.w.matmul(file, pool, x, n, out, acts);
        let rows = self.w.rows;
        for r in out[..n * rows].chunks_exact_mut(rows) {
            if let Some(s) = self.scale {
                r.iter_mut().for_each(|v| *v *= s);
            }
            if let Some(b) = &self.bias {
                r.iter_mut().zip(b).for_each(|(v, &bv)| *v += bv);
            }
        }
    }
}

#[derive(Debug)]
pub(crate) enum Qkv {
    Separate { q: Proj, k: Proj, v: Proj },
    /// Rows [q | k | v].
    Fused(Proj),
}

#[derive(Debug)]
pub(crate) struct LayerWeights {
    pub attn_norm: Option<Vec<f32>>,
    pub qkv: Qkv,
    pub q_norm: Option<Vec<f32>>,
    pub k_norm: Option<Vec<f32>>,
    pub wo: Proj,
    pub attn_post_norm: Option<Vec<f32>>,
    pub ffn_norm: Option<Vec<f32>>,
    /// None when `up` is the fused [gate; up].
    pub gate: Option<Proj>,
    pub up: Proj,
    pub down: Proj,
    pub ffn_post_norm: Option<Vec<f32>>,
}

#[derive(Debug)]
pub(crate) struct Weights {
    pub token_embd: Mat,
    /// None: tied to `token_embd`.
    pub output: Option<Mat>,
    pub output_norm: Vec<f32>,
    pub output_bias: Option<Vec<f32>>,
    pub output_scale: Option<f32>,
    pub rope_freqs: Option<Vec<f32>>,
    pub rope_long: Option<Vec<f32>>,
    pub rope_short: Option<Vec<f32>>,
    pub layers: Vec<LayerWeights>,
}

impl Weights {
    pub fn output(&self) -> &Mat {
        self.output.as_ref().unwrap_or(&self.token_embd)
    }
}

pub(crate) fn load(l: &Loader, hp: &HParams, fl: &Flags) -> Result<Weights, ModelError> {
    let (n_embd, n_vocab) = (hp.n_embd, hp.n_vocab);
    let token_embd = l.mat(&Global::TokenEmbd.name(Suffix::Weight), n_embd, Some(n_vocab))?;
    let output = l.mat_opt(&Global::Output.name(Suffix::Weight), n_embd, Some(n_vocab))?;
    let output_norm = l.vec(&Global::OutputNorm.name(Suffix::Weight), n_embd)?;
    let output_bias = l.vec_opt(&Global::Output.name(Suffix::Bias), n_vocab)?;
    let output_scale = l.scale_opt(&Global::Output.name(Suffix::Scale))?;

    let half_rot = hp.n_rot / 2;
    let (mut rope_freqs, mut rope_long, mut rope_short) = (None, None, None);
    let long_short = match fl.rope_factors {
        RopeFactors::None => false,
        RopeFactors::FreqsOrLongRope => hp.rope_scaling == RopeScaling::LongRope,
        RopeFactors::LongShort => true,
    };
    if long_short {
        rope_long = l.vec_opt(&Global::RopeFactorsLong.name(Suffix::Weight), half_rot)?;
        rope_short = l.vec_opt(&Global::RopeFactorsShort.name(Suffix::Weight), half_rot)?;
    } else if fl.rope_factors != RopeFactors::None {
        rope_freqs = l.vec_opt(&Global::RopeFreqs.name(Suffix::Weight), half_rot)?;
    }

    let mut layers = Vec::with_capacity(hp.n_layer);
    for il in 0..hp.n_layer {
        let (n_q, n_k, n_v, n_ff) = (hp.n_embd_q(il), hp.n_embd_k_gqa(il), hp.n_embd_v_gqa(il), hp.n_ff[il]);
        let norm = |t: Layer, len: usize| l.vec(&t.name(il, Suffix::Weight), len);
        let qkv = match Proj::load(l, Layer::AttnQkv, il, n_embd, n_q + n_k + n_v)? {
            Some(p) => Qkv::Fused(p),
            None => Qkv::Separate {
                q: Proj::req(l, Layer::AttnQ, il, n_embd, n_q)?,
                k: Proj::req(l, Layer::AttnK, il, n_embd, n_k)?,
                v: Proj::req(l, Layer::AttnV, il, n_embd, n_v)?,
            },
        };
        let (q_norm, k_norm) = match fl.qk_norm {
            QkNorm::None => (None, None),
            QkNorm::PerHead => (Some(norm(Layer::AttnQNorm, hp.head_dim_k)?), Some(norm(Layer::AttnKNorm, hp.head_dim_k)?)),
            QkNorm::Full => (Some(norm(Layer::AttnQNorm, n_q)?), Some(norm(Layer::AttnKNorm, n_k)?)),
        };
        let (gate, up) = if fl.fused_gate_up {
            (None, Proj::req(l, Layer::FfnUp, il, n_embd, 2 * n_ff)?)
        } else {
            (Some(Proj::req(l, Layer::FfnGate, il, n_embd, n_ff)?), Proj::req(l, Layer::FfnUp, il, n_embd, n_ff)?)
        };
        layers.push(LayerWeights {
            attn_norm: if fl.pre_norms { Some(norm(Layer::AttnNorm, n_embd)?) } else { None },
            qkv,
            q_norm,
            k_norm,
            wo: Proj::req(l, Layer::AttnOut, il, hp.n_head[il] * hp.head_dim_v, n_embd)?,
            attn_post_norm: if fl.post_norms { Some(norm(Layer::AttnPostNorm, n_embd)?) } else { None },
            ffn_norm: if fl.pre_norms { Some(norm(Layer::FfnNorm, n_embd)?) } else { None },
            gate,
            up,
            down: Proj::req(l, Layer::FfnDown, il, n_ff, n_embd)?,
            ffn_post_norm: if fl.post_norms { Some(norm(Layer::FfnPostNorm, n_embd)?) } else { None },
        });
    }
    Ok(Weights { token_embd, output, output_norm, output_bias, output_scale, rope_freqs, rope_long, rope_short, layers })
}
