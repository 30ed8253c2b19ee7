//! One forward pass of the standard engine over a batch of tokens (llama.cpp's per-arch
//! `build_arch_graph`, executed eagerly). Every projection is one mat-mat over the batch
//! with activations converted once per matmul; a single token takes the same code with a
//! batch of 1 (the kernels' mat-vec case).

use super::hparams::HParams;
use super::kv::{KvCache, KvType};
use super::ops::attention::{attention, AttnDims, AttnScratch};
use super::ops::ffn::{swiglu_fused_rows, swiglu_inplace};
use super::ops::norm::{rms_norm_rows, rms_norm_rows_inplace};
use super::ops::rope::Rope;
use super::standard::{QkNorm, Qkv};
use super::Model;
use crate::parallel::ThreadPool;
use crate::quant::{row_bytes, traits, QuantizedActs};

/// Score rows per pool thread (attention tasks claim one row each).
const SLOTS_PER_THREAD: usize = 4;

/// Preallocated activations for batches of up to `n_ubatch` tokens (per-layer widths are
/// the maximum over layers).
pub(crate) struct Scratch {
    /// (n_ubatch, n_embd) residual stream
    x: Vec<f32>,
    /// (n_ubatch, n_embd) normed input of a block
    xn: Vec<f32>,
    /// (n_ubatch, n_head * head_dim_k) queries
    q: Vec<f32>,
    /// (n_ubatch, n_head_kv * head_dim_k) keys of the batch
    k: Vec<f32>,
    /// (n_ubatch, n_head_kv * head_dim_v) values of the batch
    v: Vec<f32>,
    /// (n_ubatch, n_q + n_k + n_v) fused qkv projection (empty without one)
    qkv: Vec<f32>,
    /// (n_ubatch, n_head * head_dim_v) attention output
    attn: Vec<f32>,
    /// (n_ubatch, n_embd) block output (attn_output, ffn_down)
    proj: Vec<f32>,
    /// (n_ubatch, n_ff) gate, or (n_ubatch, 2 * n_ff) fused [gate | up]
    gate: Vec<f32>,
    /// (n_ubatch, n_ff) up projection / fused swiglu output
    up: Vec<f32>,
    /// (n_ubatch, n_rot) cos/sin pairs per position
    rope: Vec<f32>,
    /// (n_ubatch,) attention temperature per position
    temp: Vec<f32>,
    /// per attention task: (n_slots, n_ctx) softmax rows and the query / probabilities in
    /// the cache's dot type
    attn_s: AttnScratch,
    /// activations converted to the weights' vec_dot_type (grows to its maximum at creation)
    acts: QuantizedActs,
}

impl Scratch {
    pub fn new(m: &Model, n_ubatch: usize, n_ctx: usize, n_threads: usize, kv: KvType) -> Scratch {
        let hp = &m.hp;
        let max = |f: &dyn Fn(usize) -> usize| (0..hp.n_layer).map(f).max().unwrap_or(0);
        let n_q = max(&|il| hp.n_embd_q(il));
        let n_k = max(&|il| hp.n_embd_k_gqa(il));
        let n_v = max(&|il| hp.n_embd_v_gqa(il));
        let n_o = max(&|il| hp.n_head[il] * hp.head_dim_v);
        let n_ff = max(&|il| hp.n_ff[il]);
        let fused_qkv = m.w.layers.iter().any(|l| matches!(l.qkv, Qkv::Fused(_)));
        let gate_w = if m.flags.fused_gate_up { 2 * n_ff } else { n_ff };
        let n_slots = SLOTS_PER_THREAD * n_threads.max(1);
        let mut s = Scratch {
            x: vec![0.0; n_ubatch * hp.n_embd],
            xn: vec![0.0; n_ubatch * hp.n_embd],
            q: vec![0.0; n_ubatch * n_q],
            k: vec![0.0; n_ubatch * n_k],
            v: vec![0.0; n_ubatch * n_v],
            qkv: vec![0.0; if fused_qkv { n_ubatch * (n_q + n_k + n_v) } else { 0 }],
            attn: vec![0.0; n_ubatch * n_o],
            proj: vec![0.0; n_ubatch * hp.n_embd],
            gate: vec![0.0; n_ubatch * gate_w],
            up: vec![0.0; n_ubatch * n_ff],
            rope: vec![0.0; n_ubatch * hp.n_rot],
            temp: vec![1.0; n_ubatch],
            attn_s: AttnScratch::new(kv, n_slots, n_ctx, hp.head_dim_k, hp.head_dim_v),
            acts: QuantizedActs::new(),
        };
        s.prewarm_acts(m, n_ubatch);
        s
    }

