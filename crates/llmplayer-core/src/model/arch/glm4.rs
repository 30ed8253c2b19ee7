//! glm4 (llama.cpp `src/models/glm4.cpp`): norms before and after both blocks, a fused
//! [gate; up] FFN, GPT-J rope over part of the head.

use super::prelude::*;

pub(super) const DEF: ArchDef = ArchDef { rope: RopeKind::Norm, norm: NormKind::Rms, hparams: no_keys, load };

fn load(l: &Loader, hp: &HParams) -> Result<Net, ModelError> {
    Net::load(l, hp, RopeFactors::None, |il| {
        let attn = Attention::load(l, hp, il, AttnOpts::default())?;
        Layer::new(l, hp, il, Norms::BOTH, Mixer::Attention(attn), Ffn::fused_gated(l, hp, il)?)
    })
}
