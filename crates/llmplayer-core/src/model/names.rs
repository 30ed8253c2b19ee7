//! Every tensor name the engines read (llama.cpp `LLM_TENSOR_NAMES`): a base name per
//! tensor plus a suffix, `blk.{i}.` for per-layer tensors. Engines never spell a name.

/// The part after the base name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suffix {
    Weight,
    Bias,
    /// Per-tensor scale (`{1}`) multiplied into the matmul output.
    Scale,
    /// No suffix (`blk.{i}.ssm_a`, falcon-h1's `blk.{i}.ffn_norm`).
    None,
}

impl Suffix {
    const fn as_str(self) -> &'static str {
        match self {
            Suffix::Weight => "weight",
            Suffix::Bias => "bias",
            Suffix::Scale => "scale",
            Suffix::None => "",
        }
    }
}

/// Model-level tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Global {
    TokenEmbd,
    OutputNorm,
    Output,
    /// Llama-3 frequency factors (divide the rotary frequencies).
    RopeFreqs,
    /// LongRoPE factors, used when the context exceeds the original training context.
    RopeFactorsLong,
    RopeFactorsShort,
    /// LayerNorm right after the embedding (rwkv7).
    TokenEmbdNorm,
    /// Per-layer embeddings (gemma4): a token table of n_layer * n_embd_per_layer per token,
    /// the projection of the scaled embedding to the same width, and its norm (per layer).
    PerLayerTokenEmbd,
    PerLayerModelProj,
    PerLayerProjNorm,
}

impl Global {
    const fn base(self) -> &'static str {
        match self {
            Global::TokenEmbd => "token_embd",
            Global::OutputNorm => "output_norm",
            Global::Output => "output",
            Global::RopeFreqs => "rope_freqs",
            Global::RopeFactorsLong => "rope_factors_long",
            Global::RopeFactorsShort => "rope_factors_short",
            Global::TokenEmbdNorm => "token_embd_norm",
            Global::PerLayerTokenEmbd => "per_layer_token_embd",
            Global::PerLayerModelProj => "per_layer_model_proj",
            Global::PerLayerProjNorm => "per_layer_proj_norm",
        }
    }

    pub fn name(self, suffix: Suffix) -> String {
        join(self.base(), suffix)
    }
}

