//! phi3 (llama.cpp `src/models/phi3.cpp`): fused qkv, q scaled before attention, a fused
//! [gate; up] FFN, LongRoPE long/short factors. llama.cpp ignores its
//! `attention.sliding_window` (Phi's SWA is disabled there), so this does too.

use super::prelude::*;

pub(super) const DEF: ArchDef = ArchDef { rope: RopeKind::Neox, norm: NormKind::Rms, hparams: no_keys, load };

fn load(l: &Loader, hp: &HParams) -> Result<Net, ModelError> {
    Net::load(l, hp, RopeFactors::LongShort, |il| {
        let attn = Attention::load(l, hp, il, AttnOpts { q_prescale: true, ..AttnOpts::default() })?;
        Layer::new(l, hp, il, Norms::PRE, Mixer::Attention(attn), Ffn::fused_gated(l, hp, il)?)
    })
}
