//! llama (llama.cpp `src/models/llama.cpp`): pre-norm GQA attention and a gated FFN; rope
//! over the whole head, Llama-3 `rope_freqs` or LongRoPE factors.

use super::prelude::*;

pub(super) const DEF: ArchDef = ArchDef { rope: RopeKind::Norm, norm: NormKind::Rms, hparams, load };

fn hparams(m: &Meta, hp: &mut HParams) -> Result<(), ModelError> {
    hp.require_full_rot(m)
}

fn load(l: &Loader, hp: &HParams) -> Result<Net, ModelError> {
    Net::load(l, hp, RopeFactors::FreqsOrLongRope, |il| {
        let attn = Attention::load(l, hp, il, AttnOpts::default())?;
        Layer::new(l, hp, il, Norms::PRE, Mixer::Attention(attn), Ffn::gated(l, hp, il)?)
    })
}
