//! Mixture-of-experts hyperparameters: expert counts and widths, and how the router picks
//! and weighs experts (`blocks::moe` applies them).

use super::Meta;
use crate::gguf::keys;
use crate::model::ModelError;

/// How a router turns its logits into chosen experts and their weights (shared by every MoE
/// layer of a model; `blocks::moe` applies it).
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Routing {
    pub gating: Gating,
    /// Renormalize the chosen experts' weights to sum 1.
    pub norm_w: bool,
    /// Multiply the weights by this.
    pub w_scale: Option<f32>,
    /// Group-limited routing: (groups, groups kept per token).
    pub groups: Option<(usize, usize)>,
    /// Experts are selected by the raw router logits, not by the gated scores (llama4).
    pub select_logits: bool,
    /// Each chosen expert's input is multiplied by its weight, and its output is summed
    /// unweighted (llama4's `weight_before_ffn`).
    pub weight_before_ffn: bool,
}

impl Routing {
    /// Expert groups a router may have (DeepSeek-V3 has 8).
    pub const MAX_GROUPS: usize = 64;
}

/// How router logits become expert probabilities (llama.cpp
/// `llama_expert_gating_func_type`, GGUF `expert_gating_func`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Gating {
    /// 1 (and 0, the default of files that predate the key)
    #[default]
    Softmax,
    /// 2: independent sigmoid scores (DeepSeek-V3)
    Sigmoid,
    /// 3: the raw logits select; a softmax over the chosen ones weights them
    SoftmaxWeight,
}

/// An expert's gated activation (llama.cpp `llm_ffn_op_type` of `build_moe_ffn`).
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum ExpertAct {
    /// `silu(gate) * up`
    #[default]
    Swiglu,
    /// gpt-oss's `swiglu_oai`: gate clamped above, up clamped both ways at `limit`, then
    /// `g * sigmoid(alpha * g) * (u + 1)`.
    SwigluOai { alpha: f32, limit: f32 },
    /// step35's clamped SwiGLU: `min(silu(gate), limit) * clamp(up, -limit, limit)`.
    SwigluLimit { limit: f32 },
}

/// How many experts, how many each token uses, and their FFN width (per layer, as GGUF
/// allows a scalar or an array).
#[derive(Clone, Debug, PartialEq)]
pub struct MoeParams {
    pub n_expert: usize,
    pub n_used: Vec<usize>,
    pub n_ff: Vec<usize>,
    pub routing: Routing,
    pub act: ExpertAct,
    /// Shared experts every token runs (one fused gated FFN of n_shared * n_ff).
    pub n_shared: usize,
    /// (n_layer,) the shared FFN's width where it is not n_shared * n_ff (qwen3next).
    pub n_ff_shared: Option<Vec<usize>>,
    /// The shared FFN's output is scaled per token by `sigmoid(ffn_gate_inp_shexp · x)`
    /// (qwen3next).
    pub shared_gate: bool,
    /// Layers before this one have a dense FFN (`leading_dense_block_count`).
    pub n_dense_lead: usize,
    /// Only every n-th layer ((il + 1) % n == 0) has experts, the others a dense FFN
    /// (llama4's `interleave_moe_layer_step`; 0: none has).
    pub interleave: Option<usize>,
    /// (n_layer,) the clamp of the routed and of the shared experts' SwiGLU where positive
    /// ([`ExpertAct::SwigluLimit`]; step35's `swiglu_clamp_exp` / `swiglu_clamp_shexp`).
    pub swiglu_limit: Option<Vec<f32>>,
    pub swiglu_limit_shared: Option<Vec<f32>>,
}

impl MoeParams {
    /// llama.cpp's bound on experts per layer (`LLAMA_MAX_EXPERTS`).
    pub const MAX_EXPERTS: usize = 512;

