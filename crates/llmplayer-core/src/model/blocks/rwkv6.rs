//! RWKV-6 "Finch" time mix (llama.cpp's `build_rwkv6_time_mix`, `src/models/rwkv6-base.cpp`),
//! the layer's mixer, on the LayerNormed rows `x`:
//! * token shift: `sx = x_prev - x` (`x_prev` the sequence's row before; for a run's first
//!   row the one its state keeps), `xxx = sx * lerp_x + x`;
//! * the data-dependent lerps: `m = tanh(W1 xxx)` (five slices of `time_mix_extra_dim`), and
//!   for each input `i` of (w, k, v, r, g) `x_i = (W2_i m_i + lerp_i) * sx + x`;
//! * `r`, `k`, `v` projections, the gate `g = silu(G x_g)` and the decay
//!   `w = exp(-exp(decay + D2 tanh(D1 x_w)))`;
//! * the wkv state update with the bonus `u` (`time_mix_first`, `ops/wkv6.rs`);
//! * a LayerNorm of each head's output (eps 64e-5, hard-coded as llama.cpp does) with
//!   `time_mix_ln`'s weight and bias, times the gate; `time_mix_output` then is the caller's.
//!
//! The channel mix (the layer's FFN) is RWKV-7's [`super::rwkv7::ChannelMix`] with its
//! receptance, and the state layout is RWKV-7's too: per sequence and layer
//! `[time-mix shift (n_embd) | channel-mix shift (n_embd) | wkv (n_head, head_size, head_size)]`,
//! each head's wkv state row `i` for key channel `i` (ggml's layout).

use super::proj::Proj;
use super::Pass;
use crate::model::batch::Run;
use crate::model::device::Device;
use crate::model::hparams::{HParams, Rwkv6Dims};
use crate::model::memory::Memory;
use crate::model::names::{Layer, Suffix};
use crate::model::ops::expf::silu_inplace;
use crate::model::ops::glibc::expf;
use crate::model::ops::wkv6::{wkv6_head, Wkv6Rows};
use crate::model::weights::{Loader, Mat};
use crate::model::ModelError;
use crate::quant::{OutPtr, QuantizedActs};

/// The five data-dependent lerps, in `time_mix_lerp_fused`'s (and `time_mix_w2`'s) order.
const LERP_W: usize = 0;
const LERP_K: usize = 1;
const LERP_V: usize = 2;
const LERP_R: usize = 3;
const LERP_G: usize = 4;
const N_LERP: usize = 5;

/// The per-head LayerNorm's epsilon (llama.cpp's constant; the `group_norm_eps` of the
/// converted models is the same).
const GROUP_NORM_EPS: f32 = 64e-5;

#[derive(Debug)]
pub(crate) struct TimeMix {
    head_size: usize,
    /// (n_embd,) the shift lerp of the LoRA's input
    lerp_x: Vec<f32>,
    /// (5, n_embd) the lerps' static parts (`LERP_*`)
    lerp: Vec<f32>,
    /// n_embd → 5 * mix_rank, and five mix_rank → n_embd (`time_mix_w1`, `time_mix_w2`)
    mix_down: Proj,
    mix_up: Vec<Mat>,
    /// (n_embd,) the bonus of the current row (`time_mix_first`, per head)
    first: Vec<f32>,
    /// (n_embd,) the decay's bias, and its LoRA n_embd → decay_rank → n_embd
    decay: Vec<f32>,
    decay_down: Proj,
    decay_up: Proj,
    receptance: Proj,
    key: Proj,
    value: Proj,
    gate: Proj,
    /// (n_embd,) the per-head LayerNorm's weight and bias
    ln: Vec<f32>,
    ln_b: Vec<f32>,
    pub out: Proj,
}

/// The time mix's activations for batches of up to `n_ubatch` rows, each (n_ubatch, n_embd)
/// unless said.
pub(crate) struct Rwkv6Bufs {
    /// `x_prev - x`
    sx: Vec<f32>,
    /// `xxx`, then one lerped input at a time, then the wkv's output
    xx: Vec<f32>,
    /// (n_ubatch, 5 * mix_rank) `tanh(W1 xxx)`
    mid: Vec<f32>,
    /// (n_ubatch, decay_rank) the decay LoRA's inner rows
    low: Vec<f32>,
    r: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    w: Vec<f32>,
    g: Vec<f32>,
}

