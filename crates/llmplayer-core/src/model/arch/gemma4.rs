//! gemma4 (llama.cpp `src/models/gemma4.cpp`, the text model; dense FFNs): gemma3's layers
//! (norms before and after attention and FFN, RMSNorm on each q and k head, GELU gate * up,
//! final soft-capping) with
//! * windowed layers as `sliding_window_pattern` lists them (an array, true: windowed), with
//!   head sizes and rotary dims of their own (`key_length_swa`, `rope.dimension_count_swa`)
//!   and their own rope base (`rope.freq_base_swa`); `rope_freqs` divide only the global
//!   layers' frequencies (proportional rope);
//! * an unweighted RMSNorm on each V head (V is K's projection where a layer has no
//!   `attn_v`), and an attention scale of 1;
//! * KV shared: the last `shared_kv_layers` layers compute only q and attend over the cache of
//!   the last earlier layer of their kind (llama.cpp's reuse callback);
//! * per-layer embeddings after each FFN (`blocks::ple`) and a per-layer output scalar.

use super::prelude::*;
use crate::gguf::keys;
use crate::model::blocks::ffn::Act;
use crate::model::blocks::ple::Ple;
use crate::model::hparams::{RopeSwa, SwaHeads};
use crate::model::names::{Layer as T, Suffix};

pub(super) const DEF: ArchDef = ArchDef { rope: RopeKind::Neox, norm: NormKind::Rms, hparams, load };

fn hparams(m: &Meta, hp: &mut HParams) -> Result<(), ModelError> {
    hp.embedding_scale = Some((hp.n_embd as f32).sqrt());
    let n_swa = m.u32_req(keys::ATTENTION_SLIDING_WINDOW)? as usize;
    if n_swa == 0 {
        return Err(m.bad(keys::ATTENTION_SLIDING_WINDOW, "must be positive"));
    }
    hp.swa = Some((n_swa, m.per_layer_flags(keys::ATTENTION_SLIDING_WINDOW_PATTERN, hp.n_layer)?));
    let base = m.f32_opt(keys::ROPE_FREQ_BASE_SWA)?.unwrap_or(10000.0);
    hp.rope_swa = Some(RopeSwa { base, freq_scale: 1.0, no_yarn: false });
    hp.rope_factors_full_only = true;

    let head_dim_k = m.u32_req(keys::KEY_LENGTH_SWA)? as usize;
    let head_dim_v = m.u32_req(keys::VALUE_LENGTH_SWA)? as usize;
    let n_rot = m.u32_opt(keys::ROPE_DIMENSION_COUNT_SWA)?.map_or(hp.n_rot, |v| v as usize);
    if hp.head_dim_k != hp.head_dim_v || head_dim_k != head_dim_v {
        return Err(m.bad(keys::VALUE_LENGTH_SWA, "Gemma 4 needs K and V heads of one size"));
    }
    if head_dim_k == 0 || n_rot > head_dim_k || n_rot % 2 != 0 {
        return Err(m.bad(keys::ROPE_DIMENSION_COUNT_SWA, &format!("{n_rot} rotary dims for windowed head size {head_dim_k}")));
    }
    hp.swa_heads = Some(SwaHeads { head_dim_k, head_dim_v, n_rot });

    // llama.cpp: the layers from `n_layer - shared` on reuse the last earlier windowed
    // (two before that point) or global (one before) layer's cache.
    let shared = m.u32_opt(keys::ATTENTION_SHARED_KV_LAYERS)?.unwrap_or(0) as usize;
    if shared > 0 {
        let from = hp.n_layer.checked_sub(shared).filter(|&f| f >= 2);
        let Some(from) = from else {
            return Err(m.bad(keys::ATTENTION_SHARED_KV_LAYERS, &format!("{shared} of {} layers leaves fewer than 2 with a cache", hp.n_layer)));
        };
        for il in from..hp.n_layer {
            let src = from - if hp.is_swa(il) { 2 } else { 1 };
            if hp.is_swa(src) != hp.is_swa(il) || hp.n_head_kv[src] != hp.n_head_kv[il] {
                return Err(m.bad(keys::ATTENTION_SHARED_KV_LAYERS, &format!("layer {il} would reuse layer {src}'s cache, of another kind")));
            }
            hp.kv_reuse[il] = Some(src);
        }
    }

    hp.attention_scale = Some(1.0);
    hp.final_softcap = m.f32_opt(keys::FINAL_LOGIT_SOFTCAPPING)?.filter(|&c| c != 0.0);
    hp.n_embd_per_layer = Some(m.u32_req(keys::EMBEDDING_LENGTH_PER_LAYER_INPUT)? as usize).filter(|&n| n > 0);
    Ok(())
}

fn load(l: &Loader, hp: &HParams) -> Result<Net, ModelError> {
    let mut net = Net::load(l, hp, RopeFactors::FreqsOrLongRope, |il| {
        let router = T::FfnGateInp.name(il, Suffix::Weight);
        if l.mat_opt(&router, hp.n_embd, None)?.is_some() {
            return Err(ModelError::BadTensor { name: router, reason: "Gemma 4's experts are not supported yet".into() });
        }
        let opts = AttnOpts { qk_norm: QkNorm::PerHead, v_norm: true, v_optional: true, ..AttnOpts::default() };
        let attn = Attention::load(l, hp, il, opts)?;
        Layer::new(l, hp, il, Norms::BOTH, Mixer::Attention(attn), Ffn::gated_act(l, hp, il, Act::Gelu)?)
    })?;
    if let Some(n_pl) = hp.n_embd_per_layer {
        net.ple = Some(Ple::load(l, hp.n_embd, hp.n_layer, hp.n_vocab, n_pl)?);
    }
    let scales = (0..hp.n_layer).map(|il| l.scale_opt(&T::LayerOutScale.name(il, Suffix::Weight))).collect::<Result<Vec<_>, _>>()?;
    if scales.iter().any(Option::is_some) {
        // A layer without one is unscaled (llama.cpp: the tensor is optional per layer).
        net.layer_scale = Some(scales.into_iter().map(|s| s.unwrap_or(1.0)).collect());
    }
    Ok(net)
}
