//! mistral3 (llama.cpp `src/models/mistral3.cpp`): llama's layers, plus YaRN keys of its own
//! and the Llama-4 attention temperature.

use super::prelude::*;
use crate::gguf::keys;
use crate::model::hparams::AttnTemp;

pub(super) const DEF: ArchDef = ArchDef { rope: RopeKind::Norm, norm: NormKind::Rms, hparams, load: super::llama::DEF.load };

fn hparams(m: &Meta, hp: &mut HParams) -> Result<(), ModelError> {
    let temp_scale = m.f32_opt(keys::ATTENTION_TEMPERATURE_SCALE)?.unwrap_or(0.0);
    hp.yarn_beta_fast = m.f32_opt(keys::ROPE_SCALING_YARN_BETA_FAST)?.unwrap_or(hp.yarn_beta_fast);
    hp.yarn_beta_slow = m.f32_opt(keys::ROPE_SCALING_YARN_BETA_SLOW)?.unwrap_or(hp.yarn_beta_slow);
    hp.yarn_log_mul = m.f32_opt(keys::ROPE_SCALING_YARN_LOG_MUL)?.unwrap_or(0.0);
    if temp_scale != 0.0 {
        hp.attn_temp = Some(AttnTemp::every_layer(temp_scale, hp.n_ctx_orig_yarn));
    }
    Ok(())
}
