//! Multi-head latent attention (llama.cpp `src/models/deepseek2.cpp`, DeepSeek-V2/V3).
//!
//! Per token: q from `attn_q`, or low-rank `attn_q_b(norm(attn_q_a(x)))`, split per head
//! into `nope` dims and `n_rot` rope dims; `attn_kv_a_mqa(x)` = [latent (kv_lora) | k_pe
//! (n_rot, shared by every head)], the latent RMS-normed. Rope only on q_pe and k_pe.
//!
//! * Split `attn_k_b` / `attn_v_b` (current GGUFs): the absorbed form. Each head's q_nope is
//!   taken into the latent space by its `k_b`, so every head attends with
//!   `[q_nope·k_b | q_pe]` to the one cached row `[latent | k_pe]` per position (MQA over
//!   `kv_lora + n_rot` dims; the cache holds only that, `ops::latent`), and each head's
//!   attended latent is decompressed by its `v_b`.
//! * Combined `attn_kv_b` (legacy GGUFs): the latent is decompressed to per-head
//!   [k_nope | v] up front and attention is plain MHA over K = [k_nope | k_pe].
//!
//! Softmax scale: YaRN's mscale squared over sqrt(nope + n_rot) ([`MlaDims::kq_scale`]).
//!
//! [`MlaDims::kq_scale`]: crate::model::hparams::MlaDims

use super::proj::Proj;
use super::Pass;
use crate::model::batch::Run;
use crate::model::device::ExpertScratch;
use crate::model::hparams::{HParams, MlaDims};
use crate::model::memory::Memory;
use crate::model::names::{Layer, Suffix};
use crate::model::ops::attention::AttnDims;
use crate::model::weights::{Loader, Mat};
use crate::model::ModelError;
use crate::quant::QuantizedActs;

use super::attention::AttnBufs;

#[derive(Debug)]
pub(crate) enum MlaQ {
    Plain(Proj),
    /// `b(norm(a(x)))`
    LowRank {
        a: Proj,
        norm: Vec<f32>,
        b: Proj,
    },
}

#[derive(Debug)]
pub(crate) enum KvUp {
    /// Per head: `k_b` (kv_lora, nope) and `v_b` (head_dim_v, kv_lora) matrices.
    Split { k_b: Vec<Mat>, v_b: Vec<Mat> },
    /// (n_head * (nope + head_dim_v), kv_lora): per head, rows [k_nope | v].
    Combined(Proj),
}

#[derive(Debug)]
pub(crate) struct Mla {
    pub q: MlaQ,
    /// (kv_lora + n_rot, n_embd)
    pub kv_a: Proj,
    pub kv_a_norm: Vec<f32>,
    pub up: KvUp,
    pub wo: Proj,
}

/// MLA's own activations for batches of up to `n_ubatch` tokens (the K/Q/out buffers of
/// [`AttnBufs`] hold what attention reads and writes).
pub(crate) struct MlaBufs {
    /// (n_ubatch, q_lora) low-rank q
    q_a: Vec<f32>,
    /// (n_ubatch, n_head * head_dim_k) q as projected, its rope dims roped in place
    q: Vec<f32>,
    /// (n_ubatch, kv_lora + n_rot) compressed kv and rope key
    kv_a: Vec<f32>,
    /// (n_ubatch, kv_lora) the normalized latent
    latent: Vec<f32>,
    /// (n_ubatch, n_head * n_rot) q's rope dims; (n_ubatch, n_rot) k's
    q_pe: Vec<f32>,
    k_pe: Vec<f32>,
    /// (n_ubatch, n_head * (nope + head_dim_v)) legacy decompressed kv
    kv: Vec<f32>,
    /// (max(n_ubatch, n_head), max(nope, kv_lora)) one head's rows gathered (or one token's
    /// heads), (max(n_ubatch, n_head), max(kv_lora, head_dim_v)) their product
    head_in: Vec<f32>,
    head_out: Vec<f32>,
    /// (n_ubatch, n_head * kv_lora) attention output in latent space
    lat_out: Vec<f32>,
    /// (n_head,) 0..n_head: one token's heads as rows routed to their own matrices
    head_ids: Vec<u32>,
    es: ExpertScratch,
}