impl Rwkv6Bufs {
    pub fn new(hp: &HParams, n_ubatch: usize) -> Rwkv6Bufs {
        let d = hp.rwkv6.expect("RWKV-6 layers come with their sizes");
        let row = || vec![0.0; n_ubatch * hp.n_embd];
        Rwkv6Bufs {
            sx: row(),
            xx: row(),
            mid: vec![0.0; n_ubatch * N_LERP * d.mix_rank],
            low: vec![0.0; n_ubatch * d.decay_rank],
            r: row(),
            k: row(),
            v: row(),
            w: row(),
            g: row(),
        }
    }
}

impl TimeMix {
    /// Layer `il`'s tensors: the fused lerps, or the five separate ones of older files.
    pub fn load(l: &Loader, hp: &HParams, il: usize) -> Result<TimeMix, ModelError> {
        let dims: Rwkv6Dims = hp.rwkv6.ok_or_else(|| ModelError::MissingKey(format!("{}.wkv.head_size", hp.arch)))?;
        let (d, hs, e) = (hp.n_embd, dims.head_size, dims.mix_rank);
        let w = |t: Layer| l.vec(&t.name(il, Suffix::Weight), d);
        use Layer as T;
        let lerp = match l.rows_opt(&T::TimeMixLerpFused.name(il, Suffix::Weight), d, N_LERP)? {
            Some(v) => v,
            None => {
                let parts = [T::TimeMixLerpW, T::TimeMixLerpK, T::TimeMixLerpV, T::TimeMixLerpR, T::TimeMixLerpG];
                parts.into_iter().map(w).collect::<Result<Vec<_>, _>>()?.concat()
            }
        };
        let first_name = T::TimeMixFirst.name(il, Suffix::Weight);
        Ok(TimeMix {
            head_size: hs,
            lerp_x: w(T::TimeMixLerpX)?,
            lerp,
            mix_down: Proj::req(l, T::TimeMixW1, il, d, N_LERP * e)?,
            mix_up: l.experts(&T::TimeMixW2.name(il, Suffix::Weight), e, d, N_LERP)?,
            first: l.rows_opt(&first_name, hs, d / hs)?.ok_or(ModelError::MissingTensor(first_name))?,
            decay: w(T::TimeMixDecay)?,
            decay_down: Proj::req(l, T::TimeMixDecayW1, il, d, dims.decay_rank)?,
            decay_up: Proj::req(l, T::TimeMixDecayW2, il, dims.decay_rank, d)?,
            receptance: Proj::req(l, T::TimeMixReceptance, il, d, d)?,
            key: Proj::req(l, T::TimeMixKey, il, d, d)?,
            value: Proj::req(l, T::TimeMixValue, il, d, d)?,
            gate: Proj::req(l, T::TimeMixGate, il, d, d)?,
            ln: w(T::TimeMixLn)?,
            ln_b: l.vec(&T::TimeMixLn.name(il, Suffix::Bias), d)?,
            out: Proj::req(l, T::TimeMixOutput, il, d, d)?,
        })
    }

    pub fn mats(&self) -> Vec<&Mat> {
        let projs = [&self.receptance, &self.key, &self.value, &self.gate, &self.out, &self.mix_down, &self.decay_down, &self.decay_up];
        projs.into_iter().map(|p| &p.w).chain(&self.mix_up).collect()
    }

    /// Values of one sequence's state for this layer: both token shifts (the channel mix's
    /// too) and every head's wkv state.
    pub fn state_len(&self) -> usize {
        super::rwkv7::state_len(self.out.w.cols, self.head_size)
    }

    /// Width of the output before `time_mix_output`.
    pub fn out_width(&self) -> usize {
        self.out.w.cols
    }

    /// Lerped input `i` of the `n` rows into `xx` (n, n_embd): `(W2_i m_i + lerp_i) * sx + x`,
    /// with `m_i` slice `i` of `mid`'s rows.
    #[allow(clippy::too_many_arguments)]
    fn lerped(&self, dev: &dyn Device, i: usize, x: &[f32], sx: &[f32], mid: &[f32], n: usize, xx: &mut [f32], acts: &mut QuantizedActs) {
        let (d, e) = (self.out_width(), self.mix_up[i].cols);
        // One mat-vec per row: llama.cpp's product broadcasts W2_i over the tokens, each a
        // one-column product (the vec-dot order; a batched mat-mat would sum otherwise).
        for (o, mr) in xx[..n * d].chunks_exact_mut(d).zip(mid.chunks_exact(N_LERP * e)) {
            dev.matmul(&self.mix_up[i], &mr[i * e..(i + 1) * e], 1, o, acts);
        }
        let l = &self.lerp[i * d..(i + 1) * d];
        for ((o, s), x) in xx[..n * d].chunks_exact_mut(d).zip(sx.chunks_exact(d)).zip(x.chunks_exact(d)) {
            for (((o, &s), &x), &l) in o.iter_mut().zip(s).zip(x).zip(l) {
                *o = (*o + l) * s + x;
            }
        }
    }

