//! qwen3next (llama.cpp `src/models/qwen3next.cpp`, Qwen3-Next): gated DeltaNet linear
//! attention (`blocks/deltanet.rs`) in every layer but the last of each
//! `full_attention_interval` (default 4; or as `attention.recurrent_layers` lists), which run
//! gated attention: `attn_q` gives each head `[q | gate]`, q and k are RMS-normed per head,
//! NeoX rope on the first `n_rot` dims, and the output is multiplied by `sigmoid(gate)`. Every
//! layer's FFN is a mixture of experts: softmax router, top k renormalized, plus a shared
//! expert (`expert_shared_feed_forward_length` wide) scaled by `sigmoid(ffn_gate_inp_shexp ·
//! x)`. The FFN's pre-norm is stored as `post_attention_norm`; the converter has already added
//! Qwen's `1 +` to the norm weights. A next-token-prediction block, where the file has one, is
//! not run. Value head h reads key head `h / (n_v / n_k)`.

use super::prelude::*;
use crate::gguf::keys;
use crate::model::blocks::deltanet::{self, DeltaNet, KeyHeads};
use crate::model::blocks::moe::Moe;
use crate::model::hparams::MoeParams;

pub(super) const DEF: ArchDef = ArchDef { rope: RopeKind::Neox, norm: NormKind::Rms, hparams, load };

fn hparams(m: &Meta, hp: &mut HParams) -> Result<(), ModelError> {
    hybrid_hparams(m, hp)?;
    let mut moe = MoeParams::read(m, hp.n_layer, &hp.n_ff)?;
    moe.routing.norm_w = true;
    moe.n_shared = 1;
    // llama.cpp: the key where it is positive, else feed_forward_length.
    let shared = m.per_layer(keys::EXPERT_SHARED_FEED_FORWARD_LENGTH, hp.n_layer)?.filter(|w| w.iter().all(|&w| w > 0));
    moe.n_ff_shared = Some(shared.unwrap_or_else(|| hp.n_ff.clone()));
    moe.shared_gate = true;
    hp.moe = Some(moe);
    Ok(())
}

/// What qwen3next and qwen35 read alike: the DeltaNet sizes, which layers are recurrent, and
/// the gated attention's head sizes (K's and V's equal, as llama.cpp requires).
pub(super) fn hybrid_hparams(m: &Meta, hp: &mut HParams) -> Result<(), ModelError> {
    hp.ssm = Some(deltanet::read_dims(m)?);
    let key = keys::ATTENTION_RECURRENT_LAYERS;
    match m.get(key) {
        Some(v) => {
            let flag = |v: &crate::gguf::Value| v.as_bool().or_else(|| v.as_u32().map(|u| u != 0));
            let flags: Option<Vec<bool>> = match v.as_array() {
                Some(a) if a.len() == hp.n_layer => a.iter().map(|v| flag(&v)).collect(),
                Some(_) => None,
                None => flag(v).map(|f| vec![f; hp.n_layer]),
            };
            hp.recurrent = flags.ok_or_else(|| m.bad(key, &format!("expected {} booleans", hp.n_layer)))?;
        }
        None => {
            let every = m.u32_opt(keys::FULL_ATTENTION_INTERVAL)?.unwrap_or(4) as usize;
            if every == 0 {
                return Err(m.bad(keys::FULL_ATTENTION_INTERVAL, "must be positive"));
            }
            hp.recurrent = (0..hp.n_layer).map(|il| (il + 1) % every != 0).collect();
        }
    }
    let state = deltanet::state_len(hp.ssm.as_ref().expect("set above"));
    hp.state_len = hp.recurrent.iter().map(|&r| if r { state } else { 0 }).collect();
    if hp.head_dim_k != hp.head_dim_v {
        return Err(m.bad(keys::VALUE_LENGTH, &format!("{} differs from key_length {}", hp.head_dim_v, hp.head_dim_k)));
    }
    Ok(())
}

/// Layer `il`'s mixer: gated DeltaNet in the recurrent layers, gated attention in the others.
pub(super) fn mixer(l: &Loader, hp: &HParams, il: usize, heads: KeyHeads) -> Result<Mixer, ModelError> {
    Ok(if hp.recurrent[il] {
        Mixer::DeltaNet(DeltaNet::load(l, hp, il, heads)?)
    } else {
        Mixer::Attention(Attention::load(l, hp, il, AttnOpts { qk_norm: QkNorm::PerHead, output_gate: true, ..AttnOpts::default() })?)
    })
}

fn load(l: &Loader, hp: &HParams) -> Result<Net, ModelError> {
    let moe = hp.moe.as_ref().expect("set by hparams");
    Net::load(l, hp, RopeFactors::None, |il| {
        let ffn = Ffn::Moe(Moe::load(l, hp, il, moe)?);
        Layer::new(l, hp, il, Norms::PRE_FFN_AS_POST_ATTN, mixer(l, hp, il, KeyHeads::Grouped)?, ffn)
    })
}
