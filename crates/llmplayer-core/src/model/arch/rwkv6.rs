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
use super::rwkv7::rwkv_net;
use crate::model::blocks::rwkv7::{self, ChannelMix};
use crate::model::hparams::Rwkv6Dims;

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
    rwkv_net(l, hp, |il| Ok((Mixer::Rwkv6(Box::new(TimeMix::load(l, hp, il)?)), ChannelMix::load_gated(l, hp, il)?)))
}