impl MlaBufs {
    /// `q_rank`: the widest low-rank q the loaded layers have (0: none), not the file's
    /// `q_lora_rank`, which a file may give beside plain `attn_q` tensors.
    pub fn new(hp: &HParams, m: &MlaDims, q_rank: usize, n_ubatch: usize) -> MlaBufs {
        let nh = hp.n_head.iter().copied().max().unwrap_or(0);
        let (n_rot, nope) = (hp.n_rot, m.nope(hp.n_rot));
        let z = |w: usize| vec![0.0; n_ubatch * w];
        MlaBufs {
            q_a: z(q_rank),
            q: z(nh * m.head_dim_k),
            kv_a: z(m.kv_lora + n_rot),
            latent: z(m.kv_lora),
            q_pe: z(nh * n_rot),
            k_pe: z(n_rot),
            kv: z(if m.latent { 0 } else { nh * (nope + m.head_dim_v) }),
            // (one token's heads, or a batch's rows of one head)
            head_in: vec![0.0; n_ubatch.max(nh) * nope.max(m.kv_lora)],
            head_out: vec![0.0; n_ubatch.max(nh) * m.kv_lora.max(m.head_dim_v)],
            lat_out: z(if m.latent { nh * m.kv_lora } else { 0 }),
            head_ids: (0..nh as u32).collect(),
            // One token's heads are routed one row per head's k_b / v_b: room for one row of
            // the widest of them, so an F32 file's row-by-row path does not allocate in decode.
            es: ExpertScratch::with_capacity(1, nope.max(m.kv_lora).max(m.head_dim_v)),
        }
    }
}

impl Mla {
    /// Width of the low-rank q (`attn_q_a`'s rows), 0 for a plain `attn_q`.
    pub fn q_rank(&self) -> usize {
        match &self.q {
            MlaQ::LowRank { a, .. } => a.w.rows,
            MlaQ::Plain(_) => 0,
        }
    }

    /// Layer `il`'s tensors: q plain or low-rank (by which the file has), `kv_a_mqa` and its
    /// norm, the split or combined up-projection (as `m.latent` says), `attn_output`.
    pub fn load(l: &Loader, hp: &HParams, il: usize, m: &MlaDims) -> Result<Mla, ModelError> {
        let (d, nh, n_rot) = (hp.n_embd, hp.n_head[il], hp.n_rot);
        let (nope, dk, dv) = (m.nope(n_rot), m.head_dim_k, m.head_dim_v);
        let vec = |t: Layer, len| l.vec(&t.name(il, Suffix::Weight), len);
        let q = match Proj::load(l, Layer::AttnQ, il, d, nh * dk)? {
            Some(q) => MlaQ::Plain(q),
            None if m.q_lora > 0 => MlaQ::LowRank {
                a: Proj::req(l, Layer::AttnQA, il, d, m.q_lora)?,
                norm: vec(Layer::AttnQANorm, m.q_lora)?,
                b: Proj::req(l, Layer::AttnQB, il, m.q_lora, nh * dk)?,
            },
            None => return Err(ModelError::MissingTensor(Layer::AttnQ.name(il, Suffix::Weight))),
        };
        let up = if m.latent {
            let name = |t: Layer| t.name(il, Suffix::Weight);
            KvUp::Split { k_b: l.experts(&name(Layer::AttnKB), nope, m.kv_lora, nh)?, v_b: l.experts(&name(Layer::AttnVB), m.kv_lora, dv, nh)? }
        } else {
            KvUp::Combined(Proj::req(l, Layer::AttnKvB, il, m.kv_lora, nh * (nope + dv))?)
        };
        Ok(Mla {
            q,
            kv_a: Proj::req(l, Layer::AttnKvAMqa, il, d, m.kv_lora + n_rot)?,
            kv_a_norm: vec(Layer::AttnKvANorm, m.kv_lora)?,
            up,
            wo: Proj::req(l, Layer::AttnOut, il, nh * dv, d)?,
        })
    }

    /// Every matrix, for sizing the activation buffer.
    pub fn mats(&self) -> Vec<&Mat> {
        let mut v = match &self.q {
            MlaQ::Plain(q) => vec![&q.w],
            MlaQ::LowRank { a, b, .. } => vec![&a.w, &b.w],
        };
        v.push(&self.kv_a.w);
        match &self.up {
            KvUp::Split { k_b, v_b } => v.extend(k_b.iter().chain(v_b)),
            KvUp::Combined(p) => v.push(&p.w),
        }
        v.push(&self.wo.w);
        v
    }

