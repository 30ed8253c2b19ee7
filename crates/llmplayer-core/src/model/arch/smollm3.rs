//! smollm3 (llama.cpp `src/models/smollm3.cpp`): qwen2's layers with rope skipped on every
//! fourth layer, GPT-J rope.

use super::prelude::*;

pub(super) const DEF: ArchDef = ArchDef { rope: RopeKind::Norm, norm: NormKind::Rms, hparams, load: super::qwen2::load };

fn hparams(_: &Meta, hp: &mut HParams) -> Result<(), ModelError> {
    hp.no_rope_layer_step = Some(4);
    Ok(())
}
