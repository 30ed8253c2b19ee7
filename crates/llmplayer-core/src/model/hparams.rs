//! Hyperparameters read from GGUF metadata, following llama.cpp's `load_hparams` (generic
//! keys here) and each architecture's `load_arch_hparams` (arch keys: the `hparams` function
//! of its file in `arch/`). Keys an architecture does not read in llama.cpp are ignored here
//! too (e.g. `yarn_log_multiplier` outside mistral3, `attention.sliding_window` for phi3), so
//! a file means the same thing to both.

use super::arch::Arch;
use super::ops::glibc::logf;
use super::ModelError;
use crate::gguf::{keys, GgufFile, Value};

mod mixers;
mod moe;
pub use mixers::{MambaDims, MlaDims, Rwkv6Dims, RwkvDims, SsmDims};
pub use moe::{ExpertAct, Gating, MoeParams, Routing};

/// How rotary pairs are formed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopeKind {
    /// GPT-J style: adjacent pairs (x[2i], x[2i+1]).
    Norm,
    /// GPT-NeoX style: (x[i], x[i + n_rot/2]).
    Neox,
}

/// The rope of windowed layers where it differs from the other layers'.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RopeSwa {
    pub base: f32,
    pub freq_scale: f32,
    /// Without YaRN's extrapolation and magnitude (olmo2/OLMo-3's windowed layers).
    pub no_yarn: bool,
}

/// Which norm an architecture's blocks use (llama.cpp `LLM_NORM_RMS` / `LLM_NORM`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NormKind {
    /// RMSNorm; epsilon from `attention.layer_norm_rms_epsilon`.
    Rms,
    /// LayerNorm (command-r, cohere2, starcoder2); epsilon from `attention.layer_norm_epsilon`.
    Layer,
}

/// `rope.scaling.type` (llama.cpp `llama_rope_scaling_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopeScaling {
    None,
    Linear,
    Yarn,
    LongRope,
}

