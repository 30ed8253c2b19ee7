//! The gated DeltaNet mixer, the linear attention of qwen3next and qwen35 (llama.cpp
//! `build_layer_attn_linear` and `delta-net-base.cpp`): `attn_qkv` projects each row to the
//! conv's input `[q (n_k heads) | k (n_k heads) | v (n_v heads)]` (heads of `d_state`), a
//! causal depthwise conv without bias and SiLU runs over it, q and k are L2-normed per head;
//! per value head `β = sigmoid(b)` and the log-decay `g = A softplus(a + dt_bias)` (from
//! `ssm_ba`, or `ssm_beta` / `ssm_alpha`); the gated delta rule (`ops/deltanet.rs`) runs each
//! value head with its key head; its output is RMS-normed per head (`ssm_norm`) and gated by
//! `silu(z)`, `z = attn_gate · x`, then `ssm_out` (the caller's output projection).
//!
//! Per sequence the memory holds the conv's last `d_conv - 1` input rows and each value
//! head's `(d_state, d_state)` state. The projections are one mat-mat over the batch; the
//! recurrence is sequential in time and parallel over value heads.

use super::proj::Proj;
use super::Pass;
use crate::gguf::keys;
use crate::model::batch::Run;
use crate::model::hparams::{HParams, Meta, SsmDims};
use crate::model::memory::Memory;
use crate::model::names::{Layer, Suffix};
use crate::model::ops::deltanet::{delta_rule_head, l2_norm, HeadRows};
use crate::model::ops::expf::silu_mul;
use crate::model::ops::glibc::expf;
use super::ssm::conv_rows_par;
use crate::model::ops::ssm::{softplus, taps_by_time, Conv};
use crate::model::weights::{Loader, Mat};
use crate::model::ModelError;
use crate::quant::{OutPtr, QuantizedActs};

/// Which key head each of the `n_v` value heads reads, `n_v / n_k` value heads per key head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyHeads {
    /// Head `h` reads key head `h / (n_v / n_k)` (qwen3next: llama.cpp repeats each key head
    /// in place before the delta rule).
    Grouped,
    /// Head `h` reads key head `h % n_k` (qwen35: ggml's broadcast, the order the converter
    /// puts the value heads in).
    Tiled,
}

/// Where β's and the decay's inputs come from.
#[derive(Debug)]
enum BetaAlpha {
    /// `ssm_ba`: per key head `[b | a]` of its `n_v / n_k` value heads (qwen3next).
    Fused(Proj),
    /// `ssm_beta` and `ssm_alpha`, one output per value head (qwen35).
    Separate { beta: Proj, alpha: Proj },
}

#[derive(Debug)]
pub(crate) struct DeltaNet {
    d: SsmDims,
    heads: KeyHeads,
    /// (n_embd → conv_ch) the conv's input [q | k | v]
    qkv: Proj,
    /// (n_embd → d_inner) the output gate z (`attn_gate`)
    gate: Proj,
    ba: BetaAlpha,
    /// (d_conv, conv_ch) taps by time
    conv_w: Vec<f32>,
    /// (n_v,) the decay input's bias (`ssm_dt.bias`) and A (= -exp(A_log), `ssm_a`)
    dt_b: Vec<f32>,
    a: Vec<f32>,
    /// (d_state,) the output's per-head RMSNorm weight
    norm: Vec<f32>,
    pub out: Proj,
}

/// Activations of the DeltaNet layers for batches of up to `n_ubatch` rows.
pub(crate) struct DeltaNetBufs {
    /// (n_ubatch, conv_ch) `attn_qkv`'s output, and the conv's (q and k then L2-normed)
    qkv: Vec<f32>,
    conv: Vec<f32>,
    /// (n_ubatch, d_inner) z
    z: Vec<f32>,
    /// (n_ubatch, 2 n_v) `ssm_ba`'s output
    ba: Vec<f32>,
    /// (n_ubatch, n_v) β and g of each row's value heads
    beta: Vec<f32>,
    g: Vec<f32>,
}

