//! olmo2 (llama.cpp `src/models/olmo2.cpp`): norms only after each block, RMSNorm over the
//! whole q and k vectors.

use super::prelude::*;
use crate::gguf::keys;

pub(super) const DEF: ArchDef = ArchDef { rope: RopeKind::Neox, hparams, load };

fn hparams(m: &Meta, _: &mut HParams) -> Result<(), ModelError> {
    // OLMo-3 style sliding-window layers need a windowed mask: not yet.
    if m.u32_opt(keys::ATTENTION_SLIDING_WINDOW)?.is_some_and(|w| w > 0) {
        return Err(m.bad(keys::ATTENTION_SLIDING_WINDOW, "sliding-window attention is not supported yet"));
    }
    Ok(())
}

fn load(l: &Loader, hp: &HParams) -> Result<Net, ModelError> {
    Net::load(l, hp, RopeFactors::None, |il| {
        let attn = Attention::load(l, hp, il, AttnOpts { qk_norm: QkNorm::Full, ..AttnOpts::default() })?;
        Layer::new(l, hp, il, Norms::POST, Mixer::Attention(attn), Ffn::gated(l, hp, il)?)
    })
}
