//! The grouped-query attention mixer (llama.cpp `build_attn` with its q/k/v projections):
//! projections, optional q/k RMSNorm, rope, the Llama-4 temperature, the cache write and the
//! attention op. What differs between architectures is [`AttnOpts`] and which tensors the file
//! carries (fused qkv, biases, scales).

use super::proj::Proj;
use super::Pass;
use crate::model::hparams::HParams;
use crate::model::batch::Run;
use crate::model::memory::Memory;
use crate::model::names::{Layer, Suffix};
use crate::model::ops::attention::{AttnDims, AttnScratch};
use crate::model::ops::glibc::expf;
use crate::model::weights::Loader;
use crate::model::ModelError;
use crate::quant::QuantizedActs;

/// How q and k are normalized before rope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum QkNorm {
    #[default]
    None,
    /// RMSNorm over each head (qwen3): weights of `head_dim`.
    PerHead,
    /// RMSNorm over the whole q / k vector (olmo2, minimax-m2): weights of `n_head * head_dim`.
    Full,
    /// [`QkNorm::PerHead`] where the file has the weights, else none (glm4moe: only some
    /// GLM-4.5 files carry them).
    PerHeadIfPresent,
    /// RMSNorm without weights over each head after rope, in the layers with rope (llama4's
    /// `use_kq_norm`).
    UnweightedAfterRope,
}

/// What an architecture chooses for its attention.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct AttnOpts {
    pub qk_norm: QkNorm,
    /// q is scaled by 1/sqrt(head_dim) before attention and the softmax scale is 1 (phi3).
    pub q_prescale: bool,
    /// Learned per-head attention sinks (`attn_sinks`, gpt-oss).
    pub sinks: bool,
    /// `attn_q` gives each head `[q | gate]`, and the attention output is multiplied by
    /// `sigmoid(gate)` before `attn_output` (qwen3next, qwen35; head_dim_k = head_dim_v).
    pub output_gate: bool,
    /// RMSNorm without weights on each V head (gemma4).
    pub v_norm: bool,
    /// A file may leave out `attn_v`: V is then K's projection (gemma4; heads of one size).
    pub v_optional: bool,
    /// A per-head gate projection of the layer input (`attn_gate`, n_embd -> n_head, where the
    /// file has one): each head's output is multiplied by `sigmoid(gate)` before
    /// `attn_output` (step35).
    pub head_gate: bool,
}

#[derive(Debug)]
pub(crate) enum Qkv {
    Separate { q: Proj, k: Proj, v: Proj },
    /// Rows [q | k | v].
    Fused(Proj),
    /// q only: the layer attends over an earlier layer's cache (`HParams::kv_reuse`).
    QOnly(Proj),
    /// q and k, V being K's projection ([`AttnOpts::v_optional`]).
    VFromK { q: Proj, k: Proj },
}

#[derive(Debug)]
pub(crate) struct Attention {
    pub qkv: Qkv,
    pub q_norm: Option<Vec<f32>>,
    pub k_norm: Option<Vec<f32>>,
    pub wo: Proj,
    /// (n_head,) attention sink logits
    pub sinks: Option<Vec<f32>>,
    /// (n_head, n_embd) the per-head output gate ([`AttnOpts::head_gate`])
    pub head_gate: Option<Proj>,
    pub opts: AttnOpts,
}

/// The mixer's activations for batches of up to `n_ubatch` tokens (widths: the maximum over
/// layers).
pub(crate) struct AttnBufs {
    /// (n_ubatch, n_head * head_dim_k) queries
    pub q: Vec<f32>,
    /// (n_ubatch, n_head_kv * head_dim_k) keys of the batch
    pub k: Vec<f32>,
    /// (n_ubatch, n_head_kv * head_dim_v) values of the batch
    pub v: Vec<f32>,
    /// (n_ubatch, n_q + n_k + n_v) fused qkv projection (empty without one)
    pub qkv: Vec<f32>,
    /// (n_ubatch, 2 n_q) a gated q projection (per head [q | gate]), then its gates (n, n_q)
    /// (empty without [`AttnOpts::output_gate`])
    pub gate: Vec<f32>,
    /// (n_ubatch, n_head * head_dim_v) attention output, before `attn_output`
    pub out: Vec<f32>,
    /// (n_ubatch, n_head) per-head output gates (sized by the forward pass's scratch where a
    /// layer has [`AttnOpts::head_gate`], else empty)
    pub head_gate: Vec<f32>,
    /// per attention task: softmax rows and conversions
    pub s: AttnScratch,
    /// multi-head latent attention's own (models with MLA)
    pub mla: Option<super::mla::MlaBufs>,
}