impl DeltaNetBufs {
    pub fn new(hp: &HParams, n_ubatch: usize) -> DeltaNetBufs {
        let d = hp.ssm.expect("DeltaNet models read the ssm keys");
        let (ch, nv) = (conv_channels(&d), d.n_head);
        DeltaNetBufs {
            qkv: vec![0.0; n_ubatch * ch],
            conv: vec![0.0; n_ubatch * ch],
            z: vec![0.0; n_ubatch * d.d_inner],
            ba: vec![0.0; n_ubatch * 2 * nv],
            beta: vec![0.0; n_ubatch * nv],
            g: vec![0.0; n_ubatch * nv],
        }
    }
}

/// Channels of the conv: q and k of every key head, v of every value head.
fn conv_channels(d: &SsmDims) -> usize {
    d.d_inner + 2 * d.n_group * d.d_state
}

/// The `ssm.*` keys, checked for DeltaNet: `n_group` key heads and `n_head` value heads, all
/// of `d_state` (`d_inner = n_head * d_state`, as llama.cpp's tensor shapes require).
pub(crate) fn read_dims(m: &Meta) -> Result<SsmDims, ModelError> {
    let d = SsmDims::read(m)?;
    if d.d_inner != d.n_head * d.d_state {
        return Err(m.bad(keys::SSM_INNER_SIZE, &format!("{} is not {} value heads of {}", d.d_inner, d.n_head, d.d_state)));
    }
    Ok(d)
}

/// Values of one sequence's state in a DeltaNet layer: the conv window, then every value
/// head's (d_state, d_state) state.
pub(crate) fn state_len(d: &SsmDims) -> usize {
    (d.d_conv - 1) * conv_channels(d) + d.n_head * d.d_state * d.d_state
}

impl DeltaNet {
    /// Layer `il`'s tensors: `ssm_ba` where the file has it, else `ssm_beta` and `ssm_alpha`.
    pub fn load(l: &Loader, hp: &HParams, il: usize, heads: KeyHeads) -> Result<DeltaNet, ModelError> {
        let d = hp.ssm.ok_or_else(|| ModelError::MissingKey(format!("{}.ssm.inner_size", hp.arch)))?;
        let (n_embd, nv, ch) = (hp.n_embd, d.n_head, conv_channels(&d));
        let name = |t: Layer, s: Suffix| t.name(il, s);
        let rows = |t: Layer, s: Suffix, w: usize, n: usize| l.rows_opt(&name(t, s), w, n)?.ok_or_else(|| ModelError::MissingTensor(name(t, s)));
        let ba = match Proj::load(l, Layer::SsmBa, il, n_embd, 2 * nv)? {
            Some(ba) => BetaAlpha::Fused(ba),
            None => BetaAlpha::Separate { beta: Proj::req(l, Layer::SsmBeta, il, n_embd, nv)?, alpha: Proj::req(l, Layer::SsmAlpha, il, n_embd, nv)? },
        };
        Ok(DeltaNet {
            d,
            heads,
            qkv: Proj::req(l, Layer::AttnQkv, il, n_embd, ch)?,
            gate: Proj::req(l, Layer::AttnGate, il, n_embd, d.d_inner)?,
            ba,
            conv_w: taps_by_time(&rows(Layer::SsmConv1d, Suffix::Weight, d.d_conv, ch)?, ch, d.d_conv),
            dt_b: l.vec(&name(Layer::SsmDt, Suffix::Bias), nv)?,
            a: l.vec(&name(Layer::SsmA, Suffix::None), nv)?,
            norm: l.vec(&name(Layer::SsmNorm, Suffix::Weight), d.d_state)?,
            out: Proj::req(l, Layer::SsmOut, il, d.d_inner, n_embd)?,
        })
    }

    pub fn mats(&self) -> Vec<&Mat> {
        let mut mats = vec![&self.qkv.w, &self.gate.w, &self.out.w];
        match &self.ba {
            BetaAlpha::Fused(ba) => mats.push(&ba.w),
            BetaAlpha::Separate { beta, alpha } => mats.extend([&beta.w, &alpha.w]),
        }
        mats
    }

    /// See [`state_len`].
    pub fn state_len(&self) -> usize {
        state_len(&self.d)
    }

    /// Width of the output before `ssm_out`.
    pub fn out_width(&self) -> usize {
        self.d.d_inner
    }

