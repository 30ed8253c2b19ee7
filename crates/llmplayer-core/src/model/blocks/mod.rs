//! The shared blocks architectures are composed of (llama.cpp's `llm_graph` helpers): a
//! layer is an optional pre-norm, a mixer, an optional post-norm and the residual add, then
//! the same around an FFN. Mixers: grouped-query attention (sliding-window and chunked
//! included), multi-head latent attention, Mamba-2, Mamba-1, gated DeltaNet, Kimi delta
//! attention, RWKV-7 and RWKV-6 time mixes; FFNs: dense gated, mixture of experts, RWKV channel
//! mix. `arch/*.rs` choose and load them; the forward pass
//! (`forward.rs`) runs them. Recurrent mixers keep a state per sequence in the memory
//! (`Mixer::state_len` values per layer).

pub(crate) mod attention;
pub(crate) mod deltanet;
pub(crate) mod ffn;
pub(crate) mod mamba;
pub(crate) mod kda;
pub(crate) mod mla;
pub(crate) mod moe;
pub(crate) mod ple;
pub(crate) mod proj;
pub(crate) mod rwkv6;
pub(crate) mod rwkv7;
pub(crate) mod ssm;

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
    /// Mamba-2 (mamba2, falcon-h1).
    Mamba2(ssm::Mamba2),
    /// Mamba-1 (mamba).
    Mamba(mamba::Mamba),
    /// Gated DeltaNet linear attention (qwen3next, qwen35).
    DeltaNet(deltanet::DeltaNet),
    /// RWKV-7 time mix (rwkv7).
    Rwkv7(Box<rwkv7::TimeMix>),
    /// Kimi delta attention (kimi-linear).
    Kda(kda::Kda),
    /// RWKV-6 time mix (rwkv6).
    Rwkv6(Box<rwkv6::TimeMix>),
}

/// The recurrent mixers' activations (each present when some layer has that mixer).
#[derive(Default)]
pub(crate) struct RecBufs {
    pub ssm: Option<ssm::SsmBufs>,
    pub dnet: Option<deltanet::DeltaNetBufs>,
    pub rwkv: Option<rwkv7::RwkvBufs>,
    pub mamba: Option<mamba::MambaBufs>,
    pub kda: Option<kda::KdaBufs>,
    pub rwkv6: Option<rwkv6::Rwkv6Bufs>,
}

impl RecBufs {
    pub fn new(hp: &HParams, net: &Net, n_ubatch: usize) -> RecBufs {
        let has = |f: &dyn Fn(&Mixer) -> bool| net.layers.iter().any(|l| f(&l.mixer) || l.side.as_ref().is_some_and(f));
        let ssm = hp.ssm.filter(|_| has(&|m| matches!(m, Mixer::Mamba2(_))));
        RecBufs {
            ssm: ssm.map(|d| ssm::SsmBufs::new(&d, n_ubatch)),
            dnet: if has(&|m| matches!(m, Mixer::DeltaNet(_))) { Some(deltanet::DeltaNetBufs::new(hp, n_ubatch)) } else { None },
            rwkv: if has(&|m| matches!(m, Mixer::Rwkv7(_))) { Some(rwkv7::RwkvBufs::new(hp, n_ubatch)) } else { None },
            mamba: hp.mamba.filter(|_| has(&|m| matches!(m, Mixer::Mamba(_)))).map(|d| mamba::MambaBufs::new(&d, n_ubatch)),
            kda: if has(&|m| matches!(m, Mixer::Kda(_))) { Some(kda::KdaBufs::new(hp, n_ubatch)) } else { None },
            rwkv6: if has(&|m| matches!(m, Mixer::Rwkv6(_))) { Some(rwkv6::Rwkv6Bufs::new(hp, n_ubatch)) } else { None },
        }
    }
}

impl Mixer {
    /// The output projection (`attn_output`, `ssm_out`, `time_mix_output`).
    pub fn wo(&self) -> &proj::Proj {
        match self {
            Mixer::Attention(a) => &a.wo,
            Mixer::Mla(m) => &m.wo,
            Mixer::Mamba2(m) => &m.out,
            Mixer::Mamba(m) => &m.out,
            Mixer::DeltaNet(m) => &m.out,
            Mixer::Rwkv7(m) => &m.out,
            Mixer::Kda(m) => &m.out,
            Mixer::Rwkv6(m) => &m.out,
        }
    }

    /// Width of the mixer's output rows, what [`Mixer::wo`] reads.
    pub fn out_width(&self, hp: &HParams, il: usize) -> usize {
        match self {
            Mixer::Attention(_) | Mixer::Mla(_) => hp.n_embd_attn_out(il),
            Mixer::Mamba2(m) => m.out_width(),
            Mixer::Mamba(m) => m.out_width(),
            Mixer::DeltaNet(m) => m.out_width(),
            Mixer::Rwkv7(m) => m.out_width(),
            Mixer::Kda(m) => m.out_width(),
            Mixer::Rwkv6(m) => m.out_width(),
        }
    }

