//! Every GGUF metadata key string the project reads. Architecture-scoped keys are
//! suffixes: read them with `GgufFile::get_arch(keys::CONTEXT_LENGTH)`.

// general.*
pub const GENERAL_ARCHITECTURE: &str = "general.architecture";
pub const GENERAL_NAME: &str = "general.name";
pub const GENERAL_ALIGNMENT: &str = "general.alignment";
pub const GENERAL_FILE_TYPE: &str = "general.file_type";
pub const GENERAL_QUANTIZATION_VERSION: &str = "general.quantization_version";

// <arch>.*
pub const CONTEXT_LENGTH: &str = ".context_length";
pub const EMBEDDING_LENGTH: &str = ".embedding_length";
pub const BLOCK_COUNT: &str = ".block_count";
pub const FEED_FORWARD_LENGTH: &str = ".feed_forward_length";
pub const VOCAB_SIZE: &str = ".vocab_size";
pub const HEAD_COUNT: &str = ".attention.head_count";
pub const HEAD_COUNT_KV: &str = ".attention.head_count_kv";
pub const KEY_LENGTH: &str = ".attention.key_length";
pub const VALUE_LENGTH: &str = ".attention.value_length";
pub const LAYER_NORM_RMS_EPS: &str = ".attention.layer_norm_rms_epsilon";
pub const LAYER_NORM_EPS: &str = ".attention.layer_norm_epsilon";
pub const ROPE_DIMENSION_COUNT: &str = ".rope.dimension_count";
pub const ROPE_FREQ_BASE: &str = ".rope.freq_base";
pub const EXPERT_COUNT: &str = ".expert_count";
pub const EXPERT_USED_COUNT: &str = ".expert_used_count";
pub const EXPERT_FEED_FORWARD_LENGTH: &str = ".expert_feed_forward_length";
pub const EXPERT_SHARED_COUNT: &str = ".expert_shared_count";
pub const EXPERT_WEIGHTS_SCALE: &str = ".expert_weights_scale";
pub const EXPERT_WEIGHTS_NORM: &str = ".expert_weights_norm";
pub const EXPERT_GATING_FUNC: &str = ".expert_gating_func";
pub const EXPERT_GROUP_COUNT: &str = ".expert_group_count";
pub const EXPERT_GROUP_USED_COUNT: &str = ".expert_group_used_count";
pub const LEADING_DENSE_BLOCK_COUNT: &str = ".leading_dense_block_count";
pub const INTERLEAVE_MOE_LAYER_STEP: &str = ".interleave_moe_layer_step";
pub const NEXTN_PREDICT_LAYERS: &str = ".nextn_predict_layers";
// <arch>.attention.* of multi-head latent attention (deepseek2)
pub const Q_LORA_RANK: &str = ".attention.q_lora_rank";
pub const KV_LORA_RANK: &str = ".attention.kv_lora_rank";
pub const KEY_LENGTH_MLA: &str = ".attention.key_length_mla";
pub const VALUE_LENGTH_MLA: &str = ".attention.value_length_mla";
// <arch>.rope.scaling.* and attention scales (llama.cpp LLM_KV_*)
pub const ROPE_SCALE_LINEAR: &str = ".rope.scale_linear";
pub const ROPE_SCALING_TYPE: &str = ".rope.scaling.type";
pub const ROPE_SCALING_FACTOR: &str = ".rope.scaling.factor";
pub const ROPE_SCALING_ATTN_FACTOR: &str = ".rope.scaling.attn_factor";
pub const ROPE_SCALING_ORIG_CTX_LEN: &str = ".rope.scaling.original_context_length";
pub const ROPE_SCALING_FINETUNED: &str = ".rope.scaling.finetuned";
pub const ROPE_SCALING_YARN_LOG_MUL: &str = ".rope.scaling.yarn_log_multiplier";
pub const ROPE_SCALING_YARN_BETA_FAST: &str = ".rope.scaling.yarn_beta_fast";
pub const ROPE_SCALING_YARN_BETA_SLOW: &str = ".rope.scaling.yarn_beta_slow";
pub const ATTENTION_SCALE: &str = ".attention.scale";
pub const ATTENTION_TEMPERATURE_SCALE: &str = ".attention.temperature_scale";
pub const ATTENTION_TEMPERATURE_LENGTH: &str = ".attention.temperature_length";
pub const EMBEDDING_SCALE: &str = ".embedding_scale";
pub const RESIDUAL_SCALE: &str = ".residual_scale";
pub const LOGIT_SCALE: &str = ".logit_scale";
pub const ATTENTION_SLIDING_WINDOW: &str = ".attention.sliding_window";
pub const ATTENTION_SLIDING_WINDOW_PATTERN: &str = ".attention.sliding_window_pattern";
pub const ATTN_LOGIT_SOFTCAPPING: &str = ".attn_logit_softcapping";
pub const FINAL_LOGIT_SOFTCAPPING: &str = ".final_logit_softcapping";
pub const ROPE_FREQ_BASE_SWA: &str = ".rope.freq_base_swa";
// Gemma 4 (gemma4): windowed layers' own head sizes and rotary dims, layers that reuse an
// earlier layer's KV, per-layer embedding width
pub const KEY_LENGTH_SWA: &str = ".attention.key_length_swa";
pub const VALUE_LENGTH_SWA: &str = ".attention.value_length_swa";
pub const ROPE_DIMENSION_COUNT_SWA: &str = ".rope.dimension_count_swa";
pub const ATTENTION_SHARED_KV_LAYERS: &str = ".attention.shared_kv_layers";
pub const EMBEDDING_LENGTH_PER_LAYER_INPUT: &str = ".embedding_length_per_layer_input";
pub const ROPE_DIMENSION_SECTIONS: &str = ".rope.dimension_sections";
// <arch>.ssm.* of state-space and linear-attention mixers (mamba2, falcon-h1, qwen3next)
pub const SSM_CONV_KERNEL: &str = ".ssm.conv_kernel";
pub const SSM_INNER_SIZE: &str = ".ssm.inner_size";
pub const SSM_STATE_SIZE: &str = ".ssm.state_size";
pub const SSM_TIME_STEP_RANK: &str = ".ssm.time_step_rank";
pub const SSM_GROUP_COUNT: &str = ".ssm.group_count";
/// Mamba-1 (falcon-mamba): RMS-norm dt, B and C before their use.
pub const SSM_DT_B_C_RMS: &str = ".ssm.dt_b_c_rms";
pub const FULL_ATTENTION_INTERVAL: &str = ".full_attention_interval";
pub const ATTENTION_RECURRENT_LAYERS: &str = ".attention.recurrent_layers";
pub const EXPERT_SHARED_FEED_FORWARD_LENGTH: &str = ".expert_shared_feed_forward_length";
// Kimi delta attention (kimi-linear): the head size of q, k and v
pub const KDA_HEAD_DIM: &str = ".kda.head_dim";
// step35: per-layer SwiGLU clamps of the routed and shared experts (and ROPE_DIMENSION_COUNT_SWA above)
pub const SWIGLU_CLAMP_EXP: &str = ".swiglu_clamp_exp";
pub const SWIGLU_CLAMP_SHEXP: &str = ".swiglu_clamp_shexp";
// RWKV (rwkv7, rwkv6)
pub const WKV_HEAD_SIZE: &str = ".wkv.head_size";
pub const DECAY_LORA_RANK: &str = ".attention.decay_lora_rank";
pub const ICLR_LORA_RANK: &str = ".attention.iclr_lora_rank";
pub const VALUE_RESIDUAL_MIX_LORA_RANK: &str = ".attention.value_residual_mix_lora_rank";
pub const GATE_LORA_RANK: &str = ".attention.gate_lora_rank";
pub const TOKEN_SHIFT_COUNT: &str = ".token_shift_count";
// RWKV-6 (rwkv6)
pub const TIME_MIX_EXTRA_DIM: &str = ".time_mix_extra_dim";
pub const TIME_DECAY_EXTRA_DIM: &str = ".time_decay_extra_dim";
pub const RESCALE_EVERY_N_LAYERS: &str = ".rescale_every_n_layers";
/// How pooled embeddings combine the positions (llama.cpp `llama_pooling_type`: 0 none,
/// 1 mean, 2 cls, 3 last, 4 rank).
pub const POOLING_TYPE: &str = ".pooling_type";

