//! The architectures this engine runs, and the only place their GGUF names appear
//! (`general.architecture`). Each has a short file here (llama.cpp's `src/models/<arch>.cpp`
//! plus its `load_arch_hparams` and `load_tensors` cases) that reads its metadata keys and
//! composes its layers from the shared blocks (`model::blocks`); [`Arch::def`] is the one
//! exhaustive `match` that binds a name to its file. Adding an architecture that differs by a
//! block: one file, one variant, one line there.

mod cohere2;
mod command_r;
mod deepseek2;
mod falcon_h1;
mod gemma;
mod gemma2;
mod gemma3;
mod gemma4;
mod glm4;
mod glm4moe;
mod gpt_oss;
mod kimi_linear;
mod granite;
mod llama;
mod llama4;
mod mamba;
mod mamba2;
mod minimax_m2;
mod mistral3;
mod olmo2;
mod phi3;
mod qwen2;
mod qwen3;
mod qwen35;
mod qwen3moe;
mod qwen3next;
mod rwkv6;
mod rwkv7;
mod smollm3;
mod starcoder2;
mod step35;

use super::blocks::Net;
use super::hparams::{HParams, Meta, NormKind, RopeKind};
use super::weights::Loader;
use super::ModelError;

/// What an architecture's file provides.
pub(crate) struct ArchDef {
    /// How its rotary pairs are formed (llama.cpp `llama_model_rope_type`).
    pub rope: RopeKind,
    /// Its block and output norms (and so which epsilon key it reads).
    pub norm: NormKind,
    /// Its own metadata keys and checks, after the generic ones (`load_arch_hparams`).
    pub hparams: fn(&Meta, &mut HParams) -> Result<(), ModelError>,
    /// Its tensors, composed into layers (`load_tensors`).
    pub load: fn(&Loader, &HParams) -> Result<Net, ModelError>,
}

/// The prelude of every architecture file.
mod prelude {
    pub(super) use super::ArchDef;
    pub(super) use crate::model::blocks::attention::{AttnOpts, Attention, QkNorm};
    pub(super) use crate::model::blocks::ffn::Ffn;
    pub(super) use crate::model::blocks::{Layer, Mixer, Net, Norms, RopeFactors};
    pub(super) use crate::model::hparams::{HParams, Meta, NormKind, RopeKind};
    pub(super) use crate::model::weights::Loader;
    pub(super) use crate::model::ModelError;

    /// Metadata an architecture does not read.
    pub(super) fn no_keys(_: &Meta, _: &mut HParams) -> Result<(), ModelError> {
        Ok(())
    }
}

/// A supported `general.architecture`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Arch {
    Llama,
    Qwen2,
    Qwen3,
    Glm4,
    Phi3,
    Mistral3,
    Smollm3,
    Granite,
    Olmo2,
    Qwen3Moe,
    Deepseek2,
    Gemma,
    Gemma2,
    Gemma3,
    Gemma4,
    CommandR,
    Cohere2,
    Starcoder2,
    GptOss,
    Glm4Moe,
    Llama4,
    MinimaxM2,
    Mamba2,
    FalconH1,
    Qwen3Next,
    Qwen35,
    Rwkv7,
    Mamba,
    KimiLinear,
    Rwkv6,
    Step35,
}

