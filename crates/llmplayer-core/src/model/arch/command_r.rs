//! command-r (llama.cpp `src/models/command-r.cpp`, Cohere Command-R): LayerNorm (weight, no
//! bias), attention and FFN in parallel on the same normed input and added to the residual
//! together, NORM rope, the output tied to the embeddings and multiplied by `logit_scale`.

use super::prelude::*;
use crate::gguf::keys;
use crate::model::names::{Layer as T, Suffix};

pub(super) const DEF: ArchDef = ArchDef { rope: RopeKind::Norm, norm: NormKind::Layer, hparams, load };

fn hparams(m: &Meta, hp: &mut HParams) -> Result<(), ModelError> {
    hp.logit_mul = m.f32_opt(keys::LOGIT_SCALE)?.filter(|&s| s != 0.0);
    // llama.cpp gives the 64-layer and larger models (Command R+) a per-head q/k LayerNorm.
    if hp.n_layer >= 64 {
        return Err(m.bad(keys::BLOCK_COUNT, "Command R+ (per-head q/k LayerNorm) is not supported yet"));
    }
    Ok(())
}

fn load(l: &Loader, hp: &HParams) -> Result<Net, ModelError> {
    Net::load(l, hp, RopeFactors::None, |il| {
        let attn = Attention::load(l, hp, il, AttnOpts::default())?;
        Ok(Layer {
            attn_norm: Some(l.vec(&T::AttnNorm.name(il, Suffix::Weight), hp.n_embd)?),
            attn_norm_b: None,
            ffn_norm_b: None,
            mixer: Mixer::Attention(attn),
            attn_post_norm: None,
            ffn_norm: None,
            ffn: Ffn::gated(l, hp, il)?,
            ffn_post_norm: None,
            parallel: true,
            side: None,
        })
    })
}
