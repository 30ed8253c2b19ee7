//! One forward pass over a batch of tokens (llama.cpp's per-arch graph, executed eagerly):
//! embeddings, each layer's blocks (`blocks/`), the output head. Every projection is one
//! mat-mat over the batch with activations converted once per matmul; a single token takes
//! the same code with a batch of 1 (the kernels' mat-vec case).

use super::blocks::attention::AttnBufs;
use super::blocks::ffn::{Ffn, FfnBufs};
use super::blocks::ple::PleBufs;
use super::blocks::{Mixer, Net, Pass, RecBufs};
use super::hparams::HParams;
use super::batch::{Batch, Run};
use super::kv::KvType;
use super::memory::Memory;
use super::ops::attention::AttnScratch;
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
    /// (n_ubatch, n_embd) block output (attn_output, ffn_down)
    proj: Vec<f32>,
    /// (n_ubatch, n_embd) the FFN's output beside the attention's (parallel layers), or the
    /// side mixer's (falcon-h1); else empty
    proj2: Vec<f32>,
    /// (n_ubatch, n_rot) cos/sin pairs per position, and (n_ubatch, n_rot_swa) those of the
    /// windowed layers' rope (empty without one)
    rope: Vec<f32>,
    rope_swa: Vec<f32>,
    /// (n_ubatch,) attention temperature per position
    temp: Vec<f32>,
    attn: AttnBufs,
    rec: RecBufs,
    ffn: FfnBufs,
    /// per-layer embeddings' (models with them)
    ple: Option<PleBufs>,
    /// activations converted to the weights' vec_dot_type (grows to its maximum at creation)
    acts: QuantizedActs,
}

impl Scratch {
    pub fn new(hp: &HParams, net: &Net, n_ubatch: usize, n_ctx: usize, n_threads: usize, kv: KvType) -> Scratch {
        let fused_qkv = net.layers.iter().any(|l| match &l.mixer {
            Mixer::Attention(a) => matches!(a.qkv, super::blocks::attention::Qkv::Fused(_)),
            _ => false,
        });
        let gated = net.layers.iter().any(|l| matches!(&l.mixer, Mixer::Attention(a) if a.opts.output_gate));
        let fused_ffn = net.layers.iter().any(|l| matches!(l.ffn, Ffn::FusedGated { .. }));
        let q_rank = net.layers.iter().filter_map(|l| if let Mixer::Mla(m) = &l.mixer { Some(m.q_rank()) } else { None }).max().unwrap_or(0);
        let n_slots = SLOTS_PER_THREAD * n_threads.max(1);
        let (hk, hv) = hp.max_heads();
        let attn_s = AttnScratch::new(kv, n_slots, n_ctx, hk, hv);
        let mut s = Scratch {
            x: vec![0.0; n_ubatch * hp.n_embd],
            xn: vec![0.0; n_ubatch * hp.n_embd],
            proj: vec![0.0; n_ubatch * hp.n_embd],
            proj2: vec![0.0; if net.layers.iter().any(|l| l.parallel || l.side.is_some()) { n_ubatch * hp.n_embd } else { 0 }],
            rope: vec![0.0; n_ubatch * hp.n_rot],
            rope_swa: vec![0.0; if hp.rope_swa.is_some() { n_ubatch * hp.n_rot_swa() } else { 0 }],
            temp: vec![1.0; n_ubatch],
            attn: AttnBufs::new(hp, fused_qkv, gated, q_rank, n_ubatch, attn_s),
            rec: RecBufs::new(hp, net, n_ubatch),
            ffn: FfnBufs::new(hp, fused_ffn, net.layers.iter().map(|l| l.ffn.width()).max().unwrap_or(0), n_ubatch),
            ple: net.ple.as_ref().map(|p| PleBufs::new(p, hp.n_layer, hp.n_embd, n_ubatch)),
            acts: QuantizedActs::new(),
        };
        // Recurrent mixers' outputs (before their projection) may be wider than attention's.
        let widest = net.layers.iter().enumerate().flat_map(|(il, l)| l.side.iter().chain([&l.mixer]).map(move |m| m.out_width(hp, il))).max();
        let out = n_ubatch * widest.unwrap_or(0);
        if s.attn.out.len() < out {
            s.attn.out.resize(out, 0.0);
        }
        if net.layers.iter().any(|l| matches!(&l.ffn, Ffn::ChannelMix(c) if c.receptance.is_some())) {
            s.ffn.xr = vec![0.0; n_ubatch * hp.n_embd];
        }
        if net.layers.iter().any(|l| matches!(&l.mixer, Mixer::Attention(a) if a.head_gate.is_some())) {
            s.attn.head_gate = vec![0.0; n_ubatch * hp.n_head.iter().copied().max().unwrap_or(0)];
        }
        s.prewarm_acts(net, n_ubatch);
        s
    }

