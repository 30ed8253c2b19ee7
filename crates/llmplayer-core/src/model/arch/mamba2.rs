//! mamba2 (llama.cpp `src/models/mamba2.cpp`): attention-free; every layer is an RMSNorm and
//! the Mamba-2 mixer (`blocks/ssm.rs`), with the grouped `ssm_norm`; no FFN.

use super::prelude::*;
use crate::model::blocks::ssm::{self, Mamba2};
use crate::model::hparams::SsmDims;

pub(super) const DEF: ArchDef = ArchDef { rope: RopeKind::Norm, norm: NormKind::Rms, hparams, load };

fn hparams(m: &Meta, hp: &mut HParams) -> Result<(), ModelError> {
    let d = SsmDims::read(m)?;
    hp.ssm = Some(d);
    hp.recurrent.fill(true);
    hp.state_len.fill(ssm::state_len(&d));
    Ok(())
}

fn load(l: &Loader, hp: &HParams) -> Result<Net, ModelError> {
    Net::load(l, hp, RopeFactors::None, |il| Layer::mixer_only(l, hp, il, Mixer::Mamba2(Mamba2::load(l, hp, il)?)))
}
