//! gemma2 (llama.cpp `src/models/gemma2.cpp`): gemma's layers with norms before and after
//! attention and FFN, attention-score and final-logit soft-capping, and a sliding window on
//! every layer but the last of each `sliding_window_pattern` (2: alternating, the first
//! windowed). q is scaled by 1/sqrt(head_dim), or 1/sqrt(n_embd / n_head) for the 46-layer
//! 27B, as llama.cpp does.
//!
//! The windowed layers keep every position in the cache (as llama.cpp's `swa_full`); their
//! queries see the last `sliding_window` keys.

use super::prelude::*;
use crate::gguf::keys;
use crate::model::blocks::ffn::Act;

pub(super) const DEF: ArchDef = ArchDef { rope: RopeKind::Neox, norm: NormKind::Rms, hparams, load };

fn hparams(m: &Meta, hp: &mut HParams) -> Result<(), ModelError> {
    hp.embedding_scale = Some((hp.n_embd as f32).sqrt());
    let period = m.u32_opt(keys::ATTENTION_SLIDING_WINDOW_PATTERN)?.unwrap_or(2) as usize;
    let n_swa = m.u32_opt(keys::ATTENTION_SLIDING_WINDOW)?.unwrap_or(4096) as usize;
    if n_swa == 0 {
        return Err(m.bad(keys::ATTENTION_SLIDING_WINDOW, "must be positive"));
    }
    hp.swa = Some((n_swa, hp.swa_pattern(period)));
    // One rope for every layer: a windowed layer's own base would need a second.
    if m.f32_opt(keys::ROPE_FREQ_BASE_SWA)?.is_some_and(|b| b != hp.rope_freq_base) {
        return Err(m.bad(keys::ROPE_FREQ_BASE_SWA, "a rope base of its own for windowed layers is not supported yet"));
    }
    hp.attn_softcap = Some(m.f32_opt(keys::ATTN_LOGIT_SOFTCAPPING)?.unwrap_or(50.0));
    hp.final_softcap = Some(m.f32_opt(keys::FINAL_LOGIT_SOFTCAPPING)?.unwrap_or(30.0));
    let head = if hp.n_layer == 46 { hp.n_embd / hp.n_head[0] } else { hp.head_dim_k };
    hp.attention_scale = Some(1.0 / (head as f32).sqrt());
    Ok(())
}

fn load(l: &Loader, hp: &HParams) -> Result<Net, ModelError> {
    Net::load(l, hp, RopeFactors::None, |il| {
        let attn = Attention::load(l, hp, il, AttnOpts { q_prescale: true, ..AttnOpts::default() })?;
        Layer::new(l, hp, il, Norms::BOTH, Mixer::Attention(attn), Ffn::gated_act(l, hp, il, Act::Gelu)?)
    })
}
