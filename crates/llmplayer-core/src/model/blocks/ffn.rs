//! The FFN block: dense gated (SwiGLU, `down(silu(gate x) * up x)`, or GeGLU with GELU, with gate and up as two
//! tensors or one fused `ffn_up` holding [gate; up] (glm4, phi3)), a mixture of experts
//! (`moe.rs`), or RWKV-7's channel mix (`rwkv7.rs`).

use super::moe::{Moe, MoeBufs};
use super::proj::Proj;
use super::rwkv7::ChannelMix;
use super::Pass;
use crate::model::hparams::HParams;
use crate::model::names::Layer;
use crate::model::weights::{Loader, Mat};
use crate::model::ModelError;
use crate::quant::QuantizedActs;

/// The gate's activation.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub(crate) enum Act {
    #[default]
    Silu,
    /// tanh-GELU through ggml's f16 table (gemma).
    Gelu,
    /// SiLU clamped above, and up clamped both ways, at this limit (step35's
    /// `swiglu_clamp_shexp` on its dense layers).
    SiluLimit(f32),
}

#[derive(Debug)]
pub(crate) enum Ffn {
    Gated { gate: Proj, up: Proj, down: Proj, act: Act },
    /// `up` holds [gate; up] (2 * n_ff rows).
    FusedGated { up: Proj, down: Proj },
    /// Not gated: `down(gelu(up x))` (starcoder2).
    Seq { up: Proj, down: Proj },
    Moe(Moe),
    /// RWKV-7's channel mix: a token shift (per-sequence state), then `value(relu(key x)²)`;
    /// the forward pass shifts its rows ([`ChannelMix::token_shift`]) before [`Ffn::forward`].
    ChannelMix(ChannelMix),
    /// No FFN: the layer is its mixer alone (mamba2).
    None,
}

/// The FFN's activations for batches of up to `n_ubatch` tokens.
pub(crate) struct FfnBufs {
    /// (n_ubatch, n_ff) gate, or (n_ubatch, 2 * n_ff) fused [gate | up]
    gate: Vec<f32>,
    /// (n_ubatch, n_ff) up projection / fused swiglu output
    up: Vec<f32>,
    /// the MoE FFN's (models with experts)
    moe: Option<MoeBufs>,
    /// (n_ubatch, n_embd) the RWKV-6 channel mix's receptance rows (sized by the forward
    /// pass's scratch where a layer has one; else empty)
    pub xr: Vec<f32>,
}

impl FfnBufs {
    /// `n_ff`: the widest dense FFN the loaded layers have ([`Ffn::width`]), not the file's
    /// `feed_forward_length`, which an experts-only model may give any value.
    pub fn new(hp: &HParams, fused: bool, n_ff: usize, n_ubatch: usize) -> FfnBufs {
        FfnBufs {
            gate: vec![0.0; n_ubatch * if fused { 2 * n_ff } else { n_ff }],
            up: vec![0.0; n_ubatch * n_ff],
            moe: hp.moe.as_ref().map(|m| MoeBufs::new(hp, m, n_ubatch)),
            xr: Vec::new(),
        }
    }
}

impl Ffn {
    /// `ffn_gate`, `ffn_up`, `ffn_down` of layer `il`, SwiGLU.
    pub fn gated(l: &Loader, hp: &HParams, il: usize) -> Result<Ffn, ModelError> {
        Ffn::gated_act(l, hp, il, Act::Silu)
    }

    /// `ffn_gate`, `ffn_up`, `ffn_down` of layer `il` with the gate through `act`.
    pub fn gated_act(l: &Loader, hp: &HParams, il: usize, act: Act) -> Result<Ffn, ModelError> {
        let (d, n_ff) = (hp.n_embd, hp.n_ff[il]);
        Ok(Ffn::Gated {
            gate: Proj::req(l, Layer::FfnGate, il, d, n_ff)?,
            up: Proj::req(l, Layer::FfnUp, il, d, n_ff)?,
            down: Proj::req(l, Layer::FfnDown, il, n_ff, d)?,
            act,
        })
    }

