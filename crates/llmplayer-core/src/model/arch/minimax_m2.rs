//! minimax-m2 (llama.cpp `src/models/minimax-m2.cpp`, MiniMax-M2): RMSNorm over the whole q
//! and k projections before they split into heads, partial NeoX rope, and experts in every
//! layer of `feed_forward_length` width: gating as the file says (sigmoid in real files),
//! selection by score + `exp_probs_b`, weights renormalized (hard-coded), no shared expert.

use super::prelude::*;
use crate::gguf::keys;
use crate::model::blocks::moe::Moe;
use crate::model::hparams::{Gating, MoeParams};

pub(super) const DEF: ArchDef = ArchDef { rope: RopeKind::Neox, norm: NormKind::Rms, hparams, load };

fn hparams(m: &Meta, hp: &mut HParams) -> Result<(), ModelError> {
    let mut moe = MoeParams::read(m, hp.n_layer, &hp.n_ff)?;
    // llama.cpp sizes the experts by feed_forward_length, and has no default gating here.
    moe.n_ff = hp.n_ff.clone();
    if moe.n_ff.contains(&0) {
        return Err(ModelError::MissingKey(m.key(keys::FEED_FORWARD_LENGTH)));
    }
    m.u32_req(keys::EXPERT_GATING_FUNC)?;
    moe.read_gating(m, Gating::Sigmoid)?;
    moe.routing.norm_w = true;
    hp.moe = Some(moe);
    Ok(())
}

fn load(l: &Loader, hp: &HParams) -> Result<Net, ModelError> {
    let moe = hp.moe.as_ref().expect("set by hparams");
    Net::load(l, hp, RopeFactors::None, |il| {
        let attn = Attention::load(l, hp, il, AttnOpts { qk_norm: QkNorm::Full, ..AttnOpts::default() })?;
        Layer::new(l, hp, il, Norms::PRE, Mixer::Attention(attn), Ffn::Moe(Moe::load(l, hp, il, moe)?))
    })
}
