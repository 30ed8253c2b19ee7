//! gemma (llama.cpp `src/models/gemma.cpp`, Gemma 1): embeddings scaled by sqrt(n_embd), q
//! scaled by 1/sqrt(head_dim) before attention, NeoX rope, a GeGLU FFN (ggml's table GELU),
//! the output tied to the embeddings.

use super::prelude::*;
use crate::model::blocks::ffn::Act;

pub(super) const DEF: ArchDef = ArchDef { rope: RopeKind::Neox, norm: NormKind::Rms, hparams, load };

fn hparams(_: &Meta, hp: &mut HParams) -> Result<(), ModelError> {
    hp.embedding_scale = Some((hp.n_embd as f32).sqrt());
    Ok(())
}

fn load(l: &Loader, hp: &HParams) -> Result<Net, ModelError> {
    Net::load(l, hp, RopeFactors::None, |il| {
        let attn = Attention::load(l, hp, il, AttnOpts { q_prescale: true, ..AttnOpts::default() })?;
        Layer::new(l, hp, il, Norms::PRE, Mixer::Attention(attn), Ffn::gated_act(l, hp, il, Act::Gelu)?)
    })
}