#[derive(Clone, Debug)]
pub struct HParams {
    pub arch: Arch,
    pub n_vocab: usize,
    pub n_ctx_train: usize,
    pub n_embd: usize,
    pub n_layer: usize,
    /// Per layer (GGUF allows a scalar or a per-layer array).
    pub n_head: Vec<usize>,
    pub n_head_kv: Vec<usize>,
    pub n_ff: Vec<usize>,
    /// Per-head sizes of K (and Q) and of V.
    pub head_dim_k: usize,
    pub head_dim_v: usize,
    /// Rotated dimensions per head (partial rotary when < head_dim_k).
    pub n_rot: usize,
    /// The blocks' norm epsilon (RMSNorm's, or LayerNorm's where `layer_norm`).
    pub rms_eps: f32,
    /// The block and output norms are LayerNorms (`ArchDef::norm`), not RMSNorms.
    pub layer_norm: bool,
    /// Multiplies the logits (command-r `logit_scale`).
    pub logit_mul: Option<f32>,
    pub rope_kind: RopeKind,
    pub rope_freq_base: f32,
    /// 1 / rope.scaling.factor (1 when unscaled).
    pub rope_freq_scale: f32,
    pub rope_scaling: RopeScaling,
    pub n_ctx_orig_yarn: usize,
    /// `rope.scaling.attn_factor`: multiplies cos and sin.
    pub rope_attn_factor: f32,
    pub yarn_log_mul: f32,
    pub yarn_beta_fast: f32,
    pub yarn_beta_slow: f32,
    /// Llama-4 style attention temperature (mistral3).
    pub attn_temp: Option<AttnTemp>,
    /// Softmax scale (None: 1/sqrt(head_dim)).
    pub attention_scale: Option<f32>,
    /// Granite multipliers: of the embeddings, of each block's output before the residual
    /// add, and the divisor of the logits.
    pub embedding_scale: Option<f32>,
    pub residual_scale: Option<f32>,
    pub logit_scale: Option<f32>,
    /// Every n-th layer ((il + 1) % n == 0) skips rope (smollm3).
    pub no_rope_layer_step: Option<usize>,
    /// False: no layer applies rope (granite with rope.scaling.finetuned = false).
    pub rope_everywhere: bool,
    /// Only sliding-window layers apply rope (cohere2).
    pub rope_windowed_only: bool,
    /// Mixture-of-experts FFNs (set by the architectures that have them).
    pub moe: Option<MoeParams>,
    /// Multi-head latent attention (deepseek2).
    pub mla: Option<MlaDims>,
    /// Sliding-window attention: the window, and which layers use it.
    pub swa: Option<(usize, Vec<bool>)>,
    /// Chunked attention (llama4): a query sees the keys of its own chunk of this many
    /// positions; and which layers use it.
    pub chunked: Option<(usize, Vec<bool>)>,
    /// The windowed layers' own rope (gemma3, olmo2 with windows).
    pub rope_swa: Option<RopeSwa>,
    /// Soft-capping of attention scores and of the final logits (gemma2).
    pub attn_softcap: Option<f32>,
    pub final_softcap: Option<f32>,
    /// State-space / linear-attention sizes (mamba2, falcon-h1, qwen3next, qwen35).
    pub ssm: Option<SsmDims>,
    /// RWKV's head size and LoRA ranks (rwkv7).
    pub rwkv: Option<RwkvDims>,
    /// Mamba-1's sizes (mamba).
    pub mamba: Option<MambaDims>,
    /// RWKV-6's head size and LoRA ranks (rwkv6).
    pub rwkv6: Option<Rwkv6Dims>,
    /// The residual stream is halved after every this many layers (rwkv6's
    /// `rescale_every_n_layers`: after layer `il` when `(il + 1) % n == 0`).
    pub rescale_every: Option<usize>,
    /// (n_layer,) the layer keeps no KV: its mixer is recurrent only (set by the
    /// architecture; attention-free models have every layer so and may have no heads).
    pub recurrent: Vec<bool>,
    /// (n_layer,) f32 values of recurrent state one sequence keeps per layer (conv window,
    /// scan state, token shift; 0 for attention-only layers), set by the architecture from
    /// its mixers' sizes (llama.cpp's `n_embd_r() + n_embd_s()`).
    pub state_len: Vec<usize>,
    /// `{arch}.pooling_type` as llama.cpp numbers it (see `model::Pooling`); None when absent.
    pub pooling_type: Option<u32>,
    /// The windowed layers' own head sizes and rotary dims (gemma4; step35 rotates the whole
    /// head there, half of it in the other layers); None: the same as the other layers'.
    pub swa_heads: Option<SwaHeads>,
    /// (n_layer,) the earlier layer whose KV cache a layer attends over instead of keeping
    /// its own (gemma4's shared KV layers compute only q); None: its own.
    pub kv_reuse: Vec<Option<usize>>,
    /// `rope_freqs` divide only the non-windowed layers' frequencies (gemma4, step35).
    pub rope_factors_full_only: bool,
    /// Width of each layer's slice of the per-layer embeddings (gemma4); None: none.
    pub n_embd_per_layer: Option<usize>,
}

/// Head sizes and rotary dims of windowed layers where they differ (llama.cpp
/// `n_embd_head_k_swa`, `n_embd_head_v_swa`, `n_rot_swa`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SwaHeads {
    pub head_dim_k: usize,
    pub head_dim_v: usize,
    pub n_rot: usize,
}

/// `q *= 1 + scale * ln(1 + floor((pos + offset) / floor))` (llm_graph_input_attn_temp).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AttnTemp {
    pub scale: f32,
    pub floor: usize,
    /// Added to the position first (llama4: 1).
    pub offset: f32,
    /// Only layers without rope scale their queries (llama4); else every layer does.
    pub nope_layers_only: bool,
}

impl AttnTemp {
    /// mistral3's and deepseek2's: every layer, no offset.
    pub fn every_layer(scale: f32, floor: usize) -> AttnTemp {
        AttnTemp { scale, floor, offset: 0.0, nope_layers_only: false }
    }

