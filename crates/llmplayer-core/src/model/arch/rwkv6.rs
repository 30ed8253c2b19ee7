//! rwkv6 (llama.cpp `src/models/rwkv6.cpp`): RWKV-7's layout with the RWKV-6 "Finch" time
//! mix (`blocks/rwkv6.rs`) and the channel mix gated by its receptance. The embeddings go
//! through `token_embd_norm`; every layer is a LayerNorm, the time mix and the residual add,
//! then the LayerNorm `attn_norm_2`, the channel mix and the residual add; after every
//! `rescale_every_n_layers`-th layer the residual stream is halved. Every norm is a
//! LayerNorm with a bias. The head size is `wkv.head_size`, the LoRA ranks
//! `time_mix_extra_dim` and `time_decay_extra_dim`; llama.cpp requires two token shifts per
//! layer (`token_shift_count`, 2 when absent).

use super::prelude::*;
use crate::gguf::keys;
use crate::model::blocks::rwkv6::TimeMix;
use crate::model::blocks::rwkv7::{self, ChannelMix};
use crate::model::hparams::Rwkv6Dims;
use crate::model::names::{Global, Layer as T, Suffix};

pub(super) const DEF: ArchDef = ArchDef { rope: RopeKind::Norm, norm: NormKind::Layer, hparams, load };

fn hparams(m: &Meta, hp: &mut HParams) -> Result<(), ModelError> {
    let get = |k: &str| -> Result<usize, ModelError> {
        let v = m.u32_req(k)? as usize;
        if v == 0 || v > 1 << 16 {
            return Err(m.bad(k, "must be between 1 and 2^16"));
        }
        Ok(v)
    };
    let dims = Rwkv6Dims { head_size: get(keys::WKV_HEAD_SIZE)?, mix_rank: get(keys::TIME_MIX_EXTRA_DIM)?, decay_rank: get(keys::TIME_DECAY_EXTRA_DIM)? };
    if !hp.n_embd.is_multiple_of(dims.head_size) {
        return Err(m.bad(keys::WKV_HEAD_SIZE, &format!("{} does not divide the embedding width {}", dims.head_size, hp.n_embd)));
    }
    if m.u32_opt(keys::TOKEN_SHIFT_COUNT)?.is_some_and(|n| n != 2) {
        return Err(m.bad(keys::TOKEN_SHIFT_COUNT, "RWKV-6 shifts two rows per layer"));
    }
    // 0 (or absent): never rescaled.
    hp.rescale_every = m.u32_opt(keys::RESCALE_EVERY_N_LAYERS)?.filter(|&n| n != 0).map(|n| n as usize);
    hp.rwkv6 = Some(dims);
    hp.state_len.fill(rwkv7::state_len(hp.n_embd, dims.head_size));
    hp.recurrent.fill(true);
    Ok(())
}

fn load(l: &Loader, hp: &HParams) -> Result<Net, ModelError> {
    let d = hp.n_embd;
    let mut net = Net::load(l, hp, RopeFactors::None, |il| {
        let norm = |t: T, s: Suffix| l.vec(&t.name(il, s), d).map(Some);
        let mut layer = Layer::mixer_only(l, hp, il, Mixer::Rwkv6(Box::new(TimeMix::load(l, hp, il)?)))?;
        layer.attn_norm_b = norm(T::AttnNorm, Suffix::Bias)?;
        layer.ffn_norm = norm(T::AttnNorm2, Suffix::Weight)?;
        layer.ffn_norm_b = norm(T::AttnNorm2, Suffix::Bias)?;
        layer.ffn = Ffn::ChannelMix(ChannelMix::load_gated(l, hp, il)?);
        Ok(layer)
    })?;
    net.token_embd_norm = Some(l.vec(&Global::TokenEmbdNorm.name(Suffix::Weight), d)?);
    net.token_embd_norm_b = Some(l.vec(&Global::TokenEmbdNorm.name(Suffix::Bias), d)?);
    if net.output_norm_b.is_none() {
        return Err(ModelError::MissingTensor(Global::OutputNorm.name(Suffix::Bias)));
    }
    Ok(net)
}