    pub fn resize_slots(&mut self, n_threads: usize) {
        self.attn_s.resize_slots(SLOTS_PER_THREAD * n_threads.max(1));
    }

    /// Grows the activation buffer to the largest conversion a batch needs, so that
    /// decoding never allocates.
    fn prewarm_acts(&mut self, m: &Model, n_ubatch: usize) {
        let mut mats = vec![&m.w.token_embd];
        if let Some(o) = &m.w.output {
            mats.push(o);
        }
        for l in &m.w.layers {
            match &l.qkv {
                Qkv::Separate { q, k, v } => mats.extend([&q.w, &k.w, &v.w]),
                Qkv::Fused(p) => mats.push(&p.w),
            }
            mats.extend([&l.wo.w, &l.up.w, &l.down.w]);
            if let Some(g) = &l.gate {
                mats.push(&g.w);
            }
        }
        let biggest = mats
            .iter()
            .filter_map(|w| traits(w.ty).map(|t| (t.vec_dot_type, w.cols)))
            .max_by_key(|&(ty, cols)| row_bytes(ty, cols));
        if let Some((ty, cols)) = biggest {
            let zeros = vec![0.0f32; n_ubatch * cols];
            self.acts.quantize(ty, &zeros, cols);
        }
    }
}

/// Attention temperature (llm_graph_input_attn_temp): 1 + scale * ln(1 + floor(pos / floor)).
fn attn_temperature(hp: &HParams, pos: usize) -> f32 {
    let p = pos as f64;
    (((p / hp.attn_temp_floor_scale as f64).floor() + 1.0).ln() * hp.attn_temp_scale as f64 + 1.0) as f32
}

fn add_rows(x: &mut [f32], y: &[f32], scale: f32) {
    if scale != 0.0 {
        x.iter_mut().zip(y).for_each(|(a, &b)| *a += b * scale);
    } else {
        x.iter_mut().zip(y).for_each(|(a, &b)| *a += b);
    }
}