    /// A fused `ffn_up` ([gate; up]) and `ffn_down` of layer `il`.
    pub fn fused_gated(l: &Loader, hp: &HParams, il: usize) -> Result<Ffn, ModelError> {
        let (d, n_ff) = (hp.n_embd, hp.n_ff[il]);
        Ok(Ffn::FusedGated { up: Proj::req(l, Layer::FfnUp, il, d, 2 * n_ff)?, down: Proj::req(l, Layer::FfnDown, il, n_ff, d)? })
    }

    /// `ffn_up`, `ffn_down` of layer `il` with GELU between them.
    pub fn seq_gelu(l: &Loader, hp: &HParams, il: usize) -> Result<Ffn, ModelError> {
        let (d, n_ff) = (hp.n_embd, hp.n_ff[il]);
        Ok(Ffn::Seq { up: Proj::req(l, Layer::FfnUp, il, d, n_ff)?, down: Proj::req(l, Layer::FfnDown, il, n_ff, d)? })
    }

    /// The matrices, for sizing the activation buffer.
    pub fn mats(&self) -> Vec<&Mat> {
        match self {
            Ffn::Gated { gate, up, down, .. } => vec![&gate.w, &up.w, &down.w],
            Ffn::FusedGated { up, down } | Ffn::Seq { up, down, .. } => vec![&up.w, &down.w],
            Ffn::Moe(m) => {
                let shared = m.shared.iter().flat_map(|s| s.iter().map(|p| &p.w));
                std::iter::once(&m.router).chain(&m.gate).chain(&m.up).chain(&m.down).chain(shared).collect()
            }
            Ffn::ChannelMix(c) => [&c.key, &c.value].into_iter().chain(c.receptance.as_ref().map(|r| &r.proj)).map(|p| &p.w).collect(),
            Ffn::None => vec![],
        }
    }

    /// Width of this FFN's hidden rows in [`FfnBufs`] (0: it keeps its own buffers or has none).
    pub fn width(&self) -> usize {
        match self {
            Ffn::Gated { gate, .. } => gate.w.rows,
            Ffn::FusedGated { up, .. } => up.w.rows / 2,
            Ffn::Seq { up, .. } => up.w.rows,
            Ffn::ChannelMix(c) => c.key.w.rows,
            Ffn::Moe(_) | Ffn::None => 0,
        }
    }

    /// `out (n, n_embd) = ffn(inp (n, n_embd))`.
    pub fn forward(&self, p: &Pass, inp: &[f32], n: usize, b: &mut FfnBufs, acts: &mut QuantizedActs, out: &mut [f32]) {
        let FfnBufs { gate, up, moe, xr } = b;
        let act: &[f32] = match self {
            Ffn::Gated { gate: wg, up: wu, act, .. } => {
                let n_ff = wg.w.rows;
                wg.apply(p.dev, inp, n, gate, acts);
                wu.apply(p.dev, inp, n, up, acts);
                match act {
                    Act::Silu => p.dev.swiglu(&mut gate[..n * n_ff], &up[..n * n_ff], p.rounding),
                    Act::Gelu => p.dev.geglu(&mut gate[..n * n_ff], &up[..n * n_ff]),
                    Act::SiluLimit(l) => p.dev.swiglu_limit(&mut gate[..n * n_ff], &up[..n * n_ff], *l, p.rounding),
                }
                gate
            }
            Ffn::FusedGated { up: wu, .. } => {
                let n_ff = wu.w.rows / 2;
                wu.apply(p.dev, inp, n, gate, acts);
                p.dev.swiglu_fused(&gate[..n * 2 * n_ff], n_ff, &mut up[..n * n_ff], p.rounding);
                up
            }
            Ffn::Seq { up: wu, .. } => {
                let n_ff = wu.w.rows;
                wu.apply(p.dev, inp, n, up, acts);
                p.dev.gelu(&mut up[..n * n_ff]);
                up
            }
            Ffn::Moe(m) => {
                let bufs = moe.as_mut().expect("MoE buffers are made for models with experts");
                return m.forward(p, inp, n, bufs, acts, out);
            }
            Ffn::ChannelMix(c) => return c.forward(p, inp, n, up, xr, acts, out),
            Ffn::None => {
                out[..n * p.hp.n_embd].fill(0.0);
                return;
            }
        };
        let (Ffn::Gated { down, .. } | Ffn::FusedGated { down, .. } | Ffn::Seq { down, .. }) = self else { unreachable!("the others returned above") };
        down.apply(p.dev, act, n, out, acts);
    }
}
