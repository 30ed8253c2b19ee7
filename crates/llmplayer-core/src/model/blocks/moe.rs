//! The mixture-of-experts FFN (llama.cpp `build_moe_ffn`): a router picks `k` of the layer's
//! experts per token, each a gated FFN of its own, and their outputs are summed by weight.
//!
//! Per pass: router logits for every row (one mat-mat), their softmax (ggml's), the top `k`,
//! their probabilities renormalized to sum 1 (sum in f64, clamped below at 2^-14, as llama.cpp
//! does) and optionally scaled; then `up` and `gate` through [`Device::matmul_id`], which runs
//! each used expert once over the rows routed to it (activations converted once per expert),
//! SwiGLU, `down` the same way, and per token `sum_j round(w_j * expert_j)` in slot order.
//!
//! [`Device::matmul_id`]: crate::model::device::Device::matmul_id

use super::Pass;
use crate::model::device::ExpertScratch;
use crate::model::hparams::{HParams, MoeParams};
use crate::model::names::{Layer, Suffix};
use crate::model::ops::attention::softmax;
use crate::model::weights::{Loader, Mat};
use crate::model::ModelError;
use crate::quant::QuantizedActs;

#[derive(Debug)]
pub(crate) struct Moe {
    /// (n_expert, n_embd) router
    pub router: Mat,
    /// per expert: (n_ff, n_embd), (n_ff, n_embd), (n_embd, n_ff)
    pub gate: Vec<Mat>,
    pub up: Vec<Mat>,
    pub down: Vec<Mat>,
    /// experts per token
    pub k: usize,
    /// renormalize the chosen experts' probabilities to sum 1
    pub norm_w: bool,
    /// multiply the weights by this
    pub w_scale: Option<f32>,
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
    /// (n_expert,) ranking scratch
    order: Vec<u32>,
    es: ExpertScratch,
}

impl MoeBufs {
    pub fn new(hp: &HParams, moe: &MoeParams, n_ubatch: usize) -> MoeBufs {
        let k = moe.n_used.iter().copied().max().unwrap_or(1);
        let n_ff = moe.n_ff.iter().copied().max().unwrap_or(0);
        let rows = n_ubatch * k;
        MoeBufs {
            probs: vec![0.0; n_ubatch * moe.n_expert],
            ids: vec![0; rows],
            w: vec![0.0; rows],
            gate: vec![0.0; rows * n_ff],
            up: vec![0.0; rows * n_ff],
            down: vec![0.0; rows * hp.n_embd],
            order: Vec::with_capacity(moe.n_expert),
            es: ExpertScratch::with_capacity(rows, hp.n_embd.max(n_ff)),
        }
    }
}

impl Moe {
    /// Layer `il`'s router (`ffn_gate_inp`) and experts (`ffn_{gate,up,down}_exps`).
    pub fn load(l: &Loader, hp: &HParams, il: usize, moe: &MoeParams, norm_w: bool, w_scale: Option<f32>) -> Result<Moe, ModelError> {
        let (d, n_ff, n) = (hp.n_embd, moe.n_ff[il], moe.n_expert);
        let name = |t: Layer| t.name(il, Suffix::Weight);
        Ok(Moe {
            router: l.mat(&name(Layer::FfnGateInp), d, Some(n))?,
            gate: l.experts(&name(Layer::FfnGateExps), d, n_ff, n)?,
            up: l.experts(&name(Layer::FfnUpExps), d, n_ff, n)?,
            down: l.experts(&name(Layer::FfnDownExps), n_ff, d, n)?,
            k: moe.n_used[il],
            norm_w,
            w_scale,
        })
    }

    /// `out (n, n_embd) = moe(inp (n, n_embd))`.
    pub fn forward(&self, p: &Pass, inp: &[f32], n: usize, b: &mut MoeBufs, acts: &mut QuantizedActs, out: &mut [f32]) {
        let (d, k, n_exp) = (p.hp.n_embd, self.k, self.router.rows);
        let n_ff = self.up[0].rows;
        let MoeBufs { probs, ids, w, gate, up, down, order, es } = b;
        p.dev.matmul(&self.router, inp, n, probs, acts);
        for t in 0..n {
            let pr = &mut probs[t * n_exp..(t + 1) * n_exp];
            softmax(pr, p.rounding);
            // ggml_argsort_top_k: descending; equal probabilities by index (the fixtures'
            // routers have no ties).
            order.clear();
            order.extend(0..n_exp as u32);
            order.sort_by(|&a, &c| pr[c as usize].total_cmp(&pr[a as usize]).then(a.cmp(&c)));
            let (ti, tw) = (&mut ids[t * k..(t + 1) * k], &mut w[t * k..(t + 1) * k]);
            for (j, &e) in order[..k].iter().enumerate() {
                ti[j] = e;
                tw[j] = pr[e as usize];
            }
            if self.norm_w {
                let sum = (tw.iter().map(|&x| x as f64).sum::<f64>() as f32).max(1.0 / 16384.0);
                tw.iter_mut().for_each(|x| *x /= sum);
            }
            if let Some(s) = self.w_scale {
                tw.iter_mut().for_each(|x| *x *= s);
            }
        }
        let rows = n * k;
        p.dev.matmul_id(&self.up, inp, n, &ids[..rows], k, &mut up[..rows * n_ff], acts, es);
        p.dev.matmul_id(&self.gate, inp, n, &ids[..rows], k, &mut gate[..rows * n_ff], acts, es);
        p.dev.swiglu(&mut gate[..rows * n_ff], &up[..rows * n_ff], p.rounding);
        p.dev.matmul_id(&self.down, &gate[..rows * n_ff], rows, &ids[..rows], 1, &mut down[..rows * d], acts, es);
        for (t, o) in out[..n * d].chunks_exact_mut(d).enumerate() {
            for j in 0..k {
                let (e, wj) = (&down[(t * k + j) * d..(t * k + j + 1) * d], w[t * k + j]);
                if j == 0 {
                    o.iter_mut().zip(e).for_each(|(a, &x)| *a = x * wj);
                } else {
                    o.iter_mut().zip(e).for_each(|(a, &x)| *a += x * wj);
                }
            }
        }
    }
}
