//! gemma3 (llama.cpp `src/models/gemma3.cpp`, the text model): gemma2's layers without
//! soft-capping of scores, with RMSNorm on each q and k head, and (when the file gives a
//! `sliding_window`) windowed layers on all but the last of each `sliding_window_pattern`
//! (default 6: five local, one global) with a rope of their own (`rope.freq_base_swa`,
//! default 10000, unscaled) while the global layers take the file's base and scaling.

use super::prelude::*;
use crate::gguf::keys;
use crate::model::blocks::ffn::Act;
use crate::model::hparams::RopeSwa;

pub(super) const DEF: ArchDef = ArchDef { rope: RopeKind::Neox, norm: NormKind::Rms, hparams, load };

fn hparams(m: &Meta, hp: &mut HParams) -> Result<(), ModelError> {
    hp.embedding_scale = Some((hp.n_embd as f32).sqrt());
    if let Some(n_swa) = m.u32_opt(keys::ATTENTION_SLIDING_WINDOW)?.filter(|&w| w > 0) {
        let period = m.u32_opt(keys::ATTENTION_SLIDING_WINDOW_PATTERN)?.unwrap_or(6) as usize;
        hp.swa = Some((n_swa as usize, hp.swa_pattern(period)));
        let base = m.f32_opt(keys::ROPE_FREQ_BASE_SWA)?.unwrap_or(10000.0);
        hp.rope_swa = Some(RopeSwa { base, freq_scale: 1.0, no_yarn: false });
    }
    hp.final_softcap = m.f32_opt(keys::FINAL_LOGIT_SOFTCAPPING)?.filter(|&c| c != 0.0);
    let head = if hp.n_layer == 62 { hp.n_embd / hp.n_head[0] } else { hp.head_dim_k };
    hp.attention_scale = Some(1.0 / (head as f32).sqrt());
    Ok(())
}

fn load(l: &Loader, hp: &HParams) -> Result<Net, ModelError> {
    Net::load(l, hp, RopeFactors::None, |il| {
        let opts = AttnOpts { qk_norm: QkNorm::PerHead, q_prescale: true, ..AttnOpts::default() };
        let attn = Attention::load(l, hp, il, opts)?;
        Layer::new(l, hp, il, Norms::BOTH, Mixer::Attention(attn), Ffn::gated_act(l, hp, il, Act::Gelu)?)
    })
}
