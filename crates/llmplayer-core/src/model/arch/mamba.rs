//! mamba (llama.cpp `src/models/mamba.cpp`, `build_mamba_layer`): Mamba-1, attention-free;
//! every layer is an RMSNorm and the Mamba-1 mixer (`blocks/mamba.rs`), no FFN; the output
//! head is tied to the embeddings where the file has no `output`. falcon-mamba is the same
//! architecture with `ssm.dt_b_c_rms` set.

use super::prelude::*;
use crate::model::blocks::mamba::{self, Mamba};
use crate::model::hparams::MambaDims;

pub(super) const DEF: ArchDef = ArchDef { rope: RopeKind::Norm, norm: NormKind::Rms, hparams, load };

fn hparams(m: &Meta, hp: &mut HParams) -> Result<(), ModelError> {
    let d = MambaDims::read(m)?;
    hp.mamba = Some(d);
    hp.recurrent.fill(true);
    hp.state_len.fill(mamba::state_len(&d));
    Ok(())
}

fn load(l: &Loader, hp: &HParams) -> Result<Net, ModelError> {
    Net::load(l, hp, RopeFactors::None, |il| Layer::mixer_only(l, hp, il, Mixer::Mamba(Mamba::load(l, hp, il)?)))
}
