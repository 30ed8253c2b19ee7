//! Kimi delta attention (KDA), the linear attention of kimi-linear (llama.cpp
//! `src/models/kimi-linear.cpp`, the `hparams.is_recr(il)` branch): `attn_q`, `attn_k` and
//! `attn_v` each project the row to `n_head` heads of `head_dim`, each goes through its own
//! causal depthwise conv (`ssm_conv1d_{q,k,v}`, no bias) and SiLU, q and k are L2-normed per
//! head. The decay is per key channel: `g = A[h] · softplus(f_b(f_a(x)) + dt_bias)` (a
//! low-rank projection, `A = -exp(A_log)` per head as the converter stores it); per head
//! `β = sigmoid(ssm_beta · x)`. The gated delta rule with that per-channel decay
//! (`ops::deltanet::kda_rule_head`) runs each head; its output is RMS-normed per head
//! (`ssm_norm`) and multiplied by `sigmoid(g_b(g_a(x)))` (sigmoid, not SiLU: Kimi's gate),
//! then `attn_output` (the caller's output projection).
//!
//! Per sequence the memory holds each conv's last `d_conv - 1` input rows (q's, k's, v's)
//! and each head's `(head_dim, head_dim)` state. The projections are mat-mats over the
//! batch; the recurrence is sequential in time and parallel over heads.

use super::proj::Proj;
use super::ssm::conv_rows_par;
use super::Pass;
use crate::model::batch::Run;
use crate::model::hparams::{HParams, SsmDims};
use crate::model::memory::Memory;
use crate::model::names::{Layer, Suffix};
use crate::model::ops::deltanet::{kda_rule_head, l2_norm, HeadRows};
use crate::model::ops::glibc::expf;
use crate::model::ops::ssm::{softplus, taps_by_time, Conv};
use crate::model::weights::{Loader, Mat};
use crate::model::ModelError;
use crate::quant::{OutPtr, QuantizedActs};

#[derive(Debug)]
pub(crate) struct Kda {
    /// d_state: the head size (q, k and v alike); n_head heads; d_inner = n_head * d_state
    d: SsmDims,
    /// (n_embd → d_inner) each: q, k, v before their convs
    qkv: [Proj; 3],
    /// (d_conv, d_inner) taps by time, of q's, k's and v's conv
    conv_w: [Vec<f32>; 3],
    /// (n_embd → head_dim → d_inner) the decay's low-rank projection, and (d_inner,) its bias
    f_a: Proj,
    f_b: Proj,
    dt_b: Vec<f32>,
    /// (n_head,) A = -exp(A_log)
    a: Vec<f32>,
    /// (n_embd → n_head) β's input
    beta: Proj,
    /// (n_embd → head_dim → d_inner) the output gate's low-rank projection
    g_a: Proj,
    g_b: Proj,
    /// (head_dim,) the output's per-head RMSNorm weight
    norm: Vec<f32>,
    pub out: Proj,
}

/// Activations of the KDA layers for batches of up to `n_ubatch` rows.
pub(crate) struct KdaBufs {
    /// (3, n, d_inner) the q, k and v projections of a batch of n rows, block after block;
    /// and their convs' outputs (q and k then L2-normed), the same way
    proj: Vec<f32>,
    conv: Vec<f32>,
    /// (n_ubatch, head_dim) the low-rank projections' middle
    low: Vec<f32>,
    /// (n_ubatch, d_inner) f_b's output, later g_b's (the output gate)
    up: Vec<f32>,
    /// (n_ubatch, n_head) β's logits
    beta: Vec<f32>,
    /// (n_ubatch, n_head, head_dim + 1) per head its per-channel log-decay g, then β
    gb: Vec<f32>,
}

impl KdaBufs {
    pub fn new(hp: &HParams, n_ubatch: usize) -> KdaBufs {
        let d = hp.ssm.expect("KDA models set the ssm dims");
        let z = |w: usize| vec![0.0; n_ubatch * w];
        KdaBufs { proj: z(3 * d.d_inner), conv: z(3 * d.d_inner), low: z(d.d_state), up: z(d.d_inner), beta: z(d.n_head), gb: z(d.n_head * (d.d_state + 1)) }
    }
}

/// Values of one sequence's state in a KDA layer: q's, k's and v's conv windows, then every
/// head's (head_dim, head_dim) state (llama.cpp's `n_embd_r() + n_embd_s()`).
pub(crate) fn state_len(d: &SsmDims) -> usize {
    3 * (d.d_conv - 1) * d.d_inner + d.n_head * d.d_state * d.d_state
}

impl Kda {
    pub fn load(l: &Loader, hp: &HParams, il: usize) -> Result<Kda, ModelError> {
        let d = hp.ssm.ok_or_else(|| ModelError::MissingKey(format!("{}.kda.head_dim", hp.arch)))?;
        let (n_embd, nh, dk, di) = (hp.n_embd, d.n_head, d.d_state, d.d_inner);
        let name = |t: Layer, s: Suffix| t.name(il, s);
        let conv = |t: Layer| -> Result<Vec<f32>, ModelError> {
            let w = l.rows_opt(&name(t, Suffix::Weight), d.d_conv, di)?.ok_or_else(|| ModelError::MissingTensor(name(t, Suffix::Weight)))?;
            Ok(taps_by_time(&w, di, d.d_conv))
        };
        Ok(Kda {
            d,
            qkv: [Proj::req(l, Layer::AttnQ, il, n_embd, di)?, Proj::req(l, Layer::AttnK, il, n_embd, di)?, Proj::req(l, Layer::AttnV, il, n_embd, di)?],
            conv_w: [conv(Layer::SsmConv1dQ)?, conv(Layer::SsmConv1dK)?, conv(Layer::SsmConv1dV)?],
            f_a: Proj::req(l, Layer::SsmFA, il, n_embd, dk)?,
            f_b: Proj::req(l, Layer::SsmFB, il, dk, di)?,
            dt_b: l.vec(&name(Layer::SsmDt, Suffix::Bias), di)?,
            // ne [1, n_head, 1, 1] (or [1, n_head] once quantized)
            a: l.rows_opt(&name(Layer::SsmA, Suffix::None), 1, nh)?.ok_or_else(|| ModelError::MissingTensor(name(Layer::SsmA, Suffix::None)))?,
            beta: Proj::req(l, Layer::SsmBeta, il, n_embd, nh)?,
            g_a: Proj::req(l, Layer::SsmGA, il, n_embd, dk)?,
            g_b: Proj::req(l, Layer::SsmGB, il, dk, di)?,
            norm: l.vec(&name(Layer::SsmNorm, Suffix::Weight), dk)?,
            out: Proj::req(l, Layer::AttnOut, il, di, n_embd)?,
        })
    }

