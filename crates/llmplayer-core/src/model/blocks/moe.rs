//! The mixture-of-experts FFN (llama.cpp `build_moe_ffn`): a router picks `k` of the layer's
//! experts per token, each a gated FFN of its own, and their outputs are summed by weight;
//! shared experts (deepseek2, glm4moe, llama4, qwen3next), one fused gated FFN every token
//! runs, are added to that (qwen3next's scaled by a sigmoid gate of the token first).
//!
//! Per pass: router logits for every row (one mat-mat, plus the router bias where the file
//! has one: gpt-oss), then per token (`route`): scores by the gating function (ggml's
//! softmax, `1 / (1 + expf(-x))`, or the raw logits with a softmax over the chosen ones),
//! selection scores (plus the `exp_probs_b` bias when the file has one; the raw logits for
//! llama4), group-limited routing (the best `n_group_used` groups by the sum of their two
//! best scores; the others masked), the top `k`, their unbiased scores as weights, optionally
//! renormalized to sum 1 (sum in f64, clamped below at 2^-14, as llama.cpp does) and scaled.
//! Then `up` and `gate` through [`Device::matmul_id`], which runs each used expert once over
//! the rows routed to it (activations converted once per expert), per-expert biases where
//! the file has them, the activation (SwiGLU, or gpt-oss's clamped one), `down` the same way,
//! and per token `sum_j round(w_j * expert_j)` in slot order. llama4 instead scales each
//! chosen expert's input by its weight and sums the outputs as they are.
//!
//! [`Device::matmul_id`]: crate::model::device::Device::matmul_id

use super::Pass;
use crate::model::device::ExpertScratch;
use super::proj::Proj;
use crate::model::hparams::{ExpertAct, Gating, HParams, MoeParams, Routing};
use crate::model::names::{Layer, Suffix};
use crate::model::ops::attention::softmax_row;
use crate::model::ops::f32dot::{dot_rows, Order};
use crate::model::ops::glibc::expf;
use crate::model::weights::{Loader, Mat};
use crate::model::ModelError;
use crate::quant::QuantizedActs;

#[derive(Debug)]
pub(crate) struct Moe {
    /// (n_expert, n_embd) router, and (n_expert,) its bias
    pub router: Mat,
    pub router_b: Option<Vec<f32>>,
    /// per expert: (n_ff, n_embd), (n_ff, n_embd), (n_embd, n_ff)
    pub gate: Vec<Mat>,
    pub up: Vec<Mat>,
    pub down: Vec<Mat>,
    /// per-expert biases: (n_expert, n_ff), (n_expert, n_ff), (n_expert, n_embd)
    pub gate_b: Option<Vec<f32>>,
    pub up_b: Option<Vec<f32>>,
    pub down_b: Option<Vec<f32>>,
    /// experts per token
    pub k: usize,
    pub routing: Routing,
    pub act: ExpertAct,
    /// (n_expert,) added to the scores for selection only (`exp_probs_b`)
    pub select_bias: Option<Vec<f32>>,
    /// shared experts: (n_sh, n_embd) gate and up, (n_embd, n_sh) down, n_sh their width
    pub shared: Option<[Proj; 3]>,
    /// (n_embd,) the shared experts' gate: their output times `sigmoid(gate · x)` (a 1-D
    /// tensor, so f32 as llama-quantize leaves it)
    pub shared_gate: Option<Vec<f32>>,
    /// The shared experts' SwiGLU clamp (step35's `swiglu_clamp_shexp`), where positive
    pub shared_limit: Option<f32>,
}

/// The MoE FFN's activations for batches of up to `n_ubatch` tokens (widths: the maximum over
/// layers).
pub(crate) struct MoeBufs {
    /// (n_ubatch, n_expert) router logits, then probabilities
    probs: Vec<f32>,
    /// (n_ubatch, k) chosen experts, best first, and their weights
    ids: Vec<u32>,
    w: Vec<f32>,
    /// (n_ubatch * k, n_ff) gate then SwiGLU output, and up
    gate: Vec<f32>,
    up: Vec<f32>,
    /// (n_ubatch * k, n_embd) each chosen expert's output
    down: Vec<f32>,
    /// (n_expert,) selection scores and ranking scratch
    select: Vec<f32>,
    order: Vec<u32>,
    es: ExpertScratch,
    /// (n_ubatch, n_sh) the shared experts' gate and up, (n_ubatch, n_embd) output, and
    /// (n_ubatch,) their gate's logits
    sh_gate: Vec<f32>,
    sh_up: Vec<f32>,
    sh_out: Vec<f32>,
    sh_w: Vec<f32>,
    /// (n_ubatch * k, n_embd) each chosen expert's input times its weight (llama4)
    x_weighted: Vec<f32>,
}

