//! qwen2 (llama.cpp `src/models/qwen2.cpp`): pre-norm GQA attention (q/k/v biases) and a
//! gated FFN, NeoX rope.

use super::prelude::*;

pub(super) const DEF: ArchDef = ArchDef { rope: RopeKind::Neox, norm: NormKind::Rms, hparams: no_keys, load };

pub(super) fn load(l: &Loader, hp: &HParams) -> Result<Net, ModelError> {
    Net::load(l, hp, RopeFactors::None, |il| {
        let attn = Attention::load(l, hp, il, AttnOpts::default())?;
        Layer::new(l, hp, il, Norms::PRE, Mixer::Attention(attn), Ffn::gated(l, hp, il)?)
    })
}
