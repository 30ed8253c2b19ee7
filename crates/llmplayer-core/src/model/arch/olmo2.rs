//! olmo2 (llama.cpp `src/models/olmo2.cpp`, OLMo-2 and OLMo-3): norms only after each block,
//! RMSNorm over the whole q and k vectors. With a `sliding_window` (OLMo-3), all but the last
//! layer of each `sliding_window_pattern` (default 4) are windowed and rope without YaRN or
//! frequency scaling at the file's base (llama.cpp's olmo2 graph reads no other base).

use super::prelude::*;
use crate::gguf::keys;
use crate::model::hparams::RopeSwa;

pub(super) const DEF: ArchDef = ArchDef { rope: RopeKind::Neox, norm: NormKind::Rms, hparams, load };

fn hparams(m: &Meta, hp: &mut HParams) -> Result<(), ModelError> {
    if let Some(n_swa) = m.u32_opt(keys::ATTENTION_SLIDING_WINDOW)?.filter(|&w| w > 0) {
        let period = m.u32_opt(keys::ATTENTION_SLIDING_WINDOW_PATTERN)?.unwrap_or(4) as usize;
        hp.swa = Some((n_swa as usize, hp.swa_pattern(period)));
        hp.rope_swa = Some(RopeSwa { base: hp.rope_freq_base, freq_scale: 1.0, no_yarn: true });
    }
    Ok(())
}

fn load(l: &Loader, hp: &HParams) -> Result<Net, ModelError> {
    Net::load(l, hp, RopeFactors::None, |il| {
        let attn = Attention::load(l, hp, il, AttnOpts { qk_norm: QkNorm::Full, ..AttnOpts::default() })?;
        Layer::new(l, hp, il, Norms::POST, Mixer::Attention(attn), Ffn::gated(l, hp, il)?)
    })
}