impl MoeBufs {
    pub fn new(hp: &HParams, moe: &MoeParams, n_ubatch: usize) -> MoeBufs {
        let k = moe.n_used.iter().copied().max().unwrap_or(1);
        let n_ff = moe.n_ff.iter().copied().max().unwrap_or(0);
        let n_sh = (0..moe.n_ff.len()).map(|il| moe.shared_width(il)).max().unwrap_or(0);
        let rows = n_ubatch * k;
        MoeBufs {
            probs: vec![0.0; n_ubatch * moe.n_expert],
            ids: vec![0; rows],
            w: vec![0.0; rows],
            gate: vec![0.0; rows * n_ff],
            up: vec![0.0; rows * n_ff],
            down: vec![0.0; rows * hp.n_embd],
            select: vec![0.0; moe.n_expert],
            order: Vec::with_capacity(moe.n_expert),
            es: ExpertScratch::with_capacity(rows, hp.n_embd.max(n_ff)),
            sh_gate: vec![0.0; n_ubatch * n_sh],
            sh_up: vec![0.0; n_ubatch * n_sh],
            sh_out: vec![0.0; if moe.n_shared > 0 { n_ubatch * hp.n_embd } else { 0 }],
            sh_w: vec![0.0; if moe.shared_gate { n_ubatch } else { 0 }],
            x_weighted: vec![0.0; if moe.routing.weight_before_ffn { rows * hp.n_embd } else { 0 }],
        }
    }
}

impl Moe {
    /// Layer `il`'s router (`ffn_gate_inp`, its bias and `exp_probs_b` when present), experts
    /// (`ffn_{gate,up,down}_exps`, their biases when present) and, when `moe.n_shared > 0`,
    /// shared experts (`ffn_{gate,up,down}_shexp`, and their gate `ffn_gate_inp_shexp` when
    /// `moe.shared_gate`); routing as `moe` says.
    pub fn load(l: &Loader, hp: &HParams, il: usize, moe: &MoeParams) -> Result<Moe, ModelError> {
        let (d, n_ff, n) = (hp.n_embd, moe.n_ff[il], moe.n_expert);
        let name = |t: Layer| t.name(il, Suffix::Weight);
        let shared = match moe.shared_width(il) {
            0 => None,
            s => Some([
                Proj::req(l, Layer::FfnGateShexp, il, d, s)?,
                Proj::req(l, Layer::FfnUpShexp, il, d, s)?,
                Proj::req(l, Layer::FfnDownShexp, il, s, d)?,
            ]),
        };
        let shared_gate = if moe.shared_gate && shared.is_some() { Some(l.vec(&Layer::FfnGateInpShexp.name(il, Suffix::Weight), d)?) } else { None };
        let bias = |t: Layer, width: usize| l.rows_opt(&t.name(il, Suffix::Bias), width, n);
        // llama.cpp clamps where the layer's limit exceeds 1e-6.
        let limit = |v: &Option<Vec<f32>>| v.as_ref().map(|v| v[il]).filter(|&x| x > 1e-6);
        Ok(Moe {
            router: l.mat(&name(Layer::FfnGateInp), d, Some(n))?,
            router_b: l.vec_opt(&Layer::FfnGateInp.name(il, Suffix::Bias), n)?,
            gate: l.experts(&name(Layer::FfnGateExps), d, n_ff, n)?,
            up: l.experts(&name(Layer::FfnUpExps), d, n_ff, n)?,
            down: l.experts(&name(Layer::FfnDownExps), n_ff, d, n)?,
            gate_b: bias(Layer::FfnGateExps, n_ff)?,
            up_b: bias(Layer::FfnUpExps, n_ff)?,
            down_b: bias(Layer::FfnDownExps, d)?,
            k: moe.n_used[il],
            routing: moe.routing,
            act: limit(&moe.swiglu_limit).map_or(moe.act, |limit| ExpertAct::SwigluLimit { limit }),
            select_bias: l.vec_opt(&Layer::FfnExpProbsB.name(il, Suffix::Bias), n)?,
            shared,
            shared_gate,
            shared_limit: limit(&moe.swiglu_limit_shared),
        })
    }