    /// The factor for position `pos`.
    pub fn at(self, pos: usize) -> f32 {
        // llama.cpp: float position plus offset over the floor, the rest in double.
        let p = ((pos as f32 + self.offset) / self.floor as f32) as f64;
        ((p.floor() + 1.0).ln() * self.scale as f64 + 1.0) as f32
    }
}

/// Typed metadata access scoped to the file's architecture prefix.
pub(crate) struct Meta<'g, 'a> {
    f: &'g GgufFile<'a>,
    arch: &'a str,
}

impl Meta<'_, '_> {
    pub fn key(&self, suffix: &str) -> String {
        format!("{}{}", self.arch, suffix)
    }
    pub fn get(&self, suffix: &str) -> Option<&Value<'_>> {
        self.f.get(&self.key(suffix))
    }
    pub fn bad(&self, suffix: &str, reason: &str) -> ModelError {
        ModelError::BadKey { key: self.key(suffix), reason: reason.to_string() }
    }
    pub fn u32_opt(&self, suffix: &str) -> Result<Option<u32>, ModelError> {
        match self.get(suffix) {
            None => Ok(None),
            Some(v) => v.as_u32().map(Some).ok_or_else(|| self.bad(suffix, "expected an unsigned integer")),
        }
    }
    pub fn u32_req(&self, suffix: &str) -> Result<u32, ModelError> {
        self.u32_opt(suffix)?.ok_or_else(|| ModelError::MissingKey(self.key(suffix)))
    }
    pub fn f32_opt(&self, suffix: &str) -> Result<Option<f32>, ModelError> {
        match self.get(suffix) {
            None => Ok(None),
            Some(v) => v.as_f32().map(Some).ok_or_else(|| self.bad(suffix, "expected a number")),
        }
    }
    pub fn bool_opt(&self, suffix: &str) -> Result<Option<bool>, ModelError> {
        match self.get(suffix) {
            None => Ok(None),
            Some(v) => v.as_bool().map(Some).ok_or_else(|| self.bad(suffix, "expected a boolean")),
        }
    }
    pub fn f32_req(&self, suffix: &str) -> Result<f32, ModelError> {
        self.f32_opt(suffix)?.ok_or_else(|| ModelError::MissingKey(self.key(suffix)))
    }
    /// llama.cpp `get_key_or_arr`: a scalar for every layer, or one value per layer.
    pub fn per_layer(&self, suffix: &str, n_layer: usize) -> Result<Option<Vec<usize>>, ModelError> {
        let Some(v) = self.get(suffix) else { return Ok(None) };
        if let Some(a) = v.as_array() {
            if a.len() != n_layer {
                return Err(self.bad(suffix, &format!("array has {} entries for {n_layer} layers", a.len())));
            }
            let vals = a.iter().map(|x| x.as_u32().map(|u| u as usize)).collect::<Option<Vec<_>>>();
            return vals.map(Some).ok_or_else(|| self.bad(suffix, "expected unsigned integers"));
        }
        let u = v.as_u32().ok_or_else(|| self.bad(suffix, "expected an unsigned integer or an array"))?;
        Ok(Some(vec![u as usize; n_layer]))
    }
    /// [`Meta::per_layer`] of numbers.
    pub fn per_layer_f32(&self, suffix: &str, n_layer: usize) -> Result<Option<Vec<f32>>, ModelError> {
        let Some(v) = self.get(suffix) else { return Ok(None) };
        if let Some(a) = v.as_array() {
            if a.len() != n_layer {
                return Err(self.bad(suffix, &format!("array has {} entries for {n_layer} layers", a.len())));
            }
            let vals = a.iter().map(|x| x.as_f32()).collect::<Option<Vec<_>>>();
            return vals.map(Some).ok_or_else(|| self.bad(suffix, "expected numbers"));
        }
        let f = v.as_f32().ok_or_else(|| self.bad(suffix, "expected a number or an array"))?;
        Ok(Some(vec![f; n_layer]))
    }

    /// A per-layer flag (booleans, or integers with nonzero true), or one value for every
    /// layer (llama.cpp `get_key_or_arr`); the key is required.
    pub fn per_layer_flags(&self, suffix: &str, n_layer: usize) -> Result<Vec<bool>, ModelError> {
        let v = self.get(suffix).ok_or_else(|| ModelError::MissingKey(self.key(suffix)))?;
        let flag = |x: &Value<'_>| x.as_bool().or_else(|| x.as_u32().map(|u| u != 0));
        match v.as_array() {
            Some(a) if a.len() != n_layer => Err(self.bad(suffix, &format!("array has {} entries for {n_layer} layers", a.len()))),
            Some(a) => a.iter().map(|x| flag(&x)).collect::<Option<Vec<_>>>().ok_or_else(|| self.bad(suffix, "expected booleans")),
            None => flag(v).map(|f| vec![f; n_layer]).ok_or_else(|| self.bad(suffix, "expected a boolean or an array of them")),
        }
    }
}

