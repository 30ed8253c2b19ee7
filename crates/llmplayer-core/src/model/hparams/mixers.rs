//! The mixers' own sizes, read from their metadata keys: state-space and linear-attention
//! (`ssm.*`), Mamba-1, RWKV-7 and RWKV-6, multi-head latent attention.

use super::Meta;
use crate::gguf::keys;
use crate::model::ModelError;

/// The `ssm.*` sizes (llama.cpp's `ssm_d_conv` ..): the short conv's kernel, the inner
/// width, the state size per head (Mamba-2) or the head size (gated DeltaNet), the number of
/// heads (`time_step_rank`: Mamba-2 heads, DeltaNet value heads) and of groups (B/C groups,
/// DeltaNet key heads).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SsmDims {
    pub d_conv: usize,
    pub d_inner: usize,
    pub d_state: usize,
    pub n_head: usize,
    pub n_group: usize,
}

impl SsmDims {
    /// Reads and checks the five keys (every one required, as llama.cpp does).
    pub(crate) fn read(m: &Meta) -> Result<SsmDims, ModelError> {
        let get = |k: &str| -> Result<usize, ModelError> {
            let v = m.u32_req(k)? as usize;
            if v == 0 || v > 1 << 20 {
                return Err(m.bad(k, "must be between 1 and 2^20"));
            }
            Ok(v)
        };
        let d = SsmDims {
            d_conv: get(keys::SSM_CONV_KERNEL)?,
            d_inner: get(keys::SSM_INNER_SIZE)?,
            d_state: get(keys::SSM_STATE_SIZE)?,
            n_head: get(keys::SSM_TIME_STEP_RANK)?,
            n_group: get(keys::SSM_GROUP_COUNT)?,
        };
        if d.d_inner % d.n_head != 0 || d.n_head % d.n_group != 0 || d.d_conv > 64 {
            return Err(m.bad(keys::SSM_TIME_STEP_RANK, &format!("{} heads of an inner size {} in {} groups, conv {}", d.n_head, d.d_inner, d.n_group, d.d_conv)));
        }
        Ok(d)
    }
    /// Per-head width of the inner activations (Mamba-2's head_dim).
    pub fn head_dim(&self) -> usize {
        self.d_inner / self.n_head
    }
}

/// Mamba-1's sizes (llama.cpp's `ssm_d_conv`, `ssm_d_inner`, `ssm_d_state`, `ssm_dt_rank`,
/// `ssm_dt_b_c_rms`): the conv's kernel, the inner width (one scan channel per inner value),
/// the state size per channel, the rank of the time-step projection, and whether dt, B and
/// C are RMS-normed (falcon-mamba).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MambaDims {
    pub d_conv: usize,
    pub d_inner: usize,
    pub d_state: usize,
    pub dt_rank: usize,
    pub dt_b_c_rms: bool,
}

impl MambaDims {
    /// Reads and checks the keys (the four sizes required, the flag false when absent, as
    /// llama.cpp does).
    pub(crate) fn read(m: &Meta) -> Result<MambaDims, ModelError> {
        let get = |k: &str| -> Result<usize, ModelError> {
            let v = m.u32_req(k)? as usize;
            if v == 0 || v > 1 << 20 {
                return Err(m.bad(k, "must be between 1 and 2^20"));
            }
            Ok(v)
        };
        let d = MambaDims {
            d_conv: get(keys::SSM_CONV_KERNEL)?,
            d_inner: get(keys::SSM_INNER_SIZE)?,
            d_state: get(keys::SSM_STATE_SIZE)?,
            dt_rank: get(keys::SSM_TIME_STEP_RANK)?,
            dt_b_c_rms: m.bool_opt(keys::SSM_DT_B_C_RMS)?.unwrap_or(false),
        };
        if d.d_conv > 64 {
            return Err(m.bad(keys::SSM_CONV_KERNEL, &format!("a conv of {} taps (at most 64)", d.d_conv)));
        }
        Ok(d)
    }
}

/// RWKV-7's sizes (llama.cpp's `wkv_head_size`, `n_lora_*`): the head size of the wkv
/// state (`n_embd / head_size` heads) and the ranks of the decay, in-context learning rate,
/// value-residual and gate LoRAs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RwkvDims {
    pub head_size: usize,
    pub lora_decay: usize,
    pub lora_iclr: usize,
    pub lora_value_res: usize,
    pub lora_gate: usize,
}

impl RwkvDims {
    /// Reads and checks the keys (the gate's rank too: llama.cpp loads the gate's tensors
    /// unconditionally, so a file without it does not load there either).
    pub(crate) fn read(m: &Meta, n_embd: usize) -> Result<RwkvDims, ModelError> {
        let get = |k: &str| -> Result<usize, ModelError> {
            let v = m.u32_req(k)? as usize;
            if v == 0 || v > 1 << 16 {
                return Err(m.bad(k, "must be between 1 and 2^16"));
            }
            Ok(v)
        };
        let d = RwkvDims {
            head_size: get(keys::WKV_HEAD_SIZE)?,
            lora_decay: get(keys::DECAY_LORA_RANK)?,
            lora_iclr: get(keys::ICLR_LORA_RANK)?,
            lora_value_res: get(keys::VALUE_RESIDUAL_MIX_LORA_RANK)?,
            lora_gate: get(keys::GATE_LORA_RANK)?,
        };
        if !n_embd.is_multiple_of(d.head_size) {
            return Err(m.bad(keys::WKV_HEAD_SIZE, &format!("{} does not divide the embedding width {n_embd}", d.head_size)));
        }
        Ok(d)
    }
}

/// RWKV-6's sizes (llama.cpp's `wkv_head_size`, `time_mix_extra_dim`,
/// `time_decay_extra_dim`): the wkv head size, the rank of each of the five token-shift
/// LoRAs and that of the decay LoRA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rwkv6Dims {
    pub head_size: usize,
    pub mix_rank: usize,
    pub decay_rank: usize,
}

/// Multi-head latent attention's sizes (llama.cpp's deepseek2 hparams). Its K and V heads
/// are what `attention.key_length` / `value_length` say: in the current GGUF layout one KV
/// head of `kv_lora + n_rot` (the latent and the shared rope key) and `kv_lora` (the latent
/// again), with the per-head sizes in the `*_mla` keys; in the legacy layout (a combined
/// `attn_kv_b`) plain MHA heads of the per-head sizes.
#[derive(Clone, Debug, PartialEq)]
pub struct MlaDims {
    /// Rank of the compressed KV (`kv_lora_rank`).
    pub kv_lora: usize,
    /// Rank of the low-rank q (`q_lora_rank`; 0 or absent: a plain `attn_q`).
    pub q_lora: usize,
    /// Per-head q/k size (nope + rope) and v size after decompression.
    pub head_dim_k: usize,
    pub head_dim_v: usize,
    /// The cache holds the normalized latent and the roped shared key per position, and
    /// attention runs in the absorbed form (current layout); false: the legacy layout,
    /// decompressed K/V cached as MHA.
    pub latent: bool,
    /// Softmax scale: YaRN's mscale squared over sqrt(head_dim_k).
    pub kq_scale: f32,
}

impl MlaDims {
    /// Dims of q and k that carry no rope.
    pub fn nope(&self, n_rot: usize) -> usize {
        self.head_dim_k - n_rot
    }
}