    /// One token's routing: `pr` (n_expert,) router logits, turned into scores in place;
    /// writes the chosen experts, best first, to `ids` and their weights to `w` (k,).
    fn route(&self, pr: &mut [f32], select: &mut [f32], order: &mut Vec<u32>, ids: &mut [u32], w: &mut [f32], p: &Pass) {
        let n_exp = pr.len();
        let r = self.routing;
        if r.select_logits {
            select.copy_from_slice(pr);
        }
        match r.gating {
            Gating::Softmax => softmax_row(pr, p.rounding),
            Gating::Sigmoid => pr.iter_mut().for_each(|x| *x = 1.0 / (1.0 + expf(-*x))),
            Gating::SoftmaxWeight => {}
        }
        match &self.select_bias {
            _ if r.select_logits => {}
            Some(b) => select.iter_mut().zip(pr.iter().zip(b)).for_each(|(s, (&x, &bx))| *s = x + bx),
            None => select.copy_from_slice(pr),
        }
        // ggml_argsort_top_k: descending; equal scores by index (the fixtures' routers have
        // no ties).
        let rank = |order: &mut Vec<u32>, sc: &[f32], n: usize| {
            order.clear();
            order.extend(0..n as u32);
            order.sort_by(|&a, &c| sc[c as usize].total_cmp(&sc[a as usize]).then(a.cmp(&c)));
        };
        if let Some((n_groups, n_keep)) = r.groups {
            // A group's score: the sum of its two best selection scores.
            let per = n_exp / n_groups;
            let mut gs = [0f32; Routing::MAX_GROUPS];
            for (g, gsc) in gs[..n_groups].iter_mut().enumerate() {
                let (mut a, mut b) = (f32::NEG_INFINITY, f32::NEG_INFINITY);
                for &x in &select[g * per..(g + 1) * per] {
                    if x > a {
                        (a, b) = (x, a);
                    } else if x > b {
                        b = x;
                    }
                }
                *gsc = (a as f64 + b as f64) as f32;
            }
            rank(order, &gs[..n_groups], n_groups);
            for &g in &order[n_keep..] {
                select[g as usize * per..(g as usize + 1) * per].fill(f32::NEG_INFINITY);
            }
        }
        rank(order, select, n_exp);
        for (j, &e) in order[..self.k].iter().enumerate() {
            ids[j] = e;
            w[j] = pr[e as usize];
        }
        if r.gating == Gating::SoftmaxWeight {
            softmax_row(w, p.rounding);
        }
        if r.norm_w {
            let sum = (w.iter().map(|&x| x as f64).sum::<f64>() as f32).max(1.0 / 16384.0);
            w.iter_mut().for_each(|x| *x /= sum);
        }
        if let Some(s) = r.w_scale {
            w.iter_mut().for_each(|x| *x *= s);
        }
    }