    pub fn mats(&self) -> Vec<&Mat> {
        let mut mats: Vec<&Mat> = self.qkv.iter().map(|p| &p.w).collect();
        mats.extend([&self.f_a.w, &self.f_b.w, &self.beta.w, &self.g_a.w, &self.g_b.w, &self.out.w]);
        mats
    }

    /// See [`state_len`].
    pub fn state_len(&self) -> usize {
        state_len(&self.d)
    }

    /// Width of the output before `attn_output`.
    pub fn out_width(&self) -> usize {
        self.d.d_inner
    }

    /// The batch's `n` rows of `inp` (n, n_embd) into `out` (n, d_inner), each run continuing
    /// its sequence's state in `mem`.
    #[allow(clippy::too_many_arguments)]
    pub fn forward(&self, p: &Pass, il: usize, inp: &[f32], n: usize, runs: &[Run], mem: &mut Memory, b: &mut KdaBufs, out: &mut [f32], acts: &mut QuantizedActs) {
        let (nh, dk, di, dc) = (self.d.n_head, self.d.d_state, self.d.d_inner, self.d.d_conv);
        let (dev, eps) = (p.dev, p.hp.rms_eps);
        for (w, dst) in self.qkv.iter().zip(b.proj.chunks_exact_mut(n * di)) {
            w.apply(dev, inp, n, dst, acts);
        }
        // Per head [g (dk) | β]: g = A softplus(f_b(f_a(x)) + dt_bias), β = sigmoid(beta · x).
        self.f_a.apply(dev, inp, n, &mut b.low, acts);
        self.f_b.apply(dev, &b.low[..n * dk], n, &mut b.up, acts);
        self.beta.apply(dev, inp, n, &mut b.beta, acts);
        for t in 0..n {
            for h in 0..nh {
                let gb = &mut b.gb[(t * nh + h) * (dk + 1)..][..dk + 1];
                let (up, bias) = (&b.up[t * di + h * dk..][..dk], &self.dt_b[h * dk..][..dk]);
                for ((g, &u), &bv) in gb[..dk].iter_mut().zip(up).zip(bias) {
                    *g = softplus(u + bv) * self.a[h];
                }
                gb[dk] = 1.0 / (1.0 + expf(-b.beta[t * nh + h]));
            }
        }

        let conv_len = (dc - 1) * di;
        let scale = 1.0 / (dk as f32).sqrt();
        for run in runs {
            let rows = run.row..run.row + run.len;
            let (conv_state, states) = mem.state_mut(run.seq, il).split_at_mut(3 * conv_len);
            for (i, (cs, w_t)) in conv_state.chunks_exact_mut(conv_len).zip(&self.conv_w).enumerate() {
                let block = i * n * di;
                let x = &mut b.conv[block + rows.start * di..block + rows.end * di];
                let conv = Conv { w_t, b: None, d_conv: dc, ch: di };
                conv_rows_par(p, &conv, &b.proj[block + rows.start * di..], di, cs, x);
                if i < 2 {
                    x.chunks_exact_mut(dk).for_each(|hv| l2_norm(hv, eps));
                }
            }
            let at = |i: usize| &b.conv[i * n * di + rows.start * di..];
            let (q, k, v) = (at(0), at(1), at(2));
            let gb = &b.gb[rows.start * nh * (dk + 1)..];
            let y = OutPtr::new(&mut out[rows.start * di..rows.end * di]);
            p.dev.par_chunks(states, dk * dk, &|h, s| {
                let o = h * dk;
                let g0 = h * (dk + 1);
                let head = HeadRows { d_k: dk, q: &q[o..], k: &k[o..], v: &v[o..], stride: di, g: &gb[g0..], beta: &gb[g0 + dk..], gb_stride: nh * (dk + 1) };
                // SAFETY: head h writes only y[t][h * dk..(h + 1) * dk] of its rows.
                let ys = unsafe { std::slice::from_raw_parts_mut(y.at(o), (run.len - 1) * di + dk) };
                kda_rule_head(head, run.len, scale, s, ys, di);
            });
        }

        // RMSNorm per head, times sigmoid(g_b(g_a(x))).
        self.g_a.apply(dev, inp, n, &mut b.low, acts);
        self.g_b.apply(dev, &b.low[..n * dk], n, &mut b.up, acts);
        let o = &mut out[..n * di];
        dev.rms_norm_inplace(o, Some(&self.norm), eps, dk);
        for (ov, &g) in o.iter_mut().zip(&b.up[..n * di]) {
            *ov *= 1.0 / (1.0 + expf(-g));
        }
    }
}
