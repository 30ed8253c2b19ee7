//! kimi-linear (llama.cpp `src/models/kimi-linear.cpp`, Kimi-Linear-48B-A3B): Kimi delta
//! attention (`blocks/kda.rs`) in the layers whose `head_count_kv` is 0, multi-head latent
//! attention (`blocks/mla.rs`, plain `attn_q`, split `attn_k_b` / `attn_v_b`) without rope in
//! the others; a dense gated FFN in the first `leading_dense_block_count` layers, a mixture
//! of experts after them (the router's gating function as the file says, selection with the
//! `exp_probs_b` bias, weights always renormalized then scaled by `expert_weights_scale`,
//! plus `expert_shared_count` shared experts).

use super::prelude::*;
use crate::gguf::keys;
use crate::model::blocks::kda::{self, Kda};
use crate::model::blocks::mla::Mla;
use crate::model::blocks::moe::Moe;
use crate::model::hparams::{Gating, MlaDims, MoeParams, SsmDims};

/// rope: none in llama.cpp (`LLAMA_ROPE_TYPE_NONE`); `rope_everywhere` is off below.
pub(super) const DEF: ArchDef = ArchDef { rope: RopeKind::Norm, norm: NormKind::Rms, hparams, load };

fn hparams(m: &Meta, hp: &mut HParams) -> Result<(), ModelError> {
    hp.rope_everywhere = false;
    // KDA layers: n_head heads of kda.head_dim for q, k and v; a conv of ssm.conv_kernel taps.
    let head_dim = m.u32_req(keys::KDA_HEAD_DIM)? as usize;
    let d_conv = m.u32_req(keys::SSM_CONV_KERNEL)? as usize;
    if head_dim == 0 || head_dim > 1 << 12 || d_conv == 0 || d_conv > 64 {
        return Err(m.bad(keys::KDA_HEAD_DIM, &format!("head size {head_dim} with a conv of {d_conv} taps")));
    }
    hp.recurrent = hp.n_head_kv.iter().map(|&h| h == 0).collect();
    let n_head = hp.n_head[0];
    if hp.n_head.iter().any(|&h| h != n_head) || n_head == 0 {
        return Err(m.bad(keys::HEAD_COUNT, "every layer needs the same positive head count"));
    }
    let d = SsmDims { d_conv, d_inner: n_head * head_dim, d_state: head_dim, n_head, n_group: n_head };
    hp.ssm = Some(d);
    hp.state_len = hp.recurrent.iter().map(|&r| if r { kda::state_len(&d) } else { 0 }).collect();

    // MoE: llama.cpp requires the gating function and the shared count, renormalizes always.
    let mut moe = MoeParams::read(m, hp.n_layer, &hp.n_ff)?;
    if m.get(keys::EXPERT_GATING_FUNC).is_none() {
        return Err(ModelError::MissingKey(m.key(keys::EXPERT_GATING_FUNC)));
    }
    moe.read_gating(m, Gating::Softmax)?;
    moe.routing.norm_w = true;
    moe.routing.w_scale = m.f32_opt(keys::EXPERT_WEIGHTS_SCALE)?.filter(|&s| s != 0.0 && s != 1.0);
    moe.n_shared = m.u32_req(keys::EXPERT_SHARED_COUNT)? as usize;
    moe.n_dense_lead = m.u32_opt(keys::LEADING_DENSE_BLOCK_COUNT)?.unwrap_or(0) as usize;
    if moe.n_dense_lead > hp.n_layer {
        return Err(m.bad(keys::LEADING_DENSE_BLOCK_COUNT, &format!("more dense layers than the {} layers", hp.n_layer)));
    }
    if hp.n_ff[..moe.n_dense_lead].contains(&0) {
        return Err(ModelError::MissingKey(m.key(keys::FEED_FORWARD_LENGTH)));
    }
    hp.moe = Some(moe);

    // MLA layers: the latent layout only (one cached row [latent | k_pe] per position; V is
    // the latent, so the cache's V head is kv_lora wide whatever value_length says).
    if hp.recurrent.iter().all(|&r| r) {
        return Ok(());
    }
    let kv_lora = m.u32_req(keys::KV_LORA_RANK)? as usize;
    let (dk, dv) = (m.u32_req(keys::KEY_LENGTH_MLA)? as usize, m.u32_req(keys::VALUE_LENGTH_MLA)? as usize);
    if kv_lora == 0 || dk <= hp.n_rot || dv == 0 {
        return Err(m.bad(keys::KEY_LENGTH_MLA, &format!("kv_lora_rank {kv_lora}, q/k head {dk} with {} rope dims, v head {dv}", hp.n_rot)));
    }
    if hp.head_dim_k != kv_lora + hp.n_rot || (0..hp.n_layer).any(|il| !hp.recurrent[il] && hp.n_head_kv[il] != 1) {
        return Err(m.bad(keys::KEY_LENGTH, &format!("{} (K) in {:?} kv heads: expected one kv head of {}", hp.head_dim_k, hp.n_head_kv, kv_lora + hp.n_rot)));
    }
    hp.head_dim_v = kv_lora;
    hp.mla = Some(MlaDims { kv_lora, q_lora: 0, head_dim_k: dk, head_dim_v: dv, latent: true, kq_scale: 1.0 / (dk as f32).sqrt() });
    Ok(())
}

fn load(l: &Loader, hp: &HParams) -> Result<Net, ModelError> {
    let moe = hp.moe.as_ref().expect("set by hparams");
    Net::load(l, hp, RopeFactors::None, |il| {
        let mixer = match &hp.mla {
            Some(mla) if !hp.recurrent[il] => Mixer::Mla(Mla::load(l, hp, il, mla)?),
            _ => Mixer::Kda(Kda::load(l, hp, il)?),
        };
        let ffn = if moe.is_moe_layer(il) { Ffn::Moe(Moe::load(l, hp, il, moe)?) } else { Ffn::gated(l, hp, il)? };
        Layer::new(l, hp, il, Norms::PRE, mixer, ffn)
    })
}
