//! starcoder2 (llama.cpp `src/models/starcoder2.cpp`): LayerNorms with biases, biases on every
//! projection, NeoX rope, a non-gated GELU FFN (`down(gelu(up x))`, ggml's table GELU).

use super::prelude::*;
use crate::model::names::{Layer as T, Suffix};

pub(super) const DEF: ArchDef = ArchDef { rope: RopeKind::Neox, norm: NormKind::Layer, hparams: no_keys, load };

fn load(l: &Loader, hp: &HParams) -> Result<Net, ModelError> {
    Net::load(l, hp, RopeFactors::None, |il| {
        let attn = Attention::load(l, hp, il, AttnOpts::default())?;
        let mut layer = Layer::new(l, hp, il, Norms::PRE, Mixer::Attention(attn), Ffn::seq_gelu(l, hp, il)?)?;
        let bias = |t: T| l.vec(&t.name(il, Suffix::Bias), hp.n_embd);
        layer.attn_norm_b = Some(bias(T::AttnNorm)?);
        layer.ffn_norm_b = Some(bias(T::FfnNorm)?);
        Ok(layer)
    })
}