// tokenizer.*
pub const TOKENIZER_MODEL: &str = "tokenizer.ggml.model";
pub const TOKENIZER_PRE: &str = "tokenizer.ggml.pre";
pub const TOKENIZER_TOKENS: &str = "tokenizer.ggml.tokens";
pub const TOKENIZER_SCORES: &str = "tokenizer.ggml.scores";
pub const TOKENIZER_TOKEN_TYPE: &str = "tokenizer.ggml.token_type";
pub const TOKENIZER_MERGES: &str = "tokenizer.ggml.merges";
pub const TOKENIZER_BOS_ID: &str = "tokenizer.ggml.bos_token_id";
pub const TOKENIZER_EOS_ID: &str = "tokenizer.ggml.eos_token_id";
pub const TOKENIZER_EOT_ID: &str = "tokenizer.ggml.eot_token_id";
pub const TOKENIZER_EOM_ID: &str = "tokenizer.ggml.eom_token_id";
pub const TOKENIZER_UNK_ID: &str = "tokenizer.ggml.unknown_token_id";
pub const TOKENIZER_SEP_ID: &str = "tokenizer.ggml.seperator_token_id";
pub const TOKENIZER_PAD_ID: &str = "tokenizer.ggml.padding_token_id";
pub const TOKENIZER_MASK_ID: &str = "tokenizer.ggml.mask_token_id";
pub const TOKENIZER_ADD_BOS: &str = "tokenizer.ggml.add_bos_token";
pub const TOKENIZER_ADD_EOS: &str = "tokenizer.ggml.add_eos_token";
pub const TOKENIZER_ADD_SEP: &str = "tokenizer.ggml.add_sep_token";
pub const TOKENIZER_ADD_SPACE_PREFIX: &str = "tokenizer.ggml.add_space_prefix";
pub const TOKENIZER_REMOVE_EXTRA_WS: &str = "tokenizer.ggml.remove_extra_whitespaces";
pub const TOKENIZER_PRECOMPILED_CHARSMAP: &str = "tokenizer.ggml.precompiled_charsmap";
pub const TOKENIZER_CHAT_TEMPLATE: &str = "tokenizer.chat_template";
pub const TOKENIZER_FIM_PRE_ID: &str = "tokenizer.ggml.fim_pre_token_id";
pub const TOKENIZER_FIM_SUF_ID: &str = "tokenizer.ggml.fim_suf_token_id";
pub const TOKENIZER_FIM_MID_ID: &str = "tokenizer.ggml.fim_mid_token_id";
pub const TOKENIZER_FIM_PAD_ID: &str = "tokenizer.ggml.fim_pad_token_id";
pub const TOKENIZER_FIM_REP_ID: &str = "tokenizer.ggml.fim_rep_token_id";
pub const TOKENIZER_FIM_SEP_ID: &str = "tokenizer.ggml.fim_sep_token_id";
// Deprecated spellings of the FIM ids, still read by llama.cpp.
pub const TOKENIZER_PREFIX_ID: &str = "tokenizer.ggml.prefix_token_id";
pub const TOKENIZER_SUFFIX_ID: &str = "tokenizer.ggml.suffix_token_id";
pub const TOKENIZER_MIDDLE_ID: &str = "tokenizer.ggml.middle_token_id";
pub const TOKENIZER_NORMALIZER_LOWERCASE: &str = "tokenizer.ggml.normalizer.lowercase";
pub const TOKENIZER_NORMALIZER_STRIP_ACCENTS: &str = "tokenizer.ggml.normalizer.strip_accents";
