//! qwen35 (llama.cpp `src/models/qwen35.cpp`, Qwen3.5's text model): qwen3next's layers
//! (`qwen3next.rs`) with separate `ssm_beta` / `ssm_alpha` projections, the value heads in
//! ggml's tiled broadcast order (head h reads key head `h % n_k`; the converter reorders
//! them), a dense SwiGLU FFN in every layer, and IMROPE (interleaved M-RoPE).
//!
//! IMROPE gives each rotary pair the angle of one of a token's four position components, the
//! component chosen by the pair's index and `rope.dimension_sections`. A text token's first
//! three components are its position and the fourth is 0, so where the sections give every
//! pair one of the first three, as Qwen3.5's do, this is NeoX rope on the first `n_rot` dims:
//! what this engine runs. Sections that leave a pair on the fourth component are rejected.

use super::prelude::*;
use crate::gguf::keys;
use crate::model::blocks::deltanet::KeyHeads;

pub(super) const DEF: ArchDef = ArchDef { rope: RopeKind::Neox, norm: NormKind::Rms, hparams, load };

fn hparams(m: &Meta, hp: &mut HParams) -> Result<(), ModelError> {
    super::qwen3next::hybrid_hparams(m, hp)?;
    check_sections(m, hp)
}

/// `rope.dimension_sections` (up to 4, required): every rotary pair must take a text token's
/// position (ggml's IMROPE: pair i's sector `i % Σ sections` is t, h or w when
/// `sector % 3 == c` and `sector < 3 * sections[c]` for c = 0, 1, 2).
fn check_sections(m: &Meta, hp: &HParams) -> Result<(), ModelError> {
    let key = keys::ROPE_DIMENSION_SECTIONS;
    let v = m.get(key).ok_or_else(|| ModelError::MissingKey(m.key(key)))?;
    let s = v.as_array().and_then(|a| a.to_i64_vec()).filter(|s| s.len() <= 4 && s.iter().all(|&x| x >= 0));
    let s = s.ok_or_else(|| m.bad(key, "expected up to 4 non-negative integers"))?;
    let sec = |c: usize| s.get(c).copied().unwrap_or(0) as usize;
    let total: usize = (0..4).map(sec).sum();
    if total == 0 || total > hp.head_dim_k {
        return Err(m.bad(key, &format!("sections {s:?} for head size {}", hp.head_dim_k)));
    }
    for i in 0..hp.n_rot / 2 {
        let sector = i % total;
        if sector >= 3 * sec(sector % 3) {
            return Err(m.bad(key, &format!("sections {s:?} rotate pair {i} by the fourth position component, which text does not use")));
        }
    }
    Ok(())
}

fn load(l: &Loader, hp: &HParams) -> Result<Net, ModelError> {
    Net::load(l, hp, RopeFactors::None, |il| {
        let mixer = super::qwen3next::mixer(l, hp, il, KeyHeads::Tiled)?;
        Layer::new(l, hp, il, Norms::PRE_FFN_AS_POST_ATTN, mixer, Ffn::gated(l, hp, il)?)
    })
}