impl HParams {
    /// Reads the hyperparameters; `n_vocab` is the row count of `token_embd.weight`.
    pub fn from_gguf(f: &GgufFile<'_>, arch: Arch, n_vocab: usize) -> Result<HParams, ModelError> {
        let m = Meta { f, arch: arch.as_str() };
        let n_ctx_train = m.u32_req(keys::CONTEXT_LENGTH)? as usize;
        let n_embd = m.u32_req(keys::EMBEDDING_LENGTH)? as usize;
        let n_layer = m.u32_req(keys::BLOCK_COUNT)? as usize;
        if n_layer == 0 || n_layer > 512 {
            return Err(m.bad(keys::BLOCK_COUNT, "must be between 1 and 512"));
        }
        let n_ff = m.per_layer(keys::FEED_FORWARD_LENGTH, n_layer)?.unwrap_or_else(|| vec![0; n_layer]);
        let n_head = m
            .per_layer(keys::HEAD_COUNT, n_layer)?
            .ok_or_else(|| ModelError::MissingKey(m.key(keys::HEAD_COUNT)))?;
        let n_head_kv = m.per_layer(keys::HEAD_COUNT_KV, n_layer)?.unwrap_or_else(|| n_head.clone());
        let h0 = n_head.iter().copied().find(|&h| h > 0).unwrap_or(0);
        if n_embd == 0 {
            return Err(m.bad(keys::EMBEDDING_LENGTH, "must not be 0"));
        }
        let n_ctx_orig_yarn = match m.u32_opt(keys::ROPE_SCALING_ORIG_CTX_LEN)? {
            Some(n) if n != 0 => n as usize,
            _ => n_ctx_train,
        };
        let rope_freq_base = m.f32_opt(keys::ROPE_FREQ_BASE)?.unwrap_or(10000.0);
        let rope_scaling = match m.get(keys::ROPE_SCALING_TYPE) {
            None => RopeScaling::Linear,
            Some(v) => match v.as_str() {
                Some("none") => RopeScaling::None,
                Some("linear") => RopeScaling::Linear,
                Some("yarn") => RopeScaling::Yarn,
                Some("longrope") => RopeScaling::LongRope,
                _ => return Err(m.bad(keys::ROPE_SCALING_TYPE, "expected none, linear, yarn or longrope")),
            },
        };
        let factor = match m.f32_opt(keys::ROPE_SCALING_FACTOR)? {
            Some(f) => f,
            None => m.f32_opt(keys::ROPE_SCALE_LINEAR)?.unwrap_or(0.0),
        };
        let rope_freq_scale = if factor == 0.0 { 1.0 } else { 1.0 / factor };
        let rope_attn_factor = m.f32_opt(keys::ROPE_SCALING_ATTN_FACTOR)?.unwrap_or(1.0);

        // Attention-free models (mamba2, rwkv7) have no heads: no head sizes either.
        let per_head = if h0 == 0 { 0 } else { n_embd / h0 };
        let head_dim_k = m.u32_opt(keys::KEY_LENGTH)?.map_or(per_head, |v| v as usize);
        let head_dim_v = m.u32_opt(keys::VALUE_LENGTH)?.map_or(per_head, |v| v as usize);
        let n_rot = m.u32_opt(keys::ROPE_DIMENSION_COUNT)?.map_or(head_dim_k, |v| v as usize);
        if n_rot > head_dim_k || n_rot % 2 != 0 {
            return Err(m.bad(keys::ROPE_DIMENSION_COUNT, &format!("{n_rot} rotary dims for head size {head_dim_k}")));
        }

        let mut hp = HParams {
            arch,
            n_vocab,
            n_ctx_train,
            n_embd,
            n_layer,
            n_head,
            n_head_kv,
            n_ff,
            head_dim_k,
            head_dim_v,
            n_rot,
            rms_eps: m.f32_req(match arch.def().norm {
                NormKind::Rms => keys::LAYER_NORM_RMS_EPS,
                NormKind::Layer => keys::LAYER_NORM_EPS,
            })?,
            layer_norm: arch.def().norm == NormKind::Layer,
            logit_mul: None,
            rope_kind: arch.def().rope,
            rope_freq_base,
            rope_freq_scale,
            rope_scaling,
            n_ctx_orig_yarn,
            rope_attn_factor,
            yarn_log_mul: 0.0,
            yarn_beta_fast: 32.0,
            yarn_beta_slow: 1.0,
            attn_temp: None,
            attention_scale: None,
            embedding_scale: None,
            residual_scale: None,
            logit_scale: None,
            no_rope_layer_step: None,
            rope_everywhere: true,
            rope_windowed_only: false,
            moe: None,
            mla: None,
            swa: None,
            chunked: None,
            rope_swa: None,
            attn_softcap: None,
            final_softcap: None,
            ssm: None,
            rwkv: None,
            mamba: None,
            rwkv6: None,
            rescale_every: None,
            recurrent: vec![false; n_layer],
            state_len: vec![0; n_layer],
            pooling_type: m.u32_opt(keys::POOLING_TYPE)?,
            swa_heads: None,
            kv_reuse: vec![None; n_layer],
            rope_factors_full_only: false,
            n_embd_per_layer: None,
        };

        // Per-architecture keys and checks (llama.cpp load_arch_hparams).
        (arch.def().hparams)(&m, &mut hp)?;
        hp.check_heads(&m)?;
        // llama.cpp counts next-token-prediction blocks in block_count; generation never runs
        // them (its n_layer() excludes them), so neither does this engine.
        let nextn = m.u32_opt(keys::NEXTN_PREDICT_LAYERS)?.unwrap_or(0) as usize;
        if nextn >= hp.n_layer {
            return Err(m.bad(keys::NEXTN_PREDICT_LAYERS, &format!("{nextn} of the {} layers leaves no layer to run", hp.n_layer)));
        }
        hp.drop_trailing_layers(nextn);
        Ok(hp)
    }