    /// Values of one sequence's recurrent state this mixer keeps (0: none, it uses KV).
    pub fn state_len(&self) -> usize {
        match self {
            Mixer::Attention(_) | Mixer::Mla(_) => 0,
            Mixer::Mamba2(m) => m.state_len(),
            Mixer::Mamba(m) => m.state_len(),
            Mixer::DeltaNet(m) => m.state_len(),
            Mixer::Rwkv7(m) => m.state_len(),
            Mixer::Kda(m) => m.state_len(),
            Mixer::Rwkv6(m) => m.state_len(),
        }
    }

    fn mats(&self) -> Vec<&Mat> {
        match self {
            Mixer::Attention(a) => {
                let mut mats = match &a.qkv {
                    attention::Qkv::Separate { q, k, v } => vec![&q.w, &k.w, &v.w],
                    attention::Qkv::VFromK { q, k } => vec![&q.w, &k.w],
                    attention::Qkv::Fused(p) | attention::Qkv::QOnly(p) => vec![&p.w],
                };
                mats.push(&a.wo.w);
                mats.extend(a.head_gate.as_ref().map(|g| &g.w));
                mats
            }
            Mixer::Mla(m) => m.mats(),
            Mixer::Mamba2(m) => m.mats(),
            Mixer::Mamba(m) => m.mats(),
            Mixer::DeltaNet(m) => m.mats(),
            Mixer::Rwkv7(m) => m.mats(),
            Mixer::Kda(m) => m.mats(),
            Mixer::Rwkv6(m) => m.mats(),
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
    /// A second mixer on the same normed input whose projected output is added to the
    /// first's (falcon-h1: Mamba-2 beside attention).
    pub side: Option<Mixer>,
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
            side: None,
        })
    }
}

impl Layer {
    /// A layer that is `attn_norm` and its mixer alone (mamba2).
    pub fn mixer_only(l: &Loader, hp: &HParams, il: usize, mixer: Mixer) -> Result<Layer, ModelError> {
        Ok(Layer {
            attn_norm: Some(l.vec(&T::AttnNorm.name(il, Suffix::Weight), hp.n_embd)?),
            attn_norm_b: None,
            ffn_norm_b: None,
            mixer,
            attn_post_norm: None,
            ffn_norm: None,
            ffn: Ffn::None,
            ffn_post_norm: None,
            parallel: false,
            side: None,
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
    /// A norm (and its bias) of the embeddings before the first layer (rwkv7's
    /// `token_embd_norm`; set by the architectures that have one).
    pub token_embd_norm: Option<Vec<f32>>,
    pub token_embd_norm_b: Option<Vec<f32>>,
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
    /// Per-layer embeddings, added after each layer's FFN (gemma4; set by the architecture).
    pub ple: Option<ple::Ple>,
    /// (n_layer,) a scalar multiplying each layer's output, last (gemma4's
    /// `layer_output_scale`; set by the architecture).
    pub layer_scale: Option<Vec<f32>>,
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
        // One table for every layer: pairs of the widest rope (step35's windowed layers rotate
        // more dims than the others), each rope reading its first pairs.
        let half_rot = hp.n_rot.max(hp.n_rot_swa()) / 2;
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
            token_embd_norm: None,
            token_embd_norm_b: None,
            output,
            output_norm,
            output_norm_b,
            output_bias,
            output_scale,
            rope_freqs,
            rope_long,
            rope_short,
            layers: (0..hp.n_layer).map(layer).collect::<Result<_, _>>()?,
            ple: None,
            layer_scale: None,
        })
    }

    pub fn output(&self) -> &Mat {
        self.output.as_ref().unwrap_or(&self.token_embd)
    }

    /// Every matrix, for sizing the activation buffer.
    pub fn mats(&self) -> Vec<&Mat> {
        let mut mats = vec![&self.token_embd, self.output()];
        for l in &self.layers {
            mats.extend(l.mixer.mats());
            if let Some(side) = &l.side {
                mats.extend(side.mats());
            }
            mats.extend(l.ffn.mats());
        }
        if let Some(p) = &self.ple {
            mats.extend(p.mats());
        }
        mats
    }

    /// (n_layer,) values of recurrent state each layer keeps per sequence.
    pub fn state_lens(&self) -> Vec<usize> {
        self.layers.iter().map(|l| l.mixer.state_len() + l.side.as_ref().map_or(0, Mixer::state_len)).collect()
    }
}