    /// The batch's `n` rows of `inp` (n, n_embd) into `out` (n, n_embd), each run continuing
    /// its sequence's state in `mem`.
    #[allow(clippy::too_many_arguments)]
    pub fn forward(&self, p: &Pass, il: usize, inp: &[f32], n: usize, runs: &[Run], mem: &mut Memory, b: &mut Rwkv6Bufs, out: &mut [f32], acts: &mut QuantizedActs) {
        let (d, hs, dev) = (self.out_width(), self.head_size, p.dev);
        let nd = n * d;
        let Rwkv6Bufs { sx, xx, mid, low, r, k, v, w, g } = b;
        let (inp, out, sx) = (&inp[..nd], &mut out[..nd], &mut sx[..nd]);
        // sx = x_prev - x; each run's last row becomes its sequence's shift row.
        for run in runs {
            let rows = run.row * d..(run.row + run.len) * d;
            let shift = &mut mem.state_mut(run.seq, il)[..d];
            for (xr, sr) in inp[rows.clone()].chunks_exact(d).zip(sx[rows].chunks_exact_mut(d)) {
                for ((&x, o), s) in xr.iter().zip(sr).zip(shift.iter_mut()) {
                    *o = *s - x;
                    *s = x;
                }
            }
        }
        // m = tanh(W1 (sx * lerp_x + x)).
        for ((o, s), x) in xx[..nd].chunks_exact_mut(d).zip(sx.chunks_exact(d)).zip(inp.chunks_exact(d)) {
            for (((o, &s), &x), &l) in o.iter_mut().zip(s).zip(x).zip(&self.lerp_x) {
                *o = s * l + x;
            }
        }
        self.mix_down.apply(dev, xx, n, mid, acts);
        let mid = &mut mid[..n * self.mix_down.w.rows];
        mid.iter_mut().for_each(|v| *v = v.tanh());

        for (i, proj, dst) in [(LERP_K, &self.key, &mut *k), (LERP_V, &self.value, &mut *v), (LERP_R, &self.receptance, &mut *r), (LERP_G, &self.gate, &mut *g)] {
            self.lerped(dev, i, inp, sx, mid, n, xx, acts);
            proj.apply(dev, xx, n, dst, acts);
        }
        silu_inplace(&mut g[..nd], p.rounding);
        // w = exp(-exp(decay + D2 tanh(D1 x_w))).
        self.lerped(dev, LERP_W, inp, sx, mid, n, xx, acts);
        self.decay_down.apply(dev, xx, n, low, acts);
        low[..n * self.decay_down.w.rows].iter_mut().for_each(|v| *v = v.tanh());
        self.decay_up.apply(dev, low, n, w, acts);
        for row in w[..nd].chunks_exact_mut(d) {
            for (w, &b) in row.iter_mut().zip(&self.decay) {
                *w = expf(-expf(*w + b));
            }
        }

        for run in runs {
            let rows = run.row * d..(run.row + run.len) * d;
            let state = &mut mem.state_mut(run.seq, il)[2 * d..];
            let y = OutPtr::new(&mut xx[rows.clone()]);
            let (r, k, v, w) = (&r[rows.clone()], &k[rows.clone()], &v[rows.clone()], &w[rows.clone()]);
            dev.par_chunks(state, hs * hs, &|h, s| {
                let o = h * hs;
                let x = Wkv6Rows { r: &r[o..], k: &k[o..], v: &v[o..], w: &w[o..], u: &self.first[o..o + hs], stride: d, head_size: hs };
                // SAFETY: head h writes only y[t][h * hs..(h + 1) * hs] of its rows.
                let ys = unsafe { std::slice::from_raw_parts_mut(y.at(o), (run.len - 1) * d + hs) };
                wkv6_head(&x, run.len, s, ys, d);
            });
        }

        // Per-head LayerNorm, its weight and bias, times the gate.
        dev.layer_norm(&xx[..nd], None, GROUP_NORM_EPS, hs, out);
        for (o, g) in out.chunks_exact_mut(d).zip(g.chunks_exact(d)) {
            for ((o, &g), (&lw, &lb)) in o.iter_mut().zip(g).zip(self.ln.iter().zip(&self.ln_b)) {
                *o = (*o * lw + lb) * g;
            }
        }
    }
}
