//! cohere2 (llama.cpp `src/models/cohere2.cpp`, Command R7B): command-r's parallel LayerNorm
//! layers with a sliding window on all but the last layer of each `sliding_window_pattern`
//! (default 4); only the windowed layers apply rope, the global ones none (NoPE).

use super::prelude::*;
use crate::gguf::keys;

pub(super) const DEF: ArchDef = ArchDef { rope: RopeKind::Norm, norm: NormKind::Layer, hparams, load: super::command_r::DEF.load };

fn hparams(m: &Meta, hp: &mut HParams) -> Result<(), ModelError> {
    hp.logit_mul = Some(m.f32_req(keys::LOGIT_SCALE)?).filter(|&s| s != 0.0);
    let n_swa = m.u32_req(keys::ATTENTION_SLIDING_WINDOW)? as usize;
    if n_swa == 0 {
        return Err(m.bad(keys::ATTENTION_SLIDING_WINDOW, "must be positive"));
    }
    let period = m.u32_opt(keys::ATTENTION_SLIDING_WINDOW_PATTERN)?.unwrap_or(4) as usize;
    hp.swa = Some((n_swa, hp.swa_pattern(period)));
    hp.rope_windowed_only = true;
    Ok(())
}