/// Runs `tokens` (positions `pos0..`) through the model, appending their K/V to the cache,
/// and writes logits for batch rows `out_from..` into `logits` ((n - out_from, n_vocab)).
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward(
    m: &Model,
    pool: &ThreadPool,
    rope: &Rope,
    kv: &mut KvCache,
    s: &mut Scratch,
    tokens: &[u32],
    pos0: usize,
    out_from: usize,
    flash_attn: bool,
    logits: &mut [f32],
) {
    let (hp, fl, w, file) = (&m.hp, &m.flags, &m.w, m.file());
    let Scratch { x, xn, q, k, v, qkv, attn, proj, gate, up, rope: rc, temp, attn_s, acts } = s;
    let (d, eps, n_rot) = (hp.n_embd, hp.rms_eps, hp.n_rot);
    let mut n = tokens.len();

    for (t, &tok) in tokens.iter().enumerate() {
        w.token_embd.row(file, tok as usize, &mut x[t * d..(t + 1) * d]);
    }
    if hp.embedding_scale != 0.0 {
        x[..n * d].iter_mut().for_each(|v| *v *= hp.embedding_scale);
    }
    for t in 0..n {
        rope.fill(pos0 + t, &mut rc[t * n_rot..(t + 1) * n_rot]);
        temp[t] = if hp.attn_temp_scale != 0.0 { attn_temperature(hp, pos0 + t) } else { 1.0 };
    }

    for (il, lw) in w.layers.iter().enumerate() {
        let (n_q, n_k, n_v) = (hp.n_embd_q(il), hp.n_embd_k_gqa(il), hp.n_embd_v_gqa(il));
        let (hk, hv) = (hp.head_dim_k, hp.head_dim_v);

        // ---- attention block
        let inp: &[f32] = match &lw.attn_norm {
            Some(nw) => {
                rms_norm_rows(&x[..n * d], Some(nw), eps, d, &mut xn[..n * d]);
                xn
            }
            None => x,
        };
        match &lw.qkv {
            Qkv::Separate { q: wq, k: wk, v: wv } => {
                wq.apply(file, pool, inp, n, q, acts);
                wk.apply(file, pool, inp, n, k, acts);
                wv.apply(file, pool, inp, n, v, acts);
            }
            Qkv::Fused(p) => {
                let row = n_q + n_k + n_v;
                p.apply(file, pool, inp, n, qkv, acts);
                for t in 0..n {
                    let r = &qkv[t * row..(t + 1) * row];
                    q[t * n_q..(t + 1) * n_q].copy_from_slice(&r[..n_q]);
                    k[t * n_k..(t + 1) * n_k].copy_from_slice(&r[n_q..n_q + n_k]);
                    v[t * n_v..(t + 1) * n_v].copy_from_slice(&r[n_q + n_k..]);
                }
            }
        }
        let (q, k, v) = (&mut q[..n * n_q], &mut k[..n * n_k], &v[..n * n_v]);
        match fl.qk_norm {
            QkNorm::None => {}
            QkNorm::PerHead => {
                rms_norm_rows_inplace(q, lw.q_norm.as_deref(), eps, hk);
                rms_norm_rows_inplace(k, lw.k_norm.as_deref(), eps, hk);
            }
            QkNorm::Full => {
                rms_norm_rows_inplace(q, lw.q_norm.as_deref(), eps, n_q);
                rms_norm_rows_inplace(k, lw.k_norm.as_deref(), eps, n_k);
            }
        }
        if hp.has_rope(il) {
            rope.apply_rows(&rc[..n * n_rot], q, n_q, hk);
            rope.apply_rows(&rc[..n * n_rot], k, n_k, hk);
        }
        if hp.attn_temp_scale != 0.0 {
            for (qr, &tf) in q.chunks_exact_mut(n_q).zip(temp.iter()) {
                qr.iter_mut().for_each(|v| *v *= tf);
            }
        }
        let kq_scale = if fl.q_prescale {
            let s = 1.0 / (hv as f32).sqrt();
            q.iter_mut().for_each(|v| *v *= s);
            1.0
        } else if hp.attention_scale != 0.0 {
            hp.attention_scale
        } else {
            1.0 / (hv as f32).sqrt()
        };
        kv.store(il, pos0, k, v, n_k, n_v);
        let dims = AttnDims { n_head: hp.n_head[il], n_head_kv: hp.n_head_kv[il], head_dim_k: hk, head_dim_v: hv, scale: kq_scale, flash: flash_attn, rounding: m.rounding };
        let n_o = dims.n_head * hv;
        attention(pool, &dims, q, n, pos0, kv.view(il), attn_s, &mut attn[..n * n_o]);

        // Last layer: only the rows that produce logits go on (llama.cpp inp_out_ids).
        if il + 1 == hp.n_layer && out_from > 0 {
            attn.copy_within(out_from * n_o..n * n_o, 0);
            x.copy_within(out_from * d..n * d, 0);
            n -= out_from;
        }
        if n == 0 {
            return;
        }
        lw.wo.apply(file, pool, attn, n, proj, acts);
        if let Some(pn) = &lw.attn_post_norm {
            rms_norm_rows_inplace(&mut proj[..n * d], Some(pn), eps, d);
        }
        add_rows(&mut x[..n * d], &proj[..n * d], hp.residual_scale);

        // ---- feed-forward block
        let inp: &[f32] = match &lw.ffn_norm {
            Some(nw) => {
                rms_norm_rows(&x[..n * d], Some(nw), eps, d, &mut xn[..n * d]);
                xn
            }
            None => x,
        };
        let n_ff = hp.n_ff[il];
        let act: &[f32] = match &lw.gate {
            Some(wg) => {
                wg.apply(file, pool, inp, n, gate, acts);
                lw.up.apply(file, pool, inp, n, up, acts);
                swiglu_inplace(&mut gate[..n * n_ff], &up[..n * n_ff], m.rounding);
                gate
            }
            None => {
                lw.up.apply(file, pool, inp, n, gate, acts);
                swiglu_fused_rows(&gate[..n * 2 * n_ff], n_ff, &mut up[..n * n_ff], m.rounding);
                up
            }
        };
        lw.down.apply(file, pool, act, n, proj, acts);
        if let Some(pn) = &lw.ffn_post_norm {
            rms_norm_rows_inplace(&mut proj[..n * d], Some(pn), eps, d);
        }
        add_rows(&mut x[..n * d], &proj[..n * d], hp.residual_scale);
    }

    // ---- output head on the rows that need logits
    let n_out = n;
    let rows = &x[(n - n_out) * d..n * d];
    rms_norm_rows(rows, Some(&w.output_norm), eps, d, &mut xn[..n_out * d]);
    let out = w.output();
    out.matmul(file, pool, xn, n_out, logits, acts);
    let n_vocab = hp.n_vocab;
    for r in logits[..n_out * n_vocab].chunks_exact_mut(n_vocab) {
        if let Some(sc) = w.output_scale {
            r.iter_mut().for_each(|v| *v *= sc);
        }
        if let Some(b) = &w.output_bias {
            r.iter_mut().zip(b).for_each(|(v, &bv)| *v += bv);
        }
        if hp.logit_scale != 0.0 {
            let inv = 1.0 / hp.logit_scale;
            r.iter_mut().for_each(|v| *v *= inv);
        }
    }
}
