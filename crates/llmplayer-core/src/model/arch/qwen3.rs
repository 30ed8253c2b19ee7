//! qwen3 (llama.cpp `src/models/qwen3.cpp`): qwen2 with RMSNorm on each q and k head.

use super::prelude::*;

pub(super) const DEF: ArchDef = ArchDef { rope: RopeKind::Neox, norm: NormKind::Rms, hparams: no_keys, load };

fn load(l: &Loader, hp: &HParams) -> Result<Net, ModelError> {
    Net::load(l, hp, RopeFactors::None, |il| {
        let attn = Attention::load(l, hp, il, AttnOpts { qk_norm: QkNorm::PerHead, ..AttnOpts::default() })?;
        Layer::new(l, hp, il, Norms::PRE, Mixer::Attention(attn), Ffn::gated(l, hp, il)?)
    })
}