/// Per-layer tensors (`blk.{i}.<base>.<suffix>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    AttnNorm,
    AttnQ,
    AttnK,
    AttnV,
    /// Fused [q | k | v] projection.
    AttnQkv,
    AttnOut,
    AttnQNorm,
    AttnKNorm,
    /// Per-head attention sink logits (gpt-oss).
    AttnSinks,
    /// Norm of the attention output before the residual add (glm4, olmo2).
    AttnPostNorm,
    FfnNorm,
    FfnGate,
    /// Up projection; fused [gate; up] for glm4 and phi3.
    FfnUp,
    FfnDown,
    /// Norm of the FFN output before the residual add (glm4, olmo2).
    FfnPostNorm,
    /// MoE router: one row of logits weights per expert.
    FfnGateInp,
    /// Expert tensors, 3-D: [cols, rows, n_expert].
    FfnGateExps,
    FfnUpExps,
    FfnDownExps,
    /// Per-expert selection bias (DeepSeek-V3 `noaux_tc`), suffix `bias`.
    FfnExpProbsB,
    /// Shared experts, one fused gated FFN (deepseek2).
    FfnGateShexp,
    FfnUpShexp,
    FfnDownShexp,
    /// Multi-head latent attention (deepseek2): low-rank q (`q_a`, its norm, `q_b`), the
    /// joint compressed KV with the shared rope key (`kv_a_mqa`) and its norm, and the
    /// up-projection of the latent: combined `kv_b` (legacy) or split per head, 3-D:
    /// `k_b` [nope, kv_lora, n_head] and `v_b` [kv_lora, v_head, n_head].
    AttnQA,
    AttnQANorm,
    AttnQB,
    AttnKvAMqa,
    AttnKvANorm,
    AttnKvB,
    AttnKB,
    AttnVB,
    /// Output gate of gated attention and of gated DeltaNet (qwen3next, qwen35).
    AttnGate,
    /// Sigmoid gate of the shared expert: one row (qwen3next).
    FfnGateInpShexp,
    /// State-space and linear-attention mixers (mamba2, falcon-h1, qwen3next, qwen35):
    /// input projection, short causal conv (weight and bias), time-step bias, decay (`ssm_a`,
    /// no suffix), skip (`ssm_d`, no suffix), gated output norm, output projection; gated
    /// DeltaNet's beta/alpha projections, fused (`ssm_ba`) or separate.
    SsmIn,
    SsmConv1d,
    SsmDt,
    SsmA,
    SsmD,
    SsmNorm,
    SsmOut,
    SsmBa,
    SsmBeta,
    SsmAlpha,
    /// Mamba-1's projection of the conv output to [dt (dt_rank) | B | C] (mamba).
    SsmX,
    /// Kimi delta attention (kimi-linear): the short convs of q, k and v, and the low-rank
    /// projections (`a` down, `b` up) of the per-channel decay and of the output gate.
    SsmConv1dQ,
    SsmConv1dK,
    SsmConv1dV,
    SsmFA,
    SsmFB,
    SsmGA,
    SsmGB,
    /// RWKV-7 (rwkv7): the channel mix's pre-norm, the time mix's LoRAs (decay w, in-context
    /// learning rate a, value residual v, gate g; `0` biases, `1` down, `2` up), its fused
    /// token-shift lerps, key normalisation vectors, projections, group norm and output,
    /// and the channel mix's lerp and projections.
    AttnNorm2,
    TimeMixW0,
    TimeMixW1,
    TimeMixW2,
    TimeMixA0,
    TimeMixA1,
    TimeMixA2,
    TimeMixV0,
    TimeMixV1,
    TimeMixV2,
    TimeMixG1,
    TimeMixG2,
    TimeMixLerpFused,
    TimeMixKK,
    TimeMixKA,
    TimeMixRK,
    TimeMixKey,
    TimeMixValue,
    TimeMixReceptance,
    TimeMixLn,
    TimeMixOutput,
    ChannelMixLerpK,
    ChannelMixKey,
    ChannelMixValue,
    /// RWKV-6 (rwkv6): the time mix's shift lerp and its data-dependent LoRA (`w1` down to
    /// five ranks, `w2` five up-projections; the fused or separate per-input lerps), the
    /// bonus `first` (u), the decay and its LoRA, the gate; the channel mix's receptance.
    TimeMixLerpX,
    TimeMixLerpW,
    TimeMixLerpK,
    TimeMixLerpV,
    TimeMixLerpR,
    TimeMixLerpG,
    TimeMixFirst,
    TimeMixDecay,
    TimeMixDecayW1,
    TimeMixDecayW2,
    TimeMixGate,
    ChannelMixLerpR,
    ChannelMixReceptance,
    /// Per-layer embedding block (gemma4): gate of the hidden state, projection back to
    /// n_embd, its norm; and the scalar multiplying the layer's output.
    PerLayerInpGate,
    PerLayerProj,
    PerLayerPostNorm,
    LayerOutScale,
}