    pub fn resize_slots(&mut self, n_threads: usize) {
        self.attn.s.resize_slots(SLOTS_PER_THREAD * n_threads.max(1));
    }

    /// Grows the activation buffer to the largest conversion a batch needs, so that
    /// decoding never allocates.
    fn prewarm_acts(&mut self, net: &Net, n_ubatch: usize) {
        let biggest = net
            .mats()
            .iter()
            .filter_map(|w| traits(w.ty).map(|t| (t.vec_dot_type, w.cols)))
            .max_by_key(|&(ty, cols)| row_bytes(ty, cols));
        if let Some((ty, cols)) = biggest {
            let zeros = vec![0.0f32; n_ubatch * cols];
            self.acts.quantize(ty, &zeros, cols);
        }
    }
}

/// `w`'s norm (RMSNorm, or LayerNorm where the model has them) of `x`'s `n` rows into `xn`,
/// plus the bias `b` where there is one.
fn norm_rows(p: &Pass, w: &[f32], b: Option<&[f32]>, x: &[f32], xn: &mut [f32], n: usize) {
    let (d, eps) = (p.hp.n_embd, p.hp.rms_eps);
    if p.hp.layer_norm {
        p.dev.layer_norm(&x[..n * d], Some(w), eps, d, &mut xn[..n * d]);
    } else {
        p.dev.rms_norm(&x[..n * d], Some(w), eps, d, &mut xn[..n * d]);
    }
    if let Some(b) = b {
        for r in xn[..n * d].chunks_exact_mut(d) {
            p.dev.add(r, b, None);
        }
    }
}

/// `w`'s norm (and bias `b`) of `x`'s `n` rows into `xn` (and that is the block input), or `x`
/// itself.
fn block_input<'b>(p: &Pass, w: Option<&[f32]>, b: Option<&[f32]>, x: &'b [f32], xn: &'b mut [f32], n: usize) -> &'b [f32] {
    match w {
        Some(nw) => {
            norm_rows(p, nw, b, x, xn, n);
            xn
        }
        None => x,
    }
}

/// What every mixer of layer `il` reads: its `n` input rows (n, n_embd), their runs, rope
/// (n, n_rot) and temperatures (n,).
struct MixIo<'a> {
    il: usize,
    inp: &'a [f32],
    n: usize,
    runs: &'a [Run],
    rc: &'a [f32],
    temp: &'a [f32],
}

/// Runs mixer `m` over `io`'s rows into `attn.out`.
fn mix(p: &Pass, m: &Mixer, io: &MixIo, mem: &mut Memory, attn: &mut AttnBufs, rec: &mut RecBufs, acts: &mut QuantizedActs) {
    let MixIo { il, inp, n, runs, rc, temp } = *io;
    match m {
        Mixer::Attention(a) => a.forward(p, il, inp, n, runs, rc, temp, mem, attn, acts),
        Mixer::Mla(m) => m.forward(p, il, inp, n, runs, rc, temp, mem, attn, acts),
        Mixer::Mamba2(m) => m.forward(p, il, inp, n, runs, mem, rec.ssm.as_mut().expect("sized for it"), &mut attn.out, acts),
        Mixer::Mamba(m) => m.forward(p, il, inp, n, runs, mem, rec.mamba.as_mut().expect("sized for it"), &mut attn.out, acts),
        Mixer::DeltaNet(m) => m.forward(p, il, inp, n, runs, mem, rec.dnet.as_mut().expect("sized for it"), &mut attn.out, acts),
        Mixer::Rwkv7(m) => m.forward(p, il, inp, n, runs, mem, rec.rwkv.as_mut().expect("sized for it"), &mut attn.out, acts),
        Mixer::Kda(m) => m.forward(p, il, inp, n, runs, mem, rec.kda.as_mut().expect("sized for it"), &mut attn.out, acts),
        Mixer::Rwkv6(m) => m.forward(p, il, inp, n, runs, mem, rec.rwkv6.as_mut().expect("sized for it"), &mut attn.out, acts),
    }
}

/// Runs the batch's rows `r0..r0 + n` (`runs`: those rows split by sequence, from
/// [`Batch::runs`]) through the model, appending their K/V to their sequences' caches, and
/// writes the logits of the rows that want them into `logits` ((n_outputs, n_vocab), in row
/// order).
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward(p: &Pass, net: &Net, mem: &mut Memory, s: &mut Scratch, batch: &Batch, r0: usize, runs: &[Run], logits: &mut [f32]) {
    let n = hidden(p, net, mem, s, batch, r0, runs);
    if n > 0 {
        head(p, net, s, n, logits);
    }
}