    /// llama.cpp's context-level YaRN parameters: `(ext_factor, attn_factor)`, where
    /// attn_factor is the magnitude passed to rope (llama_context constructor).
    pub fn rope_ext_and_attn_factor(&self) -> (f32, f32) {
        let freq_scale = self.effective_freq_scale();
        let ext_factor = if self.rope_scaling == RopeScaling::Yarn { 1.0f32 } else { 0.0 };
        let mut attn_factor = 1.0f32;
        if ext_factor != 0.0 {
            let get_mscale = |scale: f32, mscale: f32| if scale <= 1.0 { 1.0 } else { 0.1 * mscale * logf(scale) + 1.0 };
            let factor = 1.0 / freq_scale;
            attn_factor = if self.yarn_log_mul != 0.0 {
                let mscale_all_dims = self.yarn_log_mul;
                // DeepSeek-V2's config has mscale == mscale_all_dim (llama.cpp
                // TAG_DEEPSEEK2_YARN_LOG_MUL_FIX): the magnitude factor is then 1.
                let mscale = if self.arch == Arch::Deepseek2 && mscale_all_dims != 1.0 { mscale_all_dims } else { 1.0 };
                get_mscale(factor, mscale) / get_mscale(factor, mscale_all_dims)
            } else {
                get_mscale(factor, 1.0)
            };
            // ggml's rope_yarn multiplies this back in.
            attn_factor *= 1.0 / (1.0 + 0.1 * logf(factor));
        }
        (ext_factor, attn_factor * self.rope_attn_factor)
    }