    /// β and g of the batch's `n` rows into `b.beta` and `b.g` (n, n_v).
    fn gates(&self, p: &Pass, inp: &[f32], n: usize, b: &mut DeltaNetBufs, acts: &mut QuantizedActs) {
        let nv = self.d.n_head;
        match &self.ba {
            BetaAlpha::Separate { beta, alpha } => {
                beta.apply(p.dev, inp, n, &mut b.beta, acts);
                alpha.apply(p.dev, inp, n, &mut b.g, acts);
            }
            BetaAlpha::Fused(ba) => {
                ba.apply(p.dev, inp, n, &mut b.ba, acts);
                let per = nv / self.d.n_group;
                for (t, r) in b.ba[..n * 2 * nv].chunks_exact(2 * nv).enumerate() {
                    for (h, (bv, av)) in b.beta[t * nv..(t + 1) * nv].iter_mut().zip(&mut b.g[t * nv..(t + 1) * nv]).enumerate() {
                        let kh = &r[h / per * 2 * per..];
                        (*bv, *av) = (kh[h % per], kh[per + h % per]);
                    }
                }
            }
        }
        for (bt, gt) in b.beta[..n * nv].chunks_exact_mut(nv).zip(b.g[..n * nv].chunks_exact_mut(nv)) {
            for (h, (bv, gv)) in bt.iter_mut().zip(gt).enumerate() {
                *bv = 1.0 / (1.0 + expf(-*bv));
                *gv = softplus(*gv + self.dt_b[h]) * self.a[h];
            }
        }
    }

    /// The batch's `n` rows of `inp` (n, n_embd) into `out` (n, d_inner), each run continuing
    /// its sequence's state in `mem`.
    #[allow(clippy::too_many_arguments)]
    pub fn forward(&self, p: &Pass, il: usize, inp: &[f32], n: usize, runs: &[Run], mem: &mut Memory, b: &mut DeltaNetBufs, out: &mut [f32], acts: &mut QuantizedActs) {
        let d = &self.d;
        let (nv, nk, dk, di, ch) = (d.n_head, d.n_group, d.d_state, d.d_inner, conv_channels(d));
        let eps = p.hp.rms_eps;
        self.qkv.apply(p.dev, inp, n, &mut b.qkv, acts);
        self.gate.apply(p.dev, inp, n, &mut b.z, acts);
        self.gates(p, inp, n, b, acts);
        let conv_len = (d.d_conv - 1) * ch;
        let scale = 1.0 / (dk as f32).sqrt();
        for run in runs {
            let rows = run.row..run.row + run.len;
            let (conv_state, states) = mem.state_mut(run.seq, il).split_at_mut(conv_len);
            let x = &mut b.conv[rows.start * ch..rows.end * ch];
            let conv = Conv { w_t: &self.conv_w, b: None, d_conv: d.d_conv, ch };
            conv_rows_par(p, &conv, &b.qkv[rows.start * ch..], ch, conv_state, x);
            for r in x.chunks_exact_mut(ch) {
                r[..2 * nk * dk].chunks_exact_mut(dk).for_each(|h| l2_norm(h, eps));
            }
            let (x, g, beta) = (&*x, &b.g[rows.start * nv..], &b.beta[rows.start * nv..]);
            let y = OutPtr::new(&mut out[rows.start * di..rows.end * di]);
            p.dev.par_chunks(states, dk * dk, &|h, s| {
                let kh = match self.heads {
                    KeyHeads::Grouped => h / (nv / nk),
                    KeyHeads::Tiled => h % nk,
                };
                let head = HeadRows { d_k: dk, q: &x[kh * dk..], k: &x[(nk + kh) * dk..], v: &x[(2 * nk + h) * dk..], stride: ch, g: &g[h..], beta: &beta[h..], gb_stride: nv };
                // SAFETY: head h writes only y[t][h * dk..(h + 1) * dk] of its rows.
                let ys = unsafe { std::slice::from_raw_parts_mut(y.at(h * dk), (run.len - 1) * di + dk) };
                delta_rule_head(head, run.len, scale, s, ys, di);
            });
        }
        // RMSNorm per value head, times silu(z).
        let o = &mut out[..n * di];
        p.dev.rms_norm_inplace(o, Some(&self.norm), eps, dk);
        silu_mul(&b.z[..n * di], &mut o[..n * di], p.rounding);
    }
}