impl Layer {
    const fn base(self) -> &'static str {
        match self {
            Layer::AttnNorm => "attn_norm",
            Layer::AttnQ => "attn_q",
            Layer::AttnK => "attn_k",
            Layer::AttnV => "attn_v",
            Layer::AttnQkv => "attn_qkv",
            Layer::AttnOut => "attn_output",
            Layer::AttnQNorm => "attn_q_norm",
            Layer::AttnKNorm => "attn_k_norm",
            Layer::AttnSinks => "attn_sinks",
            Layer::AttnPostNorm => "post_attention_norm",
            Layer::FfnNorm => "ffn_norm",
            Layer::FfnGate => "ffn_gate",
            Layer::FfnUp => "ffn_up",
            Layer::FfnDown => "ffn_down",
            Layer::FfnPostNorm => "post_ffw_norm",
            Layer::FfnGateInp => "ffn_gate_inp",
            Layer::FfnGateExps => "ffn_gate_exps",
            Layer::FfnUpExps => "ffn_up_exps",
            Layer::FfnDownExps => "ffn_down_exps",
            Layer::FfnExpProbsB => "exp_probs_b",
            Layer::FfnGateShexp => "ffn_gate_shexp",
            Layer::FfnUpShexp => "ffn_up_shexp",
            Layer::FfnDownShexp => "ffn_down_shexp",
            Layer::AttnQA => "attn_q_a",
            Layer::AttnQANorm => "attn_q_a_norm",
            Layer::AttnQB => "attn_q_b",
            Layer::AttnKvAMqa => "attn_kv_a_mqa",
            Layer::AttnKvANorm => "attn_kv_a_norm",
            Layer::AttnKvB => "attn_kv_b",
            Layer::AttnKB => "attn_k_b",
            Layer::AttnVB => "attn_v_b",
            Layer::AttnGate => "attn_gate",
            Layer::FfnGateInpShexp => "ffn_gate_inp_shexp",
            Layer::SsmIn => "ssm_in",
            Layer::SsmConv1d => "ssm_conv1d",
            Layer::SsmDt => "ssm_dt",
            Layer::SsmA => "ssm_a",
            Layer::SsmD => "ssm_d",
            Layer::SsmNorm => "ssm_norm",
            Layer::SsmOut => "ssm_out",
            Layer::SsmBa => "ssm_ba",
            Layer::SsmBeta => "ssm_beta",
            Layer::SsmAlpha => "ssm_alpha",
            Layer::SsmX => "ssm_x",
            Layer::SsmConv1dQ => "ssm_conv1d_q",
            Layer::SsmConv1dK => "ssm_conv1d_k",
            Layer::SsmConv1dV => "ssm_conv1d_v",
            Layer::SsmFA => "ssm_f_a",
            Layer::SsmFB => "ssm_f_b",
            Layer::SsmGA => "ssm_g_a",
            Layer::SsmGB => "ssm_g_b",
            Layer::AttnNorm2 => "attn_norm_2",
            Layer::TimeMixW0 => "time_mix_w0",
            Layer::TimeMixW1 => "time_mix_w1",
            Layer::TimeMixW2 => "time_mix_w2",
            Layer::TimeMixA0 => "time_mix_a0",
            Layer::TimeMixA1 => "time_mix_a1",
            Layer::TimeMixA2 => "time_mix_a2",
            Layer::TimeMixV0 => "time_mix_v0",
            Layer::TimeMixV1 => "time_mix_v1",
            Layer::TimeMixV2 => "time_mix_v2",
            Layer::TimeMixG1 => "time_mix_g1",
            Layer::TimeMixG2 => "time_mix_g2",
            Layer::TimeMixLerpFused => "time_mix_lerp_fused",
            Layer::TimeMixKK => "time_mix_k_k",
            Layer::TimeMixKA => "time_mix_k_a",
            Layer::TimeMixRK => "time_mix_r_k",
            Layer::TimeMixKey => "time_mix_key",
            Layer::TimeMixValue => "time_mix_value",
            Layer::TimeMixReceptance => "time_mix_receptance",
            Layer::TimeMixLn => "time_mix_ln",
            Layer::TimeMixOutput => "time_mix_output",
            Layer::ChannelMixLerpK => "channel_mix_lerp_k",
            Layer::ChannelMixKey => "channel_mix_key",
            Layer::ChannelMixValue => "channel_mix_value",
            Layer::TimeMixLerpX => "time_mix_lerp_x",
            Layer::TimeMixLerpW => "time_mix_lerp_w",
            Layer::TimeMixLerpK => "time_mix_lerp_k",
            Layer::TimeMixLerpV => "time_mix_lerp_v",
            Layer::TimeMixLerpR => "time_mix_lerp_r",
            Layer::TimeMixLerpG => "time_mix_lerp_g",
            Layer::TimeMixFirst => "time_mix_first",
            Layer::TimeMixDecay => "time_mix_decay",
            Layer::TimeMixDecayW1 => "time_mix_decay_w1",
            Layer::TimeMixDecayW2 => "time_mix_decay_w2",
            Layer::TimeMixGate => "time_mix_gate",
            Layer::ChannelMixLerpR => "channel_mix_lerp_r",
            Layer::ChannelMixReceptance => "channel_mix_receptance",
            Layer::PerLayerInpGate => "inp_gate",
            Layer::PerLayerProj => "proj",
            Layer::PerLayerPostNorm => "post_norm",
            Layer::LayerOutScale => "layer_output_scale",
        }
    }

    pub fn name(self, il: usize, suffix: Suffix) -> String {
        join(&format!("blk.{il}.{}", self.base()), suffix)
    }
}

fn join(base: &str, suffix: Suffix) -> String {
    match suffix {
        Suffix::None => base.to_string(),
        _ => format!("{base}.{}", suffix.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spelled_like_llama_cpp() {
        assert_eq!(Global::TokenEmbd.name(Suffix::Weight), "token_embd.weight");
        assert_eq!(Layer::AttnQ.name(3, Suffix::Bias), "blk.3.attn_q.bias");
        assert_eq!(Layer::FfnPostNorm.name(0, Suffix::Weight), "blk.0.post_ffw_norm.weight");
        assert_eq!(Layer::AttnOut.name(1, Suffix::Scale), "blk.1.attn_output.scale");
        assert_eq!(Layer::SsmA.name(2, Suffix::None), "blk.2.ssm_a");
    }
}