    /// `rope.scaling.type = none` never scales frequencies.
    pub fn effective_freq_scale(&self) -> f32 {
        if self.rope_scaling == RopeScaling::None {
            1.0
        } else {
            self.rope_freq_scale
        }
    }

    /// The sliding window of layer `il` (None: it attends to every position).
    pub fn window(&self, il: usize) -> Option<usize> {
        self.swa.as_ref().filter(|(_, layers)| layers[il]).map(|(w, _)| *w)
    }

    /// The attention chunk of layer `il` (None: not chunked).
    pub fn chunk(&self, il: usize) -> Option<usize> {
        self.chunked.as_ref().filter(|(_, layers)| layers[il]).map(|(c, _)| *c)
    }

    /// Whether layer `il` scales its queries by the attention temperature.
    pub fn has_attn_temp(&self, il: usize) -> bool {
        self.attn_temp.is_some_and(|t| !t.nope_layers_only || !self.has_rope(il))
    }

    /// Whether layer `il` attends to a limited span (a sliding window or a chunk), and so
    /// takes the windowed layers' rope where that differs.
    pub fn is_swa(&self, il: usize) -> bool {
        self.window(il).is_some() || self.chunk(il).is_some()
    }

    /// Every layer with attention has heads, kv heads that divide them, and head sizes.
    fn check_heads(&self, m: &Meta) -> Result<(), ModelError> {
        for il in (0..self.n_layer).filter(|&il| !self.recurrent[il]) {
            let (h, hkv) = (self.n_head[il], self.n_head_kv[il]);
            if h == 0 || hkv == 0 || h % hkv != 0 {
                return Err(m.bad(keys::HEAD_COUNT_KV, &format!("layer {il}: {h} heads is not a multiple of {hkv} kv heads")));
            }
            if self.head_k(il) == 0 || self.head_v(il) == 0 {
                return Err(m.bad(keys::KEY_LENGTH, "an attention layer needs a head size"));
            }
        }
        Ok(())
    }

    /// Drops the last `n` layers (next-token-prediction blocks llama.cpp counts in
    /// `block_count` but never runs for generation) from every per-layer list.
    fn drop_trailing_layers(&mut self, n: usize) {
        let n_layer = self.n_layer - n;
        self.n_layer = n_layer;
        for v in [&mut self.n_head, &mut self.n_head_kv, &mut self.n_ff] {
            v.truncate(n_layer);
        }
        if let Some(moe) = &mut self.moe {
            moe.n_used.truncate(n_layer);
            moe.n_ff.truncate(n_layer);
            if let Some(w) = &mut moe.n_ff_shared {
                w.truncate(n_layer);
            }
            for l in moe.swiglu_limit.iter_mut().chain(moe.swiglu_limit_shared.iter_mut()) {
                l.truncate(n_layer);
            }
        }
        for (_, layers) in self.swa.iter_mut().chain(self.chunked.iter_mut()) {
            layers.truncate(n_layer);
        }
        self.recurrent.truncate(n_layer);
        self.state_len.truncate(n_layer);
        self.kv_reuse.truncate(n_layer);
    }

    /// llama.cpp `set_swa_pattern(period)`: layer `il` is windowed unless it is the last of each
    /// `period` (0: every layer).
    pub(crate) fn swa_pattern(&self, period: usize) -> Vec<bool> {
        (0..self.n_layer).map(|il| period == 0 || il % period < period - 1).collect()
    }

    /// Whether layer `il` applies rope.
    pub fn has_rope(&self, il: usize) -> bool {
        self.rope_everywhere
            && self.no_rope_layer_step.is_none_or(|n| (il + 1) % n != 0)
            && (!self.rope_windowed_only || self.window(il).is_some())
    }