    /// `out (n, n_embd) = moe(inp (n, n_embd))`.
    pub fn forward(&self, p: &Pass, inp: &[f32], n: usize, b: &mut MoeBufs, acts: &mut QuantizedActs, out: &mut [f32]) {
        let (d, k, n_exp) = (p.hp.n_embd, self.k, self.router.rows);
        let n_ff = self.up[0].rows;
        let MoeBufs { probs, ids, w, gate, up, down, select, order, es, sh_gate, sh_up, sh_out, sh_w, x_weighted } = b;
        p.dev.matmul(&self.router, inp, n, probs, acts);
        if let Some(rb) = &self.router_b {
            for row in probs[..n * n_exp].chunks_exact_mut(n_exp) {
                row.iter_mut().zip(rb).for_each(|(a, &b)| *a += b);
            }
        }
        for t in 0..n {
            let pr = &mut probs[t * n_exp..(t + 1) * n_exp];
            self.route(pr, select, order, &mut ids[t * k..(t + 1) * k], &mut w[t * k..(t + 1) * k], p);
        }
        let rows = n * k;
        let ids = &ids[..rows];
        // The experts' input rows: the token's row for each of its k slots, or (llama4) one
        // row per slot already times the slot's weight.
        let (x, n_x, k_x): (&[f32], usize, usize) = if self.routing.weight_before_ffn {
            for (r, xw) in x_weighted[..rows * d].chunks_exact_mut(d).enumerate() {
                let (xt, wr) = (&inp[r / k * d..][..d], w[r]);
                xw.iter_mut().zip(xt).for_each(|(a, &x)| *a = x * wr);
            }
            (&x_weighted[..rows * d], rows, 1)
        } else {
            (inp, n, k)
        };
        let (gate, up, down) = (&mut gate[..rows * n_ff], &mut up[..rows * n_ff], &mut down[..rows * d]);
        p.dev.matmul_id(&self.up, x, n_x, ids, k_x, up, acts, es);
        add_expert_bias(up, self.up_b.as_deref(), ids);
        p.dev.matmul_id(&self.gate, x, n_x, ids, k_x, gate, acts, es);
        add_expert_bias(gate, self.gate_b.as_deref(), ids);
        match self.act {
            ExpertAct::Swiglu => p.dev.swiglu(gate, up, p.rounding),
            ExpertAct::SwigluOai { alpha, limit } => p.dev.swiglu_oai(gate, up, alpha, limit),
            ExpertAct::SwigluLimit { limit } => p.dev.swiglu_limit(gate, up, limit, p.rounding),
        }
        p.dev.matmul_id(&self.down, gate, rows, ids, 1, down, acts, es);
        add_expert_bias(down, self.down_b.as_deref(), ids);
        let weighted = !self.routing.weight_before_ffn;
        for (t, o) in out[..n * d].chunks_exact_mut(d).enumerate() {
            for j in 0..k {
                let (e, wj) = (&down[(t * k + j) * d..(t * k + j + 1) * d], w[t * k + j]);
                match (j, weighted) {
                    (0, true) => o.iter_mut().zip(e).for_each(|(a, &x)| *a = x * wj),
                    (_, true) => o.iter_mut().zip(e).for_each(|(a, &x)| *a += x * wj),
                    (0, false) => o.copy_from_slice(e),
                    (_, false) => o.iter_mut().zip(e).for_each(|(a, &x)| *a += x),
                }
            }
        }
        if let Some([sg, su, sd]) = &self.shared {
            let n_sh = sg.w.rows;
            sg.apply(p.dev, inp, n, sh_gate, acts);
            su.apply(p.dev, inp, n, sh_up, acts);
            match self.shared_limit {
                Some(l) => p.dev.swiglu_limit(&mut sh_gate[..n * n_sh], &sh_up[..n * n_sh], l, p.rounding),
                None => p.dev.swiglu(&mut sh_gate[..n * n_sh], &sh_up[..n * n_sh], p.rounding),
            }
            sd.apply(p.dev, &sh_gate[..n * n_sh], n, sh_out, acts);
            if let Some(g) = &self.shared_gate {
                // llama.cpp's mul_mat of a one-row matrix is ggml_vec_dot_f32 per token.
                for (t, w) in sh_w[..n].iter_mut().enumerate() {
                    dot_rows(&inp[t * d..(t + 1) * d], g, d, std::slice::from_mut(w), Order::VecDot);
                }
                for (o, &gw) in sh_out[..n * d].chunks_exact_mut(d).zip(&sh_w[..n]) {
                    let s = 1.0 / (1.0 + expf(-gw));
                    o.iter_mut().for_each(|v| *v *= s);
                }
            }
            p.dev.add(&mut out[..n * d], &sh_out[..n * d], None);
        }
    }
}

/// Adds each routed row's expert bias (ggml `add_id`): row `r` of `x` (rows, width) gets row
/// `ids[r]` of `bias` (n_expert, width).
fn add_expert_bias(x: &mut [f32], bias: Option<&[f32]>, ids: &[u32]) {
    let Some(bias) = bias else { return };
    let width = x.len() / ids.len();
    for (row, &e) in x.chunks_exact_mut(width).zip(ids) {
        row.iter_mut().zip(&bias[e as usize * width..][..width]).for_each(|(a, &b)| *a += b);
    }
}
