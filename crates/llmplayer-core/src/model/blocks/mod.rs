//! The shared blocks architectures are composed of (llama.cpp's `llm_graph` helpers): a
//! layer is an optional pre-norm, a mixer, an optional post-norm and the residual add, then
//! the same around an FFN. Mixers: grouped-query attention, multi-head latent attention
//! (later sliding window, DeltaNet, SSM); FFNs: dense gated, mixture of experts. `arch/*.rs` choose and load them; the
//! forward pass (`forward.rs`) runs them.

pub(crate) mod attention;
pub(crate) mod ffn;
pub(crate) mod mla;
pub(crate) mod moe;
pub(crate) mod proj;

use super::hparams::{HParams, RopeScaling};
use super::names::{Global, Layer as T, Suffix};
use super::ops::expf::Rounding;
use super::ops::rope::Rope;
use super::weights::{Loader, Mat};
use super::device::Device;
use super::ModelError;
use attention::Attention;
use ffn::Ffn;

/// What one forward pass shares with every block.
pub(crate) struct Pass<'a> {
    pub dev: &'a dyn Device,
    pub hp: &'a HParams,
    pub rope: &'a Rope,
    /// The windowed layers' rope, where it differs.
    pub rope_swa: Option<&'a Rope>,
    pub rounding: Rounding,
    /// Round attention as llama.cpp's flash attention.
    pub flash: bool,
}

/// A layer's token mixer.
#[derive(Debug)]
pub(crate) enum Mixer {
    Attention(Attention),
    /// Multi-head latent attention (deepseek2).
    Mla(mla::Mla),
}

impl Mixer {
    /// The output projection (`attn_output`).
    pub fn wo(&self) -> &proj::Proj {
        match self {
            Mixer::Attention(a) => &a.wo,
            Mixer::Mla(m) => &m.wo,
        }
    }
}

/// One transformer layer: `x += post(mixer(pre(x)))`, then `x += post(ffn(pre(x)))`.
#[derive(Debug)]
pub(crate) struct Layer {
    pub attn_norm: Option<Vec<f32>>,
    /// LayerNorm biases of the two pre-norms (starcoder2).
    pub attn_norm_b: Option<Vec<f32>>,
    pub ffn_norm_b: Option<Vec<f32>>,
    pub mixer: Mixer,
    /// Norm of the mixer's output before the residual add (glm4, olmo2).
    pub attn_post_norm: Option<Vec<f32>>,
    pub ffn_norm: Option<Vec<f32>>,
    pub ffn: Ffn,
    /// Norm of the FFN's output before the residual add (glm4, olmo2).
    pub ffn_post_norm: Option<Vec<f32>>,
    /// Attention and FFN both read the normed input and add to the residual together
    /// (command-r): `x = (ffn(n) + x) + attn(n)`.
    pub parallel: bool,
}

/// Where a layer's RMSNorms sit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Norms {
    /// `attn_norm` / `ffn_norm` on each block's input.
    pub pre: bool,
    /// `post_attention_norm` / `post_ffw_norm` on each block's output.
    pub post: bool,
    /// The FFN's input norm is stored as `post_attention_norm` (gpt-oss, glm4moe: the norm
    /// after attention, which is the FFN's pre-norm).
    pub ffn_pre_named_post_attn: bool,
}

impl Norms {
    pub const PRE: Norms = Norms { pre: true, post: false, ffn_pre_named_post_attn: false };
    pub const POST: Norms = Norms { pre: false, post: true, ffn_pre_named_post_attn: false };
    pub const BOTH: Norms = Norms { pre: true, post: true, ffn_pre_named_post_attn: false };
    /// Pre-norms only, the FFN's named `post_attention_norm`.
    pub const PRE_FFN_AS_POST_ATTN: Norms = Norms { pre: true, post: false, ffn_pre_named_post_attn: true };
}