    /// Attention of the batch's `n` rows of `inp` (n, n_embd) into `b.out` (n, n_head *
    /// head_dim_v of MLA), caching each run's latents (or legacy K/V) in its sequence.
    /// `rc`: (n, n_rot) rope cos/sin per row; `temp`: (n,) attention temperature per row.
    #[allow(clippy::too_many_arguments)]
    pub fn forward(
        &self,
        p: &Pass,
        il: usize,
        inp: &[f32],
        n: usize,
        runs: &[Run],
        rc: &[f32],
        temp: &[f32],
        mem: &mut Memory,
        b: &mut AttnBufs,
        acts: &mut QuantizedActs,
    ) {
        let (hp, dev) = (p.hp, p.dev);
        let m = hp.mla.as_ref().expect("MLA layers come with MLA dims");
        let (nh, n_rot, eps, kvl) = (hp.n_head[il], hp.n_rot, hp.rms_eps, m.kv_lora);
        let (dk, dv, nope) = (m.head_dim_k, m.head_dim_v, m.nope(n_rot));
        let mb = b.mla.as_mut().expect("MLA buffers are made for MLA models");

        // q (n, nh * dk) and the compressed kv (n, kvl + n_rot)
        match &self.q {
            MlaQ::Plain(wq) => wq.apply(dev, inp, n, &mut mb.q, acts),
            MlaQ::LowRank { a, norm, b: wb } => {
                let r = a.w.rows;
                a.apply(dev, inp, n, &mut mb.q_a, acts);
                dev.rms_norm_inplace(&mut mb.q_a[..n * r], Some(norm), eps, r);
                wb.apply(dev, &mb.q_a[..n * r], n, &mut mb.q, acts);
            }
        }
        self.kv_a.apply(dev, inp, n, &mut mb.kv_a, acts);
        let w_a = kvl + n_rot;
        for t in 0..n {
            let row = &mb.kv_a[t * w_a..(t + 1) * w_a];
            mb.latent[t * kvl..(t + 1) * kvl].copy_from_slice(&row[..kvl]);
            mb.k_pe[t * n_rot..(t + 1) * n_rot].copy_from_slice(&row[kvl..]);
            for h in 0..nh {
                let at = (t * nh + h) * dk + nope;
                mb.q_pe[(t * nh + h) * n_rot..][..n_rot].copy_from_slice(&mb.q[at..at + n_rot]);
            }
        }
        if hp.has_rope(il) {
            // (kimi-linear's MLA has none: its q_pe and k_pe are used as projected.)
            let rc = &rc[..n * n_rot];
            dev.rope(p.rope, rc, &mut mb.q_pe[..n * nh * n_rot], nh * n_rot, n_rot);
            dev.rope(p.rope, rc, &mut mb.k_pe[..n * n_rot], n_rot, n_rot);
        }
        dev.rms_norm_inplace(&mut mb.latent[..n * kvl], Some(&self.kv_a_norm), eps, kvl);

        let (n_k, n_q) = (hp.n_embd_k_gqa(il), hp.n_embd_q(il));
        let (q, k) = (&mut b.q[..n * n_q], &mut b.k[..n * n_k]);
        match &self.up {
            KvUp::Split { k_b, .. } => {
                // K (n, kvl + n_rot) = [latent | k_pe]; Q (n, nh, kvl + n_rot) = [q_nope·k_b | q_pe]
                for t in 0..n {
                    k[t * n_k..t * n_k + kvl].copy_from_slice(&mb.latent[t * kvl..(t + 1) * kvl]);
                    k[t * n_k + kvl..(t + 1) * n_k].copy_from_slice(&mb.k_pe[t * n_rot..(t + 1) * n_rot]);
                }
                if n == 1 {
                    // One token: its heads are rows each routed to its own k_b, all in one
                    // parallel region (the same mat-vecs).
                    for h in 0..nh {
                        mb.head_in[h * nope..(h + 1) * nope].copy_from_slice(&mb.q[h * dk..][..nope]);
                    }
                    dev.matmul_id(k_b, &mb.head_in[..nh * nope], nh, &mb.head_ids, 1, &mut mb.head_out, acts, &mut mb.es);
                }
                for (h, kb) in k_b.iter().enumerate() {
                    if n > 1 {
                        for t in 0..n {
                            mb.head_in[t * nope..(t + 1) * nope].copy_from_slice(&mb.q[(t * nh + h) * dk..][..nope]);
                        }
                        dev.matmul(kb, &mb.head_in[..n * nope], n, &mut mb.head_out, acts);
                    }
                    for t in 0..n {
                        let qh = &mut q[(t * nh + h) * (kvl + n_rot)..][..kvl + n_rot];
                        // One token: head h's row of the routed product.
                        let src = if n == 1 { h } else { t };
                        qh[..kvl].copy_from_slice(&mb.head_out[src * kvl..(src + 1) * kvl]);
                        qh[kvl..].copy_from_slice(&mb.q_pe[(t * nh + h) * n_rot..][..n_rot]);
                    }
                }
            }
            KvUp::Combined(kv_b) => {
                // K (n, nh, dk) = [k_nope | k_pe]; V (n, nh, dv); Q = q with its rope dims roped
                kv_b.apply(dev, &mb.latent[..n * kvl], n, &mut mb.kv, acts);
                let w_kv = nope + dv;
                for t in 0..n {
                    for h in 0..nh {
                        let src = &mb.kv[(t * nh + h) * w_kv..][..w_kv];
                        let kh = &mut k[(t * nh + h) * dk..][..dk];
                        kh[..nope].copy_from_slice(&src[..nope]);
                        kh[nope..].copy_from_slice(&mb.k_pe[t * n_rot..(t + 1) * n_rot]);
                        b.v[(t * nh + h) * dv..][..dv].copy_from_slice(&src[nope..]);
                        let qh = &mut q[(t * nh + h) * dk..][..dk];
                        qh[..nope].copy_from_slice(&mb.q[(t * nh + h) * dk..][..nope]);
                        qh[nope..].copy_from_slice(&mb.q_pe[(t * nh + h) * n_rot..][..n_rot]);
                    }
                }
            }
        }
        if hp.has_attn_temp(il) {
            for (qr, &tf) in q.chunks_exact_mut(n_q).zip(temp) {
                qr.iter_mut().for_each(|v| *v *= tf);
            }
        }

        let (hk, hv) = (hp.head_dim_k, hp.head_dim_v);
        let dims = AttnDims {
            n_head: nh,
            n_head_kv: hp.n_head_kv[il],
            head_dim_k: hk,
            head_dim_v: hv,
            scale: m.kq_scale,
            flash: p.flash,
            rounding: p.rounding,
            window: None,
            chunk: None,
            softcap: None,
            sinks: None,
        };
        let n_v = hp.n_embd_v_cache(il);
        let n_o = nh * hv;
        let att_out = if m.latent { &mut mb.lat_out } else { &mut b.out };
        for r in runs {
            let rows = r.row..r.row + r.len;
            let kv = mem.kv_mut(r.seq);
            kv.store(il, r.pos0, &k[rows.start * n_k..rows.end * n_k], &b.v[rows.start * n_v..rows.end * n_v], n_k, n_v);
            let out = &mut att_out[rows.start * n_o..rows.end * n_o];
            dev.attention(&dims, &q[rows.start * n_q..rows.end * n_q], r.len, r.pos0 - kv.base(il), kv.view(il), &mut b.s, out);
        }
        if let KvUp::Split { v_b, .. } = &self.up {
            // Each head's attended latent (n, kvl) through its v_b into out (n, nh, dv); one
            // token's heads as rows routed to their own v_b, in one parallel region.
            if n == 1 {
                dev.matmul_id(v_b, &mb.lat_out[..nh * kvl], nh, &mb.head_ids, 1, &mut b.out[..nh * dv], acts, &mut mb.es);
                return;
            }
            for (h, vb) in v_b.iter().enumerate() {
                for t in 0..n {
                    mb.head_in[t * kvl..(t + 1) * kvl].copy_from_slice(&mb.lat_out[(t * nh + h) * kvl..][..kvl]);
                }
                dev.matmul(vb, &mb.head_in[..n * kvl], n, &mut mb.head_out, acts);
                for t in 0..n {
                    b.out[(t * nh + h) * dv..][..dv].copy_from_slice(&mb.head_out[t * dv..(t + 1) * dv]);
                }
            }
        }
    }
}
