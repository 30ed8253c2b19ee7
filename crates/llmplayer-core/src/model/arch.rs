//! The architectures this engine runs, and the only place their GGUF names appear
//! (`general.architecture`). Every per-architecture decision is an exhaustive `match` on
//! [`Arch`], so adding a variant makes the compiler list each site to handle.

use super::ModelError;

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