    /// `expert_count`, `expert_used_count` and `expert_feed_forward_length` (else `default_ff`
    /// of each layer divided by the experts used, as llama.cpp does), checked.
    pub(crate) fn read(m: &Meta, n_layer: usize, default_ff: &[usize]) -> Result<MoeParams, ModelError> {
        let n_expert = m.u32_req(keys::EXPERT_COUNT)? as usize;
        if n_expert == 0 || n_expert > Self::MAX_EXPERTS {
            return Err(m.bad(keys::EXPERT_COUNT, &format!("must be between 1 and {}", Self::MAX_EXPERTS)));
        }
        let n_used = m.per_layer(keys::EXPERT_USED_COUNT, n_layer)?.ok_or_else(|| ModelError::MissingKey(m.key(keys::EXPERT_USED_COUNT)))?;
        if n_used.iter().any(|&k| k == 0 || k > n_expert) {
            return Err(m.bad(keys::EXPERT_USED_COUNT, &format!("must be between 1 and expert_count ({n_expert})")));
        }
        let n_ff = match m.per_layer(keys::EXPERT_FEED_FORWARD_LENGTH, n_layer)? {
            Some(v) => v,
            None => default_ff.iter().zip(&n_used).map(|(&f, &k)| f / k).collect(),
        };
        if n_ff.contains(&0) {
            return Err(m.bad(keys::EXPERT_FEED_FORWARD_LENGTH, "an expert needs a width"));
        }
        Ok(MoeParams { n_expert, n_used, n_ff, routing: Routing::default(), act: ExpertAct::Swiglu, n_shared: 0, n_ff_shared: None, shared_gate: false, n_dense_lead: 0, interleave: None, swiglu_limit: None, swiglu_limit_shared: None })
    }

    /// Width of layer `il`'s shared FFN (0: none).
    pub fn shared_width(&self, il: usize) -> usize {
        match self.n_shared {
            0 => 0,
            s => self.n_ff_shared.as_ref().map_or(s * self.n_ff[il], |w| w[il]),
        }
    }

    /// Whether layer `il` has experts (else a dense FFN).
    pub fn is_moe_layer(&self, il: usize) -> bool {
        il >= self.n_dense_lead && self.interleave.is_none_or(|n| n > 0 && (il + 1) % n == 0)
    }

    /// `expert_gating_func` (absent or 0: `default`).
    pub(crate) fn read_gating(&mut self, m: &Meta, default: Gating) -> Result<(), ModelError> {
        self.routing.gating = match m.u32_opt(keys::EXPERT_GATING_FUNC)?.unwrap_or(0) {
            0 => default,
            1 => Gating::Softmax,
            2 => Gating::Sigmoid,
            3 => Gating::SoftmaxWeight,
            g => return Err(m.bad(keys::EXPERT_GATING_FUNC, &format!("gating function {g} is not supported (1 softmax, 2 sigmoid, 3 softmax of the chosen)"))),
        };
        Ok(())
    }

    /// The routing keys of DeepSeek-style routers: gating function, weight norm and scale,
    /// expert groups, shared experts (llama.cpp reads them for deepseek2 and its kin).
    pub(crate) fn read_routing(&mut self, m: &Meta, default_gating: Gating) -> Result<(), ModelError> {
        self.read_gating(m, default_gating)?;
        self.routing.norm_w = m.bool_opt(keys::EXPERT_WEIGHTS_NORM)?.unwrap_or(false);
        self.routing.w_scale = m.f32_opt(keys::EXPERT_WEIGHTS_SCALE)?.filter(|&s| s != 0.0 && s != 1.0);
        self.n_shared = m.u32_opt(keys::EXPERT_SHARED_COUNT)?.unwrap_or(0) as usize;
        let n_groups = m.u32_opt(keys::EXPERT_GROUP_COUNT)?.unwrap_or(0) as usize;
        let n_group_used = m.u32_opt(keys::EXPERT_GROUP_USED_COUNT)?.unwrap_or(0) as usize;
        if n_groups > 1 {
            if n_groups > Routing::MAX_GROUPS {
                return Err(m.bad(keys::EXPERT_GROUP_COUNT, &format!("at most {} expert groups are supported", Routing::MAX_GROUPS)));
            }
            let per_group = self.n_expert / n_groups;
            if self.n_expert % n_groups != 0 || per_group < 2 {
                return Err(m.bad(keys::EXPERT_GROUP_COUNT, &format!("{} experts do not split into {n_groups} groups of at least 2", self.n_expert)));
            }
            if n_group_used == 0 || n_group_used >= n_groups {
                return Err(m.bad(keys::EXPERT_GROUP_USED_COUNT, &format!("must be between 1 and {}", n_groups - 1)));
            }
            if self.n_used.iter().any(|&k| k > n_group_used * per_group) {
                return Err(m.bad(keys::EXPERT_USED_COUNT, "more experts per token than the kept groups hold"));
            }
            self.routing.groups = Some((n_groups, n_group_used));
        }
        Ok(())
    }
}
