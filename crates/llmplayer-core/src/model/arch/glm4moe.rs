//! glm4moe (llama.cpp `src/models/glm4-moe.cpp`, GLM-4.5 / 4.5-Air / 4.6): attention with
//! q/k/v biases and, in some files, RMSNorm on each q and k head; partial NeoX rope; a dense
//! gated FFN in the first `leading_dense_block_count` layers, then experts: sigmoid scores,
//! selection by score + `exp_probs_b`, the unbiased scores as weights (renormalized and scaled
//! as the file says), plus shared experts. The FFN's pre-norm is stored as
//! `post_attention_norm`. The next-token-prediction block `block_count` includes is skipped
//! (`HParams::from_gguf`).

use super::prelude::*;
use crate::gguf::keys;
use crate::model::blocks::moe::Moe;
use crate::model::hparams::{Gating, MoeParams};

pub(super) const DEF: ArchDef = ArchDef { rope: RopeKind::Neox, norm: NormKind::Rms, hparams, load };

fn hparams(m: &Meta, hp: &mut HParams) -> Result<(), ModelError> {
    let mut moe = MoeParams::read(m, hp.n_layer, &hp.n_ff)?;
    moe.read_routing(m, Gating::Sigmoid)?;
    moe.n_shared = m.u32_req(keys::EXPERT_SHARED_COUNT)? as usize;
    moe.n_dense_lead = m.u32_opt(keys::LEADING_DENSE_BLOCK_COUNT)?.unwrap_or(0) as usize;
    if moe.n_dense_lead > 0 && hp.n_ff[..moe.n_dense_lead.min(hp.n_layer)].contains(&0) {
        return Err(ModelError::MissingKey(m.key(keys::FEED_FORWARD_LENGTH)));
    }
    hp.moe = Some(moe);
    Ok(())
}

fn load(l: &Loader, hp: &HParams) -> Result<Net, ModelError> {
    let moe = hp.moe.as_ref().expect("set by hparams");
    Net::load(l, hp, RopeFactors::None, |il| {
        let attn = Attention::load(l, hp, il, AttnOpts { qk_norm: QkNorm::PerHeadIfPresent, ..AttnOpts::default() })?;
        let ffn = if moe.is_moe_layer(il) { Ffn::Moe(Moe::load(l, hp, il, moe)?) } else { Ffn::gated(l, hp, il)? };
        Layer::new(l, hp, il, Norms::PRE_FFN_AS_POST_ATTN, Mixer::Attention(attn), ffn)
    })
}
