//! gpt-oss (llama.cpp `src/models/openai-moe.cpp`, OpenAI gpt-oss-20b/120b): attention with
//! q/k/v/output biases and a learned sink logit per head, a sliding window on all but the
//! last of each `sliding_window_pattern` layers (default 2: alternating), YaRN rope (NeoX),
//! and a mixture of experts in every layer: biased router, the chosen logits softmaxed among
//! themselves, biased experts with the clamped `swiglu_oai`. The FFN's pre-norm is stored as
//! `post_attention_norm`.

use super::prelude::*;
use crate::gguf::keys;
use crate::model::blocks::moe::Moe;
use crate::model::hparams::{ExpertAct, Gating, MoeParams, RopeSwa};

pub(super) const DEF: ArchDef = ArchDef { rope: RopeKind::Neox, norm: NormKind::Rms, hparams, load };

/// `swiglu_oai`'s constants, hard-coded in llama.cpp's `build_moe_ffn`.
const OAI_ALPHA: f32 = 1.702;
const OAI_LIMIT: f32 = 7.0;

fn hparams(m: &Meta, hp: &mut HParams) -> Result<(), ModelError> {
    let mut moe = MoeParams::read(m, hp.n_layer, &hp.n_ff)?;
    moe.routing.gating = Gating::SoftmaxWeight;
    moe.act = ExpertAct::SwigluOai { alpha: OAI_ALPHA, limit: OAI_LIMIT };
    hp.moe = Some(moe);
    // A window of 0 would hide every key; llama.cpp requires the key, files give 128.
    let n_swa = m.u32_req(keys::ATTENTION_SLIDING_WINDOW)? as usize;
    if n_swa == 0 {
        return Err(m.bad(keys::ATTENTION_SLIDING_WINDOW, "must be positive"));
    }
    let period = m.u32_opt(keys::ATTENTION_SLIDING_WINDOW_PATTERN)?.unwrap_or(2) as usize;
    hp.swa = Some((n_swa, hp.swa_pattern(period)));
    if let Some(base) = m.f32_opt(keys::ROPE_FREQ_BASE_SWA)? {
        hp.rope_swa = Some(RopeSwa { base, freq_scale: hp.rope_freq_scale, no_yarn: false });
    }
    hp.attention_scale = Some(1.0 / (hp.n_rot as f32).sqrt());
    Ok(())
}

fn load(l: &Loader, hp: &HParams) -> Result<Net, ModelError> {
    let moe = hp.moe.as_ref().expect("set by hparams");
    Net::load(l, hp, RopeFactors::None, |il| {
        let attn = Attention::load(l, hp, il, AttnOpts { sinks: true, ..AttnOpts::default() })?;
        let ffn = Ffn::Moe(Moe::load(l, hp, il, moe)?);
        Layer::new(l, hp, il, Norms::PRE_FFN_AS_POST_ATTN, Mixer::Attention(attn), ffn)
    })
}