    /// llama.cpp's check for architectures whose rope must cover the whole head.
    pub(crate) fn require_full_rot(&self, m: &Meta) -> Result<(), ModelError> {
        if self.n_rot != self.head_dim_k {
            return Err(m.bad(keys::ROPE_DIMENSION_COUNT, &format!("invalid n_rot {}, expected {}", self.n_rot, self.head_dim_k)));
        }
        Ok(())
    }

    /// Layer `il`'s per-head K (and Q) size: the windowed layers' own where they have one.
    pub fn head_k(&self, il: usize) -> usize {
        self.swa_heads.filter(|_| self.is_swa(il)).map_or(self.head_dim_k, |s| s.head_dim_k)
    }
    /// Layer `il`'s per-head V size.
    pub fn head_v(&self, il: usize) -> usize {
        self.swa_heads.filter(|_| self.is_swa(il)).map_or(self.head_dim_v, |s| s.head_dim_v)
    }
    /// The largest K and V head sizes of any layer.
    pub fn max_heads(&self) -> (usize, usize) {
        let s = self.swa_heads.map_or((0, 0), |s| (s.head_dim_k, s.head_dim_v));
        (self.head_dim_k.max(s.0), self.head_dim_v.max(s.1))
    }
    /// Rotary dims of the windowed layers.
    pub fn n_rot_swa(&self) -> usize {
        self.swa_heads.map_or(self.n_rot, |s| s.n_rot)
    }
    /// Whether layer `il` keeps a KV cache of its own (not recurrent, not reusing another's).
    pub fn has_kv(&self, il: usize) -> bool {
        !self.recurrent[il] && self.kv_reuse[il].is_none()
    }
    /// The layer whose cache layer `il` attends over.
    pub fn kv_layer(&self, il: usize) -> usize {
        self.kv_reuse[il].unwrap_or(il)
    }
    /// Width of layer `il`'s K rows (0 for a recurrent layer: it keeps no KV).
    pub fn n_embd_k_gqa(&self, il: usize) -> usize {
        if self.recurrent[il] { 0 } else { self.n_head_kv[il] * self.head_k(il) }
    }
    pub fn n_embd_v_gqa(&self, il: usize) -> usize {
        if self.recurrent[il] { 0 } else { self.n_head_kv[il] * self.head_v(il) }
    }
    pub fn n_embd_q(&self, il: usize) -> usize {
        self.n_head[il] * self.head_k(il)
    }
    /// Width of the attention output that `attn_output` reads: per head, V's size (after
    /// MLA's decompression).
    pub fn n_embd_attn_out(&self, il: usize) -> usize {
        self.n_head[il] * self.mla.as_ref().map_or(self.head_v(il), |m| m.head_dim_v)
    }
    /// Whether the cache holds MLA latents (V is a prefix of K: no V is stored).
    pub fn kv_latent(&self) -> bool {
        self.mla.as_ref().is_some_and(|m| m.latent)
    }
    /// Width of the V the cache stores for layer `il` (none for MLA latents).
    pub fn n_embd_v_cache(&self, il: usize) -> usize {
        if self.kv_latent() {
            0
        } else {
            self.n_embd_v_gqa(il)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::AttnTemp;

    /// llama4's temperature (offset 1) starts one position before mistral3's / deepseek2's
    /// (offset 0): `1 + 0.1 ln(1 + floor((pos + offset) / 8192))`.
    #[test]
    fn attention_temperature_offsets() {
        let llama4 = AttnTemp { scale: 0.1, floor: 8192, offset: 1.0, nope_layers_only: true };
        let plain = AttnTemp::every_layer(0.1, 8192);
        let step = ((2f64).ln() * 0.1 + 1.0) as f32;
        assert_eq!((llama4.at(0), llama4.at(8190), llama4.at(8191)), (1.0, 1.0, step));
        assert_eq!((plain.at(8191), plain.at(8192)), (1.0, step));
        assert_eq!(llama4.at(3 * 8192 - 1), ((4f64).ln() * 0.1 + 1.0) as f32);
    }
}