impl Arch {
    /// Every supported architecture, in declaration order.
    pub const ALL: &'static [Arch] = &[
        Arch::Llama,
        Arch::Qwen2,
        Arch::Qwen3,
        Arch::Glm4,
        Arch::Phi3,
        Arch::Mistral3,
        Arch::Smollm3,
        Arch::Granite,
        Arch::Olmo2,
        Arch::Qwen3Moe,
        Arch::Deepseek2,
        Arch::Gemma,
        Arch::Gemma2,
        Arch::Gemma3,
        Arch::Gemma4,
        Arch::CommandR,
        Arch::Cohere2,
        Arch::Starcoder2,
        Arch::GptOss,
        Arch::Glm4Moe,
        Arch::Llama4,
        Arch::MinimaxM2,
        Arch::Mamba2,
        Arch::FalconH1,
        Arch::Qwen3Next,
        Arch::Qwen35,
        Arch::Rwkv7,
        Arch::Mamba,
        Arch::KimiLinear,
        Arch::Rwkv6,
        Arch::Step35,
    ];

    /// The GGUF name (llama.cpp `LLM_ARCH_NAMES`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Arch::Llama => "llama",
            Arch::Qwen2 => "qwen2",
            Arch::Qwen3 => "qwen3",
            Arch::Glm4 => "glm4",
            Arch::Phi3 => "phi3",
            Arch::Mistral3 => "mistral3",
            Arch::Smollm3 => "smollm3",
            Arch::Granite => "granite",
            Arch::Olmo2 => "olmo2",
            Arch::Qwen3Moe => "qwen3moe",
            Arch::Deepseek2 => "deepseek2",
            Arch::Gemma => "gemma",
            Arch::Gemma2 => "gemma2",
            Arch::Gemma3 => "gemma3",
            Arch::Gemma4 => "gemma4",
            Arch::CommandR => "command-r",
            Arch::Cohere2 => "cohere2",
            Arch::Starcoder2 => "starcoder2",
            Arch::GptOss => "gpt-oss",
            Arch::Glm4Moe => "glm4moe",
            Arch::Llama4 => "llama4",
            Arch::MinimaxM2 => "minimax-m2",
            Arch::Mamba2 => "mamba2",
            Arch::FalconH1 => "falcon-h1",
            Arch::Qwen3Next => "qwen3next",
            Arch::Qwen35 => "qwen35",
            Arch::Rwkv7 => "rwkv7",
            Arch::Mamba => "mamba",
            Arch::KimiLinear => "kimi-linear",
            Arch::Rwkv6 => "rwkv6",
            Arch::Step35 => "step35",
        }
    }

    /// The file that defines this architecture.
    pub(crate) fn def(self) -> &'static ArchDef {
        match self {
            Arch::Llama => &llama::DEF,
            Arch::Qwen2 => &qwen2::DEF,
            Arch::Qwen3 => &qwen3::DEF,
            Arch::Glm4 => &glm4::DEF,
            Arch::Phi3 => &phi3::DEF,
            Arch::Mistral3 => &mistral3::DEF,
            Arch::Smollm3 => &smollm3::DEF,
            Arch::Granite => &granite::DEF,
            Arch::Olmo2 => &olmo2::DEF,
            Arch::Qwen3Moe => &qwen3moe::DEF,
            Arch::Deepseek2 => &deepseek2::DEF,
            Arch::Gemma => &gemma::DEF,
            Arch::Gemma2 => &gemma2::DEF,
            Arch::Gemma3 => &gemma3::DEF,
            Arch::Gemma4 => &gemma4::DEF,
            Arch::CommandR => &command_r::DEF,
            Arch::Cohere2 => &cohere2::DEF,
            Arch::Starcoder2 => &starcoder2::DEF,
            Arch::GptOss => &gpt_oss::DEF,
            Arch::Glm4Moe => &glm4moe::DEF,
            Arch::Llama4 => &llama4::DEF,
            Arch::MinimaxM2 => &minimax_m2::DEF,
            Arch::Mamba2 => &mamba2::DEF,
            Arch::FalconH1 => &falcon_h1::DEF,
            Arch::Qwen3Next => &qwen3next::DEF,
            Arch::Qwen35 => &qwen35::DEF,
            Arch::Rwkv7 => &rwkv7::DEF,
            Arch::Mamba => &mamba::DEF,
            Arch::KimiLinear => &kimi_linear::DEF,
            Arch::Rwkv6 => &rwkv6::DEF,
            Arch::Step35 => &step35::DEF,
        }
    }

    /// Parses a GGUF architecture name; unknown names are [`ModelError::UnsupportedArch`].
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(name: &str) -> Result<Arch, ModelError> {
        Arch::ALL
            .iter()
            .copied()
            .find(|a| a.as_str() == name)
            .ok_or_else(|| ModelError::UnsupportedArch(name.to_string()))
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for &a in Arch::ALL {
            assert_eq!(Arch::from_str(a.as_str()).unwrap(), a);
        }
        let e = Arch::from_str("mamba9").unwrap_err();
        assert_eq!(e.to_string(), "architecture mamba9 is not supported yet");
    }
}
