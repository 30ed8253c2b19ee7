//! deepseek2 (llama.cpp `src/models/deepseek2.cpp`: DeepSeek-V2/V2.5/V3, Moonlight, Kimi-K2
//! and their kin): multi-head latent attention (`blocks::mla`) in every layer, a dense gated
//! FFN in the first `leading_dense_block_count` layers and a mixture of experts after them
//! (softmax or sigmoid router, optional selection bias and group-limited routing, weights
//! optionally renormalized and scaled, shared experts added).

use super::prelude::*;
use crate::gguf::keys;
use crate::model::blocks::mla::Mla;
use crate::model::blocks::moe::Moe;
use crate::model::hparams::{AttnTemp, Gating, MlaDims, MoeParams};
use crate::model::ops::glibc::logf;

pub(super) const DEF: ArchDef = ArchDef { rope: RopeKind::Norm, norm: NormKind::Rms, hparams, load };

fn hparams(m: &Meta, hp: &mut HParams) -> Result<(), ModelError> {
    let mut moe = MoeParams::read(m, hp.n_layer, &hp.n_ff)?;
    moe.read_routing(m, Gating::Softmax)?;
    moe.n_dense_lead = m.u32_opt(keys::LEADING_DENSE_BLOCK_COUNT)?.unwrap_or(0) as usize;
    if moe.n_dense_lead > hp.n_layer {
        return Err(m.bad(keys::LEADING_DENSE_BLOCK_COUNT, &format!("more dense layers than the {} layers", hp.n_layer)));
    }
    if moe.n_dense_lead > 0 && hp.n_ff[..moe.n_dense_lead].contains(&0) {
        return Err(ModelError::MissingKey(m.key(keys::FEED_FORWARD_LENGTH)));
    }
    hp.moe = Some(moe);

    if let Some(mul) = m.f32_opt(keys::ROPE_SCALING_YARN_LOG_MUL)? {
        // The converter stores 0.1 * mscale_all_dim (llama.cpp TAG_DEEPSEEK2_YARN_LOG_MUL_FIX).
        hp.yarn_log_mul = mul / 0.1;
    }
    let temp_scale = m.f32_opt(keys::ATTENTION_TEMPERATURE_SCALE)?.unwrap_or(0.0);
    if temp_scale != 0.0 {
        let floor = m.u32_req(keys::ATTENTION_TEMPERATURE_LENGTH)? as usize;
        if floor == 0 {
            return Err(m.bad(keys::ATTENTION_TEMPERATURE_LENGTH, "must be positive"));
        }
        hp.attn_temp = Some(AttnTemp::every_layer(temp_scale, floor));
    }

    let kv_lora = m.u32_req(keys::KV_LORA_RANK)? as usize;
    let q_lora = m.u32_opt(keys::Q_LORA_RANK)?.unwrap_or(0) as usize;
    let (k_mla, v_mla) = (m.u32_opt(keys::KEY_LENGTH_MLA)?.unwrap_or(0) as usize, m.u32_opt(keys::VALUE_LENGTH_MLA)?.unwrap_or(0) as usize);
    // llama.cpp's is_mla(): both per-head sizes given means the split, absorbed layout.
    let latent = k_mla != 0 && v_mla != 0;
    let (dk, dv) = if latent { (k_mla, v_mla) } else { (hp.head_dim_k, hp.head_dim_v) };
    if kv_lora == 0 || dk <= hp.n_rot {
        return Err(m.bad(keys::KV_LORA_RANK, &format!("kv_lora_rank {kv_lora}, q/k head {dk} with {} rope dims", hp.n_rot)));
    }
    let heads_ok = if latent {
        hp.n_head_kv.iter().all(|&h| h == 1) && hp.head_dim_k == kv_lora + hp.n_rot && hp.head_dim_v == kv_lora
    } else {
        hp.n_head_kv == hp.n_head
    };
    if !heads_ok {
        let want = if latent { format!("1 kv head of {} and {kv_lora}", kv_lora + hp.n_rot) } else { "as many kv heads as heads".into() };
        return Err(
            m.bad(keys::KEY_LENGTH, &format!("{} kv heads of {} (K) and {} (V): expected {want}", hp.n_head_kv[0], hp.head_dim_k, hp.head_dim_v))
        );
    }

    // YaRN's mscale (llama.cpp's graph): cancel the context's attn_factor adjustment, then
    // scale the softmax by mscale^2.
    let (_, attn_factor) = hp.rope_ext_and_attn_factor();
    let inv_fs = 1.0 / hp.effective_freq_scale();
    let attn_factor_org = attn_factor * (1.0 + 0.1 * logf(inv_fs));
    let mscale = attn_factor_org * (1.0 + 0.1 * hp.yarn_log_mul * logf(inv_fs));
    let kq_scale = 1.0 * mscale * mscale / (dk as f32).sqrt();
    hp.mla = Some(MlaDims { kv_lora, q_lora, head_dim_k: dk, head_dim_v: dv, latent, kq_scale });
    Ok(())
}

fn load(l: &Loader, hp: &HParams) -> Result<Net, ModelError> {
    let (moe, mla) = (hp.moe.as_ref().expect("set by hparams"), hp.mla.as_ref().expect("set by hparams"));
    Net::load(l, hp, RopeFactors::None, |il| {
        let mixer = Mixer::Mla(Mla::load(l, hp, il, mla)?);
        let ffn = if moe.is_moe_layer(il) { Ffn::Moe(Moe::load(l, hp, il, moe)?) } else { Ffn::gated(l, hp, il)? };
        Layer::new(l, hp, il, Norms::PRE, mixer, ffn)
    })
}
