//! falcon-h1 (llama.cpp `src/models/falcon-h1.cpp`): every layer runs attention (NeoX rope)
//! and a Mamba-2 mixer side by side on the same RMS-normed input and adds both outputs to
//! the residual, then a SwiGLU FFN. The Mamba-2 mixer has no `ssm_norm`; the muP multipliers
//! are folded into the weights by the converter. The FFN norm is `blk.N.ffn_norm`, without
//! a `.weight` suffix.

use super::prelude::*;
use crate::model::blocks::ssm::{self, Mamba2};
use crate::model::hparams::SsmDims;
use crate::model::names::{Layer as T, Suffix};

pub(super) const DEF: ArchDef = ArchDef { rope: RopeKind::Neox, norm: NormKind::Rms, hparams, load };

fn hparams(m: &Meta, hp: &mut HParams) -> Result<(), ModelError> {
    let d = SsmDims::read(m)?;
    hp.ssm = Some(d);
    hp.state_len.fill(ssm::state_len(&d));
    Ok(())
}

fn load(l: &Loader, hp: &HParams) -> Result<Net, ModelError> {
    Net::load(l, hp, RopeFactors::None, |il| {
        let attn = Attention::load(l, hp, il, AttnOpts::default())?;
        let mut layer = Layer::mixer_only(l, hp, il, Mixer::Attention(attn))?;
        layer.side = Some(Mixer::Mamba2(Mamba2::load(l, hp, il)?));
        layer.ffn_norm = Some(l.vec(&T::FfnNorm.name(il, Suffix::None), hp.n_embd)?);
        layer.ffn = Ffn::gated(l, hp, il)?;
        Ok(layer)
    })
}
