//! llama4 (llama.cpp `src/models/llama4.cpp`, Llama 4 Scout/Maverick text model): llama's
//! layers with experts on every `interleave_moe_layer_step`-th layer (top-k by the raw router
//! logit, each chosen expert's input scaled by the logit's sigmoid, plus one shared expert),
//! llama3 `rope_freqs`, and the rules llama.cpp hard-codes unless the file gives
//! `sliding_window = 0`: chunked attention (chunks of 8192) on all but the last of each
//! `sliding_window_pattern` (default 4) layers, no rope on every 4th layer, whose queries take
//! the attention temperature instead (scale 0.1, floor 8192, offset 1), and, unless the model
//! has 128 experts (Maverick), an RMSNorm without weights on each q and k head after rope.

use super::prelude::*;
use crate::gguf::keys;
use crate::model::blocks::moe::Moe;
use crate::model::hparams::{AttnTemp, Gating, MoeParams, RopeSwa};

pub(super) const DEF: ArchDef = ArchDef { rope: RopeKind::Norm, norm: NormKind::Rms, hparams, load };

/// llama.cpp's hard-coded chunk, temperature floor and scale, and layer period.
const CHUNK: usize = 8192;
const TEMP_FLOOR: usize = 8192;
const TEMP_SCALE: f32 = 0.1;
const NO_ROPE_STEP: usize = 4;
const CHUNK_PERIOD: usize = 4;
/// Maverick's expert count: its files skip the q/k norm (llama.cpp `use_kq_norm`).
const N_EXPERT_NO_KQ_NORM: usize = 128;

fn hparams(m: &Meta, hp: &mut HParams) -> Result<(), ModelError> {
    hp.require_full_rot(m)?;
    let mut moe = MoeParams::read(m, hp.n_layer, &hp.n_ff)?;
    moe.interleave = Some(m.u32_req(keys::INTERLEAVE_MOE_LAYER_STEP)? as usize);
    moe.routing.gating = Gating::Sigmoid;
    moe.routing.select_logits = true;
    moe.routing.weight_before_ffn = true;
    moe.n_shared = 1;
    if (0..hp.n_layer).any(|il| !moe.is_moe_layer(il) && hp.n_ff[il] == 0) {
        return Err(ModelError::MissingKey(m.key(keys::FEED_FORWARD_LENGTH)));
    }
    hp.moe = Some(moe);
    if m.u32_opt(keys::ATTENTION_SLIDING_WINDOW)? == Some(0) {
        // llama.cpp: no chunks, and its step of n_layer leaves only the last layer without
        // rope.
        hp.no_rope_layer_step = Some(hp.n_layer);
    } else {
        let period = m.u32_opt(keys::ATTENTION_SLIDING_WINDOW_PATTERN)?.unwrap_or(CHUNK_PERIOD as u32) as usize;
        hp.chunked = Some((CHUNK, hp.swa_pattern(period)));
        hp.no_rope_layer_step = Some(NO_ROPE_STEP);
        hp.attn_temp = Some(AttnTemp { scale: TEMP_SCALE, floor: TEMP_FLOOR, offset: 1.0, nope_layers_only: true });
        if let Some(base) = m.f32_opt(keys::ROPE_FREQ_BASE_SWA)? {
            hp.rope_swa = Some(RopeSwa { base, freq_scale: hp.rope_freq_scale, no_yarn: false });
        }
    }
    Ok(())
}

fn load(l: &Loader, hp: &HParams) -> Result<Net, ModelError> {
    let moe = hp.moe.as_ref().expect("set by hparams");
    let qk_norm = if moe.n_expert == N_EXPERT_NO_KQ_NORM { QkNorm::None } else { QkNorm::UnweightedAfterRope };
    Net::load(l, hp, RopeFactors::FreqsOrLongRope, |il| {
        let attn = Attention::load(l, hp, il, AttnOpts { qk_norm, ..AttnOpts::default() })?;
        let ffn = if moe.is_moe_layer(il) { Ffn::Moe(Moe::load(l, hp, il, moe)?) } else { Ffn::gated(l, hp, il)? };
        Layer::new(l, hp, il, Norms::PRE, Mixer::Attention(attn), ffn)
    })
}