impl AttnBufs {
    /// `gated`: some layer has [`AttnOpts::output_gate`].
    pub fn new(hp: &HParams, fused_qkv: bool, gated: bool, q_rank: usize, n_ubatch: usize, s: AttnScratch) -> AttnBufs {
        let max = |f: &dyn Fn(usize) -> usize| (0..hp.n_layer).map(f).max().unwrap_or(0);
        let (n_q, n_k, n_v) = (max(&|il| hp.n_embd_q(il)), max(&|il| hp.n_embd_k_gqa(il)), max(&|il| hp.n_embd_v_gqa(il)));
        let n_qp = if gated { 2 * n_q } else { n_q };
        AttnBufs {
            q: vec![0.0; n_ubatch * n_q],
            k: vec![0.0; n_ubatch * n_k],
            v: vec![0.0; n_ubatch * n_v],
            qkv: vec![0.0; if fused_qkv { n_ubatch * (n_qp + n_k + n_v) } else { 0 }],
            gate: vec![0.0; if gated { n_ubatch * n_qp } else { 0 }],
            out: vec![0.0; n_ubatch * max(&|il| (hp.n_head[il] * hp.head_v(il)).max(hp.n_embd_attn_out(il)))],
            head_gate: Vec::new(),
            s,
            mla: hp.mla.as_ref().map(|m| super::mla::MlaBufs::new(hp, m, q_rank, n_ubatch)),
        }
    }
}

impl Attention {
    /// Layer `il`'s attention tensors: a fused `attn_qkv` or separate q, k, v (q with its
    /// gates where `opts` says), or q alone where the layer reuses another's cache; q/k norms
    /// as `opts` says; `attn_output`.
    pub fn load(l: &Loader, hp: &HParams, il: usize, mut opts: AttnOpts) -> Result<Attention, ModelError> {
        let (n_embd, n_q, n_k, n_v) = (hp.n_embd, hp.n_embd_q(il), hp.n_embd_k_gqa(il), hp.n_embd_v_gqa(il));
        let hk = hp.head_k(il);
        let n_qp = if opts.output_gate { 2 * n_q } else { n_q };
        let qkv = match Proj::load(l, Layer::AttnQkv, il, n_embd, n_qp + n_k + n_v)? {
            _ if !hp.has_kv(il) => Qkv::QOnly(Proj::req(l, Layer::AttnQ, il, n_embd, n_qp)?),
            Some(p) => Qkv::Fused(p),
            None if opts.v_optional && l.mat_opt(&Layer::AttnV.name(il, Suffix::Weight), n_embd, None)?.is_none() => {
                Qkv::VFromK { q: Proj::req(l, Layer::AttnQ, il, n_embd, n_qp)?, k: Proj::req(l, Layer::AttnK, il, n_embd, n_k)? }
            }
            None => Qkv::Separate {
                q: Proj::req(l, Layer::AttnQ, il, n_embd, n_qp)?,
                k: Proj::req(l, Layer::AttnK, il, n_embd, n_k)?,
                v: Proj::req(l, Layer::AttnV, il, n_embd, n_v)?,
            },
        };
        let w = |t: Layer| t.name(il, Suffix::Weight);
        let norm = |t: Layer, len: usize| l.vec(&w(t), len);
        let (q_norm, k_norm) = match opts.qk_norm {
            QkNorm::None | QkNorm::UnweightedAfterRope => (None, None),
            QkNorm::PerHead if !hp.has_kv(il) => (Some(norm(Layer::AttnQNorm, hk)?), None),
            QkNorm::PerHead => (Some(norm(Layer::AttnQNorm, hk)?), Some(norm(Layer::AttnKNorm, hk)?)),
            QkNorm::Full => (Some(norm(Layer::AttnQNorm, n_q)?), Some(norm(Layer::AttnKNorm, n_k)?)),
            QkNorm::PerHeadIfPresent => {
                let (q, k) = (l.vec_opt(&w(Layer::AttnQNorm), hk)?, l.vec_opt(&w(Layer::AttnKNorm), hk)?);
                match (q, k) {
                    (Some(q), Some(k)) => {
                        opts.qk_norm = QkNorm::PerHead;
                        (Some(q), Some(k))
                    }
                    (None, None) => {
                        opts.qk_norm = QkNorm::None;
                        (None, None)
                    }
                    (None, _) => return Err(ModelError::MissingTensor(w(Layer::AttnQNorm))),
                    (_, None) => return Err(ModelError::MissingTensor(w(Layer::AttnKNorm))),
                }
            }
        };
        let sinks = if opts.sinks { Some(l.vec(&w(Layer::AttnSinks), hp.n_head[il])?) } else { None };
        let wo = Proj::req(l, Layer::AttnOut, il, hp.n_head[il] * hp.head_v(il), n_embd)?;
        let head_gate = if opts.head_gate { Proj::load(l, Layer::AttnGate, il, n_embd, hp.n_head[il])? } else { None };
        Ok(Attention { qkv, q_norm, k_norm, wo, sinks, head_gate, opts })
    }

