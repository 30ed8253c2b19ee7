//! step35 (llama.cpp `src/models/step35.cpp`, Step-3.5-Flash): per-layer head counts; a
//! sliding window on the layers `sliding_window_pattern` marks, which have a rope of their own
//! (`rope.freq_base_swa`, unscaled, without `rope_freqs`) over the whole head, while the other
//! layers rotate half of it with the file's base and `rope_freqs` (NeoX pairs both); RMSNorm
//! on each q and k head where the file has the weights; each head's output times
//! `sigmoid(attn_gate · x)`; scale 1/sqrt(head_dim). A layer with a router (`ffn_gate_inp`)
//! has experts: sigmoid scores, selection by score + `exp_probs_b`, weights renormalized and
//! scaled as the file says, plus a shared expert always added; the others (the leading
//! layers) a dense gated FFN. Where `swiglu_clamp_exp` / `swiglu_clamp_shexp` give a layer a
//! positive limit, the routed / shared (and dense) SwiGLU is clamped: silu(gate) above, up
//! both ways. The next-token-prediction block `block_count` includes is skipped
//! (`HParams::from_gguf`).

use super::prelude::*;
use crate::gguf::keys;
use crate::model::blocks::ffn::Act;
use crate::model::blocks::moe::Moe;
use crate::model::hparams::{Gating, MoeParams, RopeSwa, SwaHeads};
use crate::model::names::{Layer as T, Suffix};

pub(super) const DEF: ArchDef = ArchDef { rope: RopeKind::Neox, norm: NormKind::Rms, hparams, load };

/// llama.cpp's default base of the windowed layers' rope (`rope_freq_base_train_swa`).
const SWA_BASE: f32 = 10000.0;
/// llama.cpp clamps a SwiGLU whose limit exceeds this.
const LIMIT_EPS: f32 = 1e-6;

fn hparams(m: &Meta, hp: &mut HParams) -> Result<(), ModelError> {
    // llama.cpp: the windowed layers rotate n_rot dims (or rope.dimension_count_swa), the
    // others half of n_rot.
    let n_rot_swa = m.u32_opt(keys::ROPE_DIMENSION_COUNT_SWA)?.map_or(hp.n_rot, |v| v as usize);
    if n_rot_swa > hp.head_dim_k || !n_rot_swa.is_multiple_of(2) {
        return Err(m.bad(keys::ROPE_DIMENSION_COUNT_SWA, &format!("{n_rot_swa} rotary dims for head size {}", hp.head_dim_k)));
    }
    if !hp.n_rot.is_multiple_of(4) {
        return Err(m.bad(keys::ROPE_DIMENSION_COUNT, &format!("{} rotary dims do not halve into pairs", hp.n_rot)));
    }
    hp.n_rot /= 2;
    hp.swa_heads = Some(SwaHeads { head_dim_k: hp.head_dim_k, head_dim_v: hp.head_dim_v, n_rot: n_rot_swa });
    hp.rope_factors_full_only = true;
    let base = m.f32_opt(keys::ROPE_FREQ_BASE_SWA)?.unwrap_or(SWA_BASE);
    hp.rope_swa = Some(RopeSwa { base, freq_scale: 1.0, no_yarn: false });

    let n_swa = m.u32_req(keys::ATTENTION_SLIDING_WINDOW)? as usize;
    if n_swa == 0 {
        return Err(m.bad(keys::ATTENTION_SLIDING_WINDOW, "must be positive"));
    }
    hp.swa = Some((n_swa, m.per_layer_flags(keys::ATTENTION_SLIDING_WINDOW_PATTERN, hp.n_layer)?));
    hp.attention_scale = Some(1.0 / (hp.head_dim_k as f32).sqrt());

    let mut moe = MoeParams::read(m, hp.n_layer, &hp.n_ff)?;
    moe.read_routing(m, Gating::Sigmoid)?;
    // One shared expert in every MoE layer, `expert_shared_feed_forward_length` wide.
    let key = keys::EXPERT_SHARED_FEED_FORWARD_LENGTH;
    let shared = m.per_layer(key, hp.n_layer)?.ok_or_else(|| ModelError::MissingKey(m.key(key)))?;
    if shared.contains(&0) {
        return Err(m.bad(key, "the shared expert needs a width"));
    }
    moe.n_shared = 1;
    moe.n_ff_shared = Some(shared);
    moe.swiglu_limit = m.per_layer_f32(keys::SWIGLU_CLAMP_EXP, hp.n_layer)?;
    moe.swiglu_limit_shared = m.per_layer_f32(keys::SWIGLU_CLAMP_SHEXP, hp.n_layer)?;
    hp.moe = Some(moe);
    Ok(())
}

fn load(l: &Loader, hp: &HParams) -> Result<Net, ModelError> {
    let moe = hp.moe.as_ref().expect("set by hparams");
    Net::load(l, hp, RopeFactors::FreqsOrLongRope, |il| {
        let opts = AttnOpts { qk_norm: QkNorm::PerHeadIfPresent, head_gate: true, ..AttnOpts::default() };
        let attn = Attention::load(l, hp, il, opts)?;
        // llama.cpp: experts where the layer has a router, else the dense FFN.
        let router = T::FfnGateInp.name(il, Suffix::Weight);
        let ffn = if l.mat_opt(&router, hp.n_embd, Some(moe.n_expert))?.is_some() {
            Ffn::Moe(Moe::load(l, hp, il, moe)?)
        } else {
            let limit = moe.swiglu_limit_shared.as_ref().map(|v| v[il]).filter(|&x| x > LIMIT_EPS);
            Ffn::gated_act(l, hp, il, limit.map_or(Act::Silu, Act::SiluLimit))?
        };
        Layer::new(l, hp, il, Norms::PRE, Mixer::Attention(attn), ffn)
    })
}
