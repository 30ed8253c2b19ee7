//! granite (llama.cpp `src/models/granite.cpp`): llama's layers with four multipliers
//! (embeddings, residual branches, attention scale, logits) and `rope.scaling.finetuned` as
//! its rope switch.

use super::prelude::*;
use crate::gguf::keys;

pub(super) const DEF: ArchDef = ArchDef { rope: RopeKind::Norm, norm: NormKind::Rms, hparams, load: super::llama::DEF.load };

fn hparams(m: &Meta, hp: &mut HParams) -> Result<(), ModelError> {
    // A multiplier of 0 means "not set", as in llama.cpp (`if (hparams.f_logit_scale)`...).
    let set = |v: Option<f32>| v.filter(|&s| s != 0.0);
    hp.logit_scale = set(Some(m.f32_req(keys::LOGIT_SCALE)?));
    hp.residual_scale = set(m.f32_opt(keys::RESIDUAL_SCALE)?);
    hp.embedding_scale = set(m.f32_opt(keys::EMBEDDING_SCALE)?);
    hp.attention_scale = set(m.f32_opt(keys::ATTENTION_SCALE)?);
    if let Some(v) = m.get(keys::ROPE_SCALING_FINETUNED) {
        hp.rope_everywhere = v.as_bool().ok_or_else(|| m.bad(keys::ROPE_SCALING_FINETUNED, "expected a bool"))?;
    }
    Ok(())
}
