//! rwkv7 (llama.cpp `src/models/rwkv7.cpp`): attention-free. The embeddings go through
//! `token_embd_norm`; every layer is a LayerNorm, the RWKV-7 time mix and the residual add,
//! then the LayerNorm `attn_norm_2`, the channel mix and the residual add
//! (`blocks/rwkv7.rs`). Every norm is a LayerNorm with a bias, the output's too. The head
//! size and LoRA ranks are the `wkv.*` and `attention.*_lora_rank` keys; llama.cpp requires
//! two token shifts per layer (`token_shift_count`, 2 when absent).

use super::prelude::*;
use crate::gguf::keys;
use crate::model::blocks::rwkv7::{self, ChannelMix, TimeMix};
use crate::model::hparams::RwkvDims;
use crate::model::names::{Global, Layer as T, Suffix};

pub(super) const DEF: ArchDef = ArchDef { rope: RopeKind::Norm, norm: NormKind::Layer, hparams, load };

fn hparams(m: &Meta, hp: &mut HParams) -> Result<(), ModelError> {
    let dims = RwkvDims::read(m, hp.n_embd)?;
    hp.rwkv = Some(dims);
    hp.state_len.fill(rwkv7::state_len(hp.n_embd, dims.head_size));
    if m.u32_opt(keys::TOKEN_SHIFT_COUNT)?.is_some_and(|n| n != 2) {
        return Err(m.bad(keys::TOKEN_SHIFT_COUNT, "RWKV-7 shifts two rows per layer"));
    }
    hp.recurrent.fill(true);
    Ok(())
}

fn load(l: &Loader, hp: &HParams) -> Result<Net, ModelError> {
    rwkv_net(l, hp, |il| Ok((Mixer::Rwkv7(Box::new(TimeMix::load(l, hp, il)?)), ChannelMix::load(l, hp, il)?)))
}

/// The layout RWKV-6 and RWKV-7 share: `token_embd_norm`, then per layer a LayerNorm, the
/// time mix `block(il)` gives with its channel mix, each after a LayerNorm with a bias
/// (`attn_norm`, `attn_norm_2`); the output norm has a bias too.
pub(super) fn rwkv_net(l: &Loader, hp: &HParams, block: impl Fn(usize) -> Result<(Mixer, ChannelMix), ModelError>) -> Result<Net, ModelError> {
    let d = hp.n_embd;
    let mut net = Net::load(l, hp, RopeFactors::None, |il| {
        let norm = |t: T, s: Suffix| l.vec(&t.name(il, s), d).map(Some);
        let (mixer, channel_mix) = block(il)?;
        let mut layer = Layer::mixer_only(l, hp, il, mixer)?;
        layer.attn_norm_b = norm(T::AttnNorm, Suffix::Bias)?;
        layer.ffn_norm = norm(T::AttnNorm2, Suffix::Weight)?;
        layer.ffn_norm_b = norm(T::AttnNorm2, Suffix::Bias)?;
        layer.ffn = Ffn::ChannelMix(channel_mix);
        Ok(layer)
    })?;
    net.token_embd_norm = Some(l.vec(&Global::TokenEmbdNorm.name(Suffix::Weight), d)?);
    net.token_embd_norm_b = Some(l.vec(&Global::TokenEmbdNorm.name(Suffix::Bias), d)?);
    if net.output_norm_b.is_none() {
        return Err(ModelError::MissingTensor(Global::OutputNorm.name(Suffix::Bias)));
    }
    Ok(net)
}