impl Layer {
    /// Layer `il` from its mixer and FFN, with the norms `norms` places.
    pub fn new(l: &Loader, hp: &HParams, il: usize, norms: Norms, mixer: Mixer, ffn: Ffn) -> Result<Layer, ModelError> {
        let norm = |on: bool, t: T| -> Result<Option<Vec<f32>>, ModelError> {
            if on {
                l.vec(&t.name(il, Suffix::Weight), hp.n_embd).map(Some)
            } else {
                Ok(None)
            }
        };
        Ok(Layer {
            attn_norm: norm(norms.pre, T::AttnNorm)?,
            attn_norm_b: None,
            ffn_norm_b: None,
            mixer,
            attn_post_norm: norm(norms.post, T::AttnPostNorm)?,
            ffn_norm: norm(norms.pre, if norms.ffn_pre_named_post_attn { T::AttnPostNorm } else { T::FfnNorm })?,
            ffn,
            ffn_post_norm: norm(norms.post, T::FfnPostNorm)?,
            parallel: false,
        })
    }
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

/// A whole model's tensors: the embedding, the layers, the output head.
#[derive(Debug)]
pub(crate) struct Net {
    pub token_embd: Mat,
    /// None: tied to `token_embd`.
    pub output: Option<Mat>,
    pub output_norm: Vec<f32>,
    /// The output LayerNorm's bias (starcoder2; read where the file has one).
    pub output_norm_b: Option<Vec<f32>>,
    pub output_bias: Option<Vec<f32>>,
    pub output_scale: Option<f32>,
    pub rope_freqs: Option<Vec<f32>>,
    pub rope_long: Option<Vec<f32>>,
    pub rope_short: Option<Vec<f32>>,
    pub layers: Vec<Layer>,
}

impl Net {
    /// The global tensors (with the rope factors `rf` names) and `layer(il)` for each layer.
    pub fn load(l: &Loader, hp: &HParams, rf: RopeFactors, layer: impl Fn(usize) -> Result<Layer, ModelError>) -> Result<Net, ModelError> {
        let (n_embd, n_vocab) = (hp.n_embd, hp.n_vocab);
        let g = |t: Global| t.name(Suffix::Weight);
        let token_embd = l.mat(&g(Global::TokenEmbd), n_embd, Some(n_vocab))?;
        let output = l.mat_opt(&g(Global::Output), n_embd, Some(n_vocab))?;
        let output_norm = l.vec(&g(Global::OutputNorm), n_embd)?;
        let output_norm_b = l.vec_opt(&Global::OutputNorm.name(Suffix::Bias), n_embd)?;
        let output_bias = l.vec_opt(&Global::Output.name(Suffix::Bias), n_vocab)?;
        let output_scale = l.scale_opt(&Global::Output.name(Suffix::Scale))?;
        let half_rot = hp.n_rot / 2;
        let long_short = match rf {
            RopeFactors::None => false,
            RopeFactors::FreqsOrLongRope => hp.rope_scaling == RopeScaling::LongRope,
            RopeFactors::LongShort => true,
        };
        let (mut rope_freqs, mut rope_long, mut rope_short) = (None, None, None);
        if long_short {
            rope_long = l.vec_opt(&g(Global::RopeFactorsLong), half_rot)?;
            rope_short = l.vec_opt(&g(Global::RopeFactorsShort), half_rot)?;
        } else if rf != RopeFactors::None {
            rope_freqs = l.vec_opt(&g(Global::RopeFreqs), half_rot)?;
        }
        Ok(Net {
            token_embd,
            output,
            output_norm,
            output_norm_b,
            output_bias,
            output_scale,
            rope_freqs,
            rope_long,
            rope_short,
            layers: (0..hp.n_layer).map(layer).collect::<Result<_, _>>()?,
        })
    }

    pub fn output(&self) -> &Mat {
        self.output.as_ref().unwrap_or(&self.token_embd)
    }

    /// Every matrix, for sizing the activation buffer.
    pub fn mats(&self) -> Vec<&Mat> {
        let mut mats = vec![&self.token_embd, self.output()];
        for l in &self.layers {
            match &l.mixer {
                Mixer::Attention(a) => {
                    match &a.qkv {
                        attention::Qkv::Separate { q, k, v } => mats.extend([&q.w, &k.w, &v.w]),
                        attention::Qkv::Fused(p) => mats.push(&p.w),
                    }
                    mats.push(&a.wo.w);
                }
                Mixer::Mla(m) => mats.extend(m.mats()),
            }
            mats.extend(l.ffn.mats());
        }
        mats
    }
}
