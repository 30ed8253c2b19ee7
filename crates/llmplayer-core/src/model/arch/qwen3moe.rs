//! qwen3moe (llama.cpp `src/models/qwen3moe.cpp`): qwen3's attention (RMSNorm on each q and
//! k head, NeoX rope) and a mixture-of-experts FFN in every layer: softmax router, top
//! `expert_used_count`, weights renormalized to sum 1, no shared expert.

use super::prelude::*;
use crate::model::blocks::moe::Moe;
use crate::model::hparams::MoeParams;

pub(super) const DEF: ArchDef = ArchDef { rope: RopeKind::Neox, norm: NormKind::Rms, hparams, load };

fn hparams(m: &Meta, hp: &mut HParams) -> Result<(), ModelError> {
    let mut moe = MoeParams::read(m, hp.n_layer, &hp.n_ff)?;
    // llama.cpp hard-codes the renormalization for qwen3moe and reads no weight scale.
    moe.routing.norm_w = true;
    hp.moe = Some(moe);
    Ok(())
}

fn load(l: &Loader, hp: &HParams) -> Result<Net, ModelError> {
    let moe = hp.moe.as_ref().expect("set by hparams");
    Net::load(l, hp, RopeFactors::None, |il| {
        let attn = Attention::load(l, hp, il, AttnOpts { qk_norm: QkNorm::PerHead, ..AttnOpts::default() })?;
        let ffn = Ffn::Moe(Moe::load(l, hp, il, moe)?);
        Layer::new(l, hp, il, Norms::PRE, Mixer::Attention(attn), ffn)
    })
}