/// [`forward`] up to the output norm, without the head: writes the normed hidden state of
/// each row that asks for output ((n_outputs, n_embd), in row order) into `embd`: llama.cpp's
/// `t_embd` (`result_norm`), what its embeddings are pooled from.
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward_embd(p: &Pass, net: &Net, mem: &mut Memory, s: &mut Scratch, batch: &Batch, r0: usize, runs: &[Run], embd: &mut [f32]) {
    let n = hidden(p, net, mem, s, batch, r0, runs) * p.hp.n_embd;
    embd[..n].copy_from_slice(&s.xn[..n]);
}

/// The layers and the output norm: returns how many rows asked for output (their normed
/// states are the first rows of `s.xn`; 0 when none did).
fn hidden(p: &Pass, net: &Net, mem: &mut Memory, s: &mut Scratch, batch: &Batch, r0: usize, runs: &[Run]) -> usize {
    let (hp, dev) = (p.hp, p.dev);
    let Scratch { x, xn, proj, proj2, rope: rc, rope_swa: rc_swa, temp, attn, rec, ffn, ple, acts } = s;
    let (d, eps, n_rot) = (hp.n_embd, hp.rms_eps, hp.n_rot);
    let mut n = runs.iter().map(|r| r.len).sum::<usize>();
    let (tokens, pos, wants) = (&batch.tokens[r0..r0 + n], &batch.pos[r0..r0 + n], &batch.logits[r0..r0 + n]);

    dev.get_rows(&net.token_embd, tokens, &mut x[..n * d]);
    if let Some(sc) = hp.embedding_scale {
        x[..n * d].iter_mut().for_each(|v| *v *= sc);
    }
    if let Some(w) = &net.token_embd_norm {
        norm_rows(p, w, net.token_embd_norm_b.as_deref(), x, xn, n);
        x[..n * d].copy_from_slice(&xn[..n * d]);
    }
    if let (Some(pl), Some(b)) = (&net.ple, ple.as_mut()) {
        pl.inputs(p, x, tokens, n, b, acts);
    }
    for (t, &ps) in pos.iter().enumerate() {
        p.rope.fill(ps, &mut rc[t * n_rot..(t + 1) * n_rot]);
        if let Some(r) = p.rope_swa {
            r.fill(ps, &mut rc_swa[t * r.n_rot..(t + 1) * r.n_rot]);
        }
        temp[t] = hp.attn_temp.map_or(1.0, |at| at.at(ps));
    }

    for (il, layer) in net.layers.iter().enumerate() {
        // ---- mixer
        let inp = block_input(p, layer.attn_norm.as_deref(), layer.attn_norm_b.as_deref(), x, xn, n);
        let rc: &[f32] = if p.rope_swa.is_some() && hp.is_swa(il) { rc_swa } else { rc };
        let io = MixIo { il, inp, n, runs, rc, temp };
        mix(p, &layer.mixer, &io, mem, attn, rec, acts);
        // The rows kept past the last layer: only those that produce logits (llama.cpp
        // inp_out_ids), moved to the front of each (rows, width) buffer listed.
        let wanted = |n: usize, bufs: &mut [(&mut [f32], usize)]| -> usize {
            if il + 1 < hp.n_layer {
                return n;
            }
            let mut kept = 0;
            for (t, _) in wants.iter().enumerate().filter(|(_, &w)| w) {
                if t != kept {
                    for (b, w) in bufs.iter_mut() {
                        b.copy_within(t * *w..(t + 1) * *w, kept * *w);
                    }
                }
                kept += 1;
            }
            kept
        };
        if let Some(side) = &layer.side {
            // Both mixers see every row (the side one's state absorbs them all); their
            // projected outputs add: x += attn + ssm.
            layer.mixer.wo().apply(dev, &attn.out, n, proj, acts);
            mix(p, side, &io, mem, attn, rec, acts);
            side.wo().apply(dev, &attn.out, n, proj2, acts);
            dev.add(&mut proj[..n * d], &proj2[..n * d], None);
            n = wanted(n, &mut [(proj, d), (x, d)]);
            if n == 0 {
                return 0;
            }
        } else {
            // RWKV's channel mix reads each row's predecessor: its rows are kept until it has
            // shifted them.
            if !matches!(layer.ffn, Ffn::ChannelMix(_)) {
                let n_o = layer.mixer.out_width(hp, il);
                // The per-layer embeddings' inputs go with their rows.
                let pl_w = net.ple.as_ref().map_or(0, |q| hp.n_layer * q.n_pl);
                let pl: &mut [f32] = ple.as_mut().map_or(&mut [], |b| &mut b.inp[..]);
                n = if layer.parallel { wanted(n, &mut [(&mut attn.out, n_o), (x, d), (xn, d)]) } else { wanted(n, &mut [(&mut attn.out, n_o), (x, d), (pl, pl_w)]) };
                if n == 0 {
                    return 0;
                }
            }
            layer.mixer.wo().apply(dev, &attn.out, n, proj, acts);
        }
        if layer.parallel {
            // The FFN reads the same normed input; llama.cpp adds (ffn + x) + attn.
            layer.ffn.forward(p, &xn[..n * d], n, ffn, acts, proj2);
            for ((xv, &f), &a) in x[..n * d].iter_mut().zip(&proj2[..n * d]).zip(&proj[..n * d]) {
                *xv = (f + *xv) + a;
            }
            continue;
        }
        if let Some(pn) = &layer.attn_post_norm {
            dev.rms_norm_inplace(&mut proj[..n * d], Some(pn), eps, d);
        }
        dev.add(&mut x[..n * d], &proj[..n * d], hp.residual_scale);
        if matches!(layer.ffn, Ffn::None) {
            continue;
        }

        // ---- feed-forward
        let inp = if let Ffn::ChannelMix(cm) = &layer.ffn {
            // Every row is shifted (the state keeps each run's last), then only the kept go on.
            let nw = layer.ffn_norm.as_deref().expect("the channel mix has its norm");
            norm_rows(p, nw, layer.ffn_norm_b.as_deref(), x, xn, n);
            cm.token_shift(il, &mut xn[..n * d], runs, mem, &mut ffn.xr);
            // RWKV-6's receptance rows go along (an empty buffer is moved as 0-wide rows).
            let xr_w = if ffn.xr.is_empty() { 0 } else { d };
            n = wanted(n, &mut [(xn, d), (x, d), (&mut ffn.xr, xr_w)]);
            if n == 0 {
                return 0;
            }
            &xn[..n * d]
        } else {
            block_input(p, layer.ffn_norm.as_deref(), layer.ffn_norm_b.as_deref(), x, xn, n)
        };
        layer.ffn.forward(p, inp, n, ffn, acts, proj);
        if let Some(pn) = &layer.ffn_post_norm {
            dev.rms_norm_inplace(&mut proj[..n * d], Some(pn), eps, d);
        }
        dev.add(&mut x[..n * d], &proj[..n * d], hp.residual_scale);
        if hp.rescale_every.is_some_and(|k| (il + 1) % k == 0) {
            x[..n * d].iter_mut().for_each(|v| *v *= 0.5);
        }
        if let (Some(pl), Some(b)) = (&net.ple, ple.as_mut()) {
            pl.apply(p, il, x, n, b, acts);
        }
        if let Some(sc) = net.layer_scale.as_ref().map(|s| s[il]) {
            x[..n * d].iter_mut().for_each(|v| *v *= sc);
        }
    }

    // ---- output norm on the rows that need output
    norm_rows(p, &net.output_norm, net.output_norm_b.as_deref(), x, xn, n);
    n
}

/// The output head on `n` normed rows of `s.xn`: logits ((n, n_vocab)) into `logits`.
fn head(p: &Pass, net: &Net, s: &mut Scratch, n: usize, logits: &mut [f32]) {
    let (hp, dev) = (p.hp, p.dev);
    dev.matmul(net.output(), &s.xn, n, logits, &mut s.acts);
    let n_vocab = hp.n_vocab;
    for r in logits[..n * n_vocab].chunks_exact_mut(n_vocab) {
        if let Some(sc) = net.output_scale {
            r.iter_mut().for_each(|v| *v *= sc);
        }
        if let Some(b) = &net.output_bias {
            r.iter_mut().zip(b).for_each(|(v, &bv)| *v += bv);
        }
        if let Some(ls) = hp.logit_scale {
            let inv = 1.0 / ls;
            r.iter_mut().for_each(|v| *v *= inv);
        }
        if let Some(m) = hp.logit_mul {
            r.iter_mut().for_each(|v| *v *= m);
        }
        if let Some(cap) = hp.final_softcap {
            let inv = 1.0 / cap;
            r.iter_mut().for_each(|v| *v = (*v * inv).tanh() * cap);
        }
    }
}