    /// Attention of the batch's `n` rows of `inp` (n, n_embd) into `b.out` (n, n_head *
    /// head_dim_v): each run's K/V go into its sequence's cache, then its queries attend to
    /// that sequence's cells up to their positions. `rc`: (n, n_rot) rope cos/sin per row;
    /// `temp`: (n,) attention temperature per row.
    #[allow(clippy::too_many_arguments)]
    pub fn forward(&self, p: &Pass, il: usize, inp: &[f32], n: usize, runs: &[Run], rc: &[f32], temp: &[f32], mem: &mut Memory, b: &mut AttnBufs, acts: &mut QuantizedActs) {
        let hp = p.hp;
        let (n_q, n_k, n_v) = (hp.n_embd_q(il), hp.n_embd_k_gqa(il), hp.n_embd_v_gqa(il));
        let (hk, hv, eps) = (hp.head_k(il), hp.head_v(il), hp.rms_eps);
        // Without its own cache the layer computes only q (its k and v buffers are unused).
        let own = hp.has_kv(il);
        let gated = self.opts.output_gate;
        let n_qp = if gated { 2 * n_q } else { n_q };
        let q_out = if gated { &mut b.gate } else { &mut b.q };
        match &self.qkv {
            Qkv::Separate { q: wq, k: wk, v: wv } => {
                wq.apply(p.dev, inp, n, q_out, acts);
                wk.apply(p.dev, inp, n, &mut b.k, acts);
                wv.apply(p.dev, inp, n, &mut b.v, acts);
            }
            Qkv::QOnly(wq) => wq.apply(p.dev, inp, n, q_out, acts),
            Qkv::VFromK { q: wq, k: wk } => {
                wq.apply(p.dev, inp, n, q_out, acts);
                wk.apply(p.dev, inp, n, &mut b.k, acts);
                b.v[..n * n_v].copy_from_slice(&b.k[..n * n_k]);
            }
            Qkv::Fused(w) => {
                let row = n_qp + n_k + n_v;
                w.apply(p.dev, inp, n, &mut b.qkv, acts);
                for t in 0..n {
                    let r = &b.qkv[t * row..(t + 1) * row];
                    q_out[t * n_qp..(t + 1) * n_qp].copy_from_slice(&r[..n_qp]);
                    b.k[t * n_k..(t + 1) * n_k].copy_from_slice(&r[n_qp..n_qp + n_k]);
                    b.v[t * n_v..(t + 1) * n_v].copy_from_slice(&r[n_qp + n_k..]);
                }
            }
        }
        if gated {
            // Each head's [q | gate]: q to b.q, the gates moved to the front of b.gate (a head's
            // gate lands before any value not yet read).
            for t in 0..n {
                for h in 0..n_q / hk {
                    let (src, dst) = (t * n_qp + 2 * h * hk, t * n_q + h * hk);
                    b.q[dst..dst + hk].copy_from_slice(&b.gate[src..src + hk]);
                    b.gate.copy_within(src + hk..src + 2 * hk, dst);
                }
            }
        }
        let (q, k) = (&mut b.q[..n * n_q], &mut b.k[..n * n_k]);
        let (qw, kw) = (self.q_norm.as_deref(), self.k_norm.as_deref());
        match self.opts.qk_norm {
            QkNorm::None | QkNorm::UnweightedAfterRope => {}
            QkNorm::PerHeadIfPresent => unreachable!("resolved when loading"),
            QkNorm::PerHead => {
                p.dev.rms_norm_inplace(q, qw, eps, hk);
                if own {
                    p.dev.rms_norm_inplace(k, kw, eps, hk);
                }
            }
            QkNorm::Full => {
                p.dev.rms_norm_inplace(q, qw, eps, n_q);
                p.dev.rms_norm_inplace(k, kw, eps, n_k);
            }
        }
        if self.opts.v_norm && own {
            p.dev.rms_norm_inplace(&mut b.v[..n * n_v], None, eps, hv);
        }
        let v = &b.v[..n * n_v];
        if hp.has_rope(il) {
            // The windowed layers' own rope where they have one (`rc` is its cache then).
            let rope = p.rope_swa.filter(|_| hp.is_swa(il)).unwrap_or(p.rope);
            let rc = &rc[..n * rope.n_rot];
            p.dev.rope(rope, rc, q, n_q, hk);
            if own {
                p.dev.rope(rope, rc, k, n_k, hk);
            }
            if self.opts.qk_norm == QkNorm::UnweightedAfterRope {
                p.dev.rms_norm_inplace(q, None, eps, hk);
                p.dev.rms_norm_inplace(k, None, eps, hk);
            }
        }
        if hp.has_attn_temp(il) {
            for (qr, &tf) in q.chunks_exact_mut(n_q).zip(temp) {
                qr.iter_mut().for_each(|v| *v *= tf);
            }
        }
        let scale = if self.opts.q_prescale {
            let s = hp.attention_scale.unwrap_or(1.0 / (hv as f32).sqrt());
            q.iter_mut().for_each(|v| *v *= s);
            1.0
        } else {
            hp.attention_scale.unwrap_or(1.0 / (hv as f32).sqrt())
        };
        let dims = AttnDims {
            n_head: hp.n_head[il],
            n_head_kv: hp.n_head_kv[il],
            head_dim_k: hk,
            head_dim_v: hv,
            scale,
            flash: p.flash,
            rounding: p.rounding,
            window: hp.window(il),
            chunk: hp.chunk(il),
            softcap: hp.attn_softcap,
            sinks: self.sinks.as_deref(),
        };
        let n_o = dims.n_head * hv;
        // A layer reusing another's cache reads that layer's rows (stored earlier in this pass).
        let src = hp.kv_layer(il);
        for r in runs {
            let rows = r.row..r.row + r.len;
            let kv = mem.kv_mut(r.seq);
            if own {
                kv.store(il, r.pos0, &k[rows.start * n_k..rows.end * n_k], &v[rows.start * n_v..rows.end * n_v], n_k, n_v);
            }
            let out = &mut b.out[rows.start * n_o..rows.end * n_o];
            p.dev.attention(&dims, &q[rows.start * n_q..rows.end * n_q], r.len, r.pos0 - kv.base(src), kv.view(src), &mut b.s, out);
        }
        if gated {
            for (o, &g) in b.out[..n * n_o].iter_mut().zip(&b.gate[..n * n_q]) {
                *o *= 1.0 / (1.0 + expf(-g));
            }
        }
        if let Some(wg) = &self.head_gate {
            // ggml_sigmoid (libm expf) of each head's gate, broadcast over the head's values.
            let nh = dims.n_head;
            wg.apply(p.dev, inp, n, &mut b.head_gate, acts);
            for (o, g) in b.out[..n * n_o].chunks_exact_mut(hv).zip(&b.head_gate[..n * nh]) {
                let s = 1.0 / (1.0 + expf(-*g));
                o.iter_mut().for_each(|v| *v *= s);
            }
        }
    }
}
