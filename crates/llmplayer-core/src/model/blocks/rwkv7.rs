//! RWKV-7 "Goose" (llama.cpp `build_rwkv7_time_mix` and `build_rwkv7_channel_mix`,
//! `src/models/rwkv7-base.cpp`).
//!
//! The time mix (the layer's mixer), on the LayerNormed rows `x`:
//! * token shift: `sx = x_prev - x`, `x_prev` the sequence's row before (for a run's first row
//!   the one its state keeps), and six lerps `x_i = sx * lerp_i + x` (`time_mix_lerp_fused`)
//!   for receptance, decay, key, value, in-context learning rate and gate;
//! * `r`, `k`, `v` projections and four LoRAs: the decay
//!   `w = exp(-0.606531 sigmoid(w0 + W2 tanh(W1 x_w)))`, the rate `a = sigmoid(a0 + A2 A1 x_a)`,
//!   the gate `g = G2 sigmoid(G1 x_g)`, and after the first layer the value residual
//!   `v += (v_first - v) sigmoid(v0 + V2 V1 x_v)`, toward the first layer's values;
//! * the removal key `kk = l2norm(k * k_k)` per head and `k += a (k * k_a) - k * k_a`;
//! * the wkv state update (`ops/wkv7.rs`) with `-kk` read against the state and `kk * a`
//!   written with it;
//! * a LayerNorm of each head's output (eps 64e-5) with `time_mix_ln`'s weight and bias, plus
//!   `v * Σ_head(k r r_k)`, times the gate; `time_mix_output` then is the caller's.
//!
//! The channel mix (the layer's FFN, [`ChannelMix`]) shifts its normed rows the same way,
//! `xk = (x_prev - x) * lerp_k + x`, then `value(relu(key xk)²)`.
//!
//! Per sequence a layer's state is `[time-mix shift (n_embd) | channel-mix shift (n_embd) |
//! wkv (n_head, head_size, head_size)]`: llama.cpp's token-shift pair, then each head's wkv
//! state (row `i` for value channel `i`). Projections and LoRAs are mat-mats over the batch;
//! the wkv runs per sequence in time order, parallel over heads.

use super::proj::Proj;
use super::Pass;
use crate::model::batch::Run;
use crate::model::device::Device;
use crate::model::hparams::{HParams, RwkvDims};
use crate::model::memory::Memory;
use crate::model::names::{Layer, Suffix};
use crate::model::ops::glibc::expf;
use crate::model::ops::wkv7::{wkv7_head, Wkv7Rows};
use crate::model::weights::{Loader, Mat};
use crate::model::ModelError;
use crate::quant::{OutPtr, QuantizedActs};

/// The time mix's lerps, in `time_mix_lerp_fused`'s order.
const LERP_R: usize = 0;
const LERP_W: usize = 1;
const LERP_K: usize = 2;
const LERP_V: usize = 3;
const LERP_A: usize = 4;
const LERP_G: usize = 5;

/// The decay's sigmoid scale (llama.cpp's constant, -e^-0.5 rounded).
const DECAY_SCALE: f32 = -0.606531;
/// `ggml_l2_norm`'s floor of the removal key's norm, and the per-head LayerNorm's epsilon.
const L2_EPS: f32 = 1e-12;
const GROUP_NORM_EPS: f32 = 64e-5;

/// ggml's sigmoid: `1 / (1 + expf(-x))`.
fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + expf(-x))
}

/// What runs between a LoRA's two matrices.
#[derive(Clone, Copy, Debug)]
enum Inner {
    None,
    Tanh,
    Sigmoid,
}

/// A low-rank projection `up(inner(down x)) + bias`.
#[derive(Debug)]
struct Lora {
    down: Proj,
    up: Proj,
    inner: Inner,
    bias: Option<Vec<f32>>,
}

impl Lora {
    /// `blk.{il}.<down>` (n_embd → rank), `<up>` (rank → n_embd) and the (n_embd,) `bias`.
    fn load(l: &Loader, hp: &HParams, il: usize, [down, up]: [Layer; 2], rank: usize, inner: Inner, bias: Option<Layer>) -> Result<Lora, ModelError> {
        let d = hp.n_embd;
        Ok(Lora {
            down: Proj::req(l, down, il, d, rank)?,
            up: Proj::req(l, up, il, rank, d)?,
            inner,
            bias: bias.map(|b| l.vec(&b.name(il, Suffix::Weight), d)).transpose()?,
        })
    }

    /// `out (n, n_embd)` of `x (n, n_embd)`, with `mid` (n, rank) for the inner rows.
    fn apply(&self, dev: &dyn Device, x: &[f32], n: usize, mid: &mut [f32], out: &mut [f32], acts: &mut QuantizedActs) {
        let rank = self.down.w.rows;
        let mid = &mut mid[..n * rank];
        self.down.apply(dev, x, n, mid, acts);
        match self.inner {
            Inner::None => {}
            Inner::Tanh => mid.iter_mut().for_each(|v| *v = v.tanh()),
            Inner::Sigmoid => mid.iter_mut().for_each(|v| *v = sigmoid(*v)),
        }
        self.up.apply(dev, mid, n, out, acts);
        if let Some(b) = &self.bias {
            for r in out[..n * b.len()].chunks_exact_mut(b.len()) {
                dev.add(r, b, None);
            }
        }
    }
}

#[derive(Debug)]
pub(crate) struct TimeMix {
    head_size: usize,
    /// (6, n_embd) the token-shift lerps (`LERP_*`)
    lerp: Vec<f32>,
    receptance: Proj,
    key: Proj,
    value: Proj,
    decay: Lora,
    iclr: Lora,
    gate: Lora,
    /// None in the first layer, whose values are the others' `v_first`
    value_res: Option<Lora>,
    /// (n_embd,) scales of the removal key, of the key's replaced part, of the `r·k` term
    k_k: Vec<f32>,
    k_a: Vec<f32>,
    r_k: Vec<f32>,
    /// (n_embd,) the per-head LayerNorm's weight and bias
    ln: Vec<f32>,
    ln_b: Vec<f32>,
    pub out: Proj,
}

/// The time mix's activations for batches of up to `n_ubatch` rows, each (n_ubatch, n_embd)
/// except `lora`.
pub(crate) struct RwkvBufs {
    /// `x_prev - x`
    sx: Vec<f32>,
    /// one lerped input at a time, then the wkv's output
    xx: Vec<f32>,
    r: Vec<f32>,
    w: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    /// the rate `a`, then `kk * a` (what the wkv writes with the state)
    a: Vec<f32>,
    /// the removal key `kk`, then `-kk` (what the wkv reads against the state)
    kk: Vec<f32>,
    g: Vec<f32>,
    /// (n_ubatch, largest rank) a LoRA's inner rows
    lora: Vec<f32>,
    /// the first layer's values, read by the later layers of the same batch
    v_first: Vec<f32>,
}

impl RwkvBufs {
    pub fn new(hp: &HParams, n_ubatch: usize) -> RwkvBufs {
        let d = hp.rwkv.expect("RWKV layers come with their sizes");
        let rank = d.lora_decay.max(d.lora_iclr).max(d.lora_value_res).max(d.lora_gate);
        let row = || vec![0.0; n_ubatch * hp.n_embd];
        RwkvBufs {
            sx: row(),
            xx: row(),
            r: row(),
            w: row(),
            k: row(),
            v: row(),
            a: row(),
            kk: row(),
            g: row(),
            lora: vec![0.0; n_ubatch * rank],
            v_first: row(),
        }
    }
}

/// Layer `il`'s `(n_embd,)` vector `t`.
fn vec_of(l: &Loader, hp: &HParams, il: usize, t: Layer, s: Suffix) -> Result<Vec<f32>, ModelError> {
    l.vec(&t.name(il, s), hp.n_embd)
}

/// Values of one sequence's state in an RWKV-7 layer of width `n_embd`: the two token-shift
/// rows, then every head's (head_size, head_size) wkv state.
pub(crate) fn state_len(n_embd: usize, head_size: usize) -> usize {
    2 * n_embd + n_embd * head_size
}

impl TimeMix {
    /// Layer `il`'s tensors; the first layer's value-residual LoRA (in the file, unused) is
    /// not read.
    pub fn load(l: &Loader, hp: &HParams, il: usize) -> Result<TimeMix, ModelError> {
        let r: RwkvDims = hp.rwkv.ok_or_else(|| ModelError::MissingKey(format!("{}.wkv.head_size", hp.arch)))?;
        let d = hp.n_embd;
        let w = |t: Layer| vec_of(l, hp, il, t, Suffix::Weight);
        let lerp_name = Layer::TimeMixLerpFused.name(il, Suffix::Weight);
        use Layer as T;
        Ok(TimeMix {
            head_size: r.head_size,
            lerp: l.rows_opt(&lerp_name, d, 6)?.ok_or(ModelError::MissingTensor(lerp_name))?,
            receptance: Proj::req(l, T::TimeMixReceptance, il, d, d)?,
            key: Proj::req(l, T::TimeMixKey, il, d, d)?,
            value: Proj::req(l, T::TimeMixValue, il, d, d)?,
            decay: Lora::load(l, hp, il, [T::TimeMixW1, T::TimeMixW2], r.lora_decay, Inner::Tanh, Some(T::TimeMixW0))?,
            iclr: Lora::load(l, hp, il, [T::TimeMixA1, T::TimeMixA2], r.lora_iclr, Inner::None, Some(T::TimeMixA0))?,
            gate: Lora::load(l, hp, il, [T::TimeMixG1, T::TimeMixG2], r.lora_gate, Inner::Sigmoid, None)?,
            value_res: if il == 0 {
                None
            } else {
                Some(Lora::load(l, hp, il, [T::TimeMixV1, T::TimeMixV2], r.lora_value_res, Inner::None, Some(T::TimeMixV0))?)
            },
            k_k: w(T::TimeMixKK)?,
            k_a: w(T::TimeMixKA)?,
            r_k: w(T::TimeMixRK)?,
            ln: w(T::TimeMixLn)?,
            ln_b: vec_of(l, hp, il, T::TimeMixLn, Suffix::Bias)?,
            out: Proj::req(l, T::TimeMixOutput, il, d, d)?,
        })
    }

    pub fn mats(&self) -> Vec<&Mat> {
        let loras = [&self.decay, &self.iclr, &self.gate].into_iter().chain(&self.value_res);
        let mut mats = vec![&self.receptance.w, &self.key.w, &self.value.w, &self.out.w];
        mats.extend(loras.flat_map(|l| [&l.down.w, &l.up.w]));
        mats
    }

    /// Values of one sequence's state for this layer: both token shifts (the channel mix's
    /// too) and every head's wkv state.
    pub fn state_len(&self) -> usize {
        state_len(self.out.w.cols, self.head_size)
    }

    /// Width of the output before `time_mix_output`.
    pub fn out_width(&self) -> usize {
        self.out.w.cols
    }

    /// The batch's `n` rows of `inp` (n, n_embd) into `out` (n, n_embd), each run continuing
    /// its sequence's state in `mem`.
    #[allow(clippy::too_many_arguments)]
    pub fn forward(&self, p: &Pass, il: usize, inp: &[f32], n: usize, runs: &[Run], mem: &mut Memory, b: &mut RwkvBufs, out: &mut [f32], acts: &mut QuantizedActs) {
        let (d, hs, dev) = (self.out_width(), self.head_size, p.dev);
        let nd = n * d;
        let RwkvBufs { sx, xx, r, w, k, v, a, kk, g, lora, v_first } = b;
        let (inp, out) = (&inp[..nd], &mut out[..nd]);
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
        // x_i = sx * lerp_i + x, into xx.
        let lerp = |i: usize, xx: &mut [f32]| {
            let l = &self.lerp[i * d..(i + 1) * d];
            for ((o, s), x) in xx[..nd].chunks_exact_mut(d).zip(sx.chunks_exact(d)).zip(inp.chunks_exact(d)) {
                for (((o, &s), &x), &l) in o.iter_mut().zip(s).zip(x).zip(l) {
                    *o = s * l + x;
                }
            }
        };
        lerp(LERP_R, xx);
        self.receptance.apply(dev, xx, n, r, acts);
        lerp(LERP_W, xx);
        self.decay.apply(dev, xx, n, lora, w, acts);
        w[..nd].iter_mut().for_each(|v| *v = expf(sigmoid(*v) * DECAY_SCALE));
        lerp(LERP_K, xx);
        self.key.apply(dev, xx, n, k, acts);
        lerp(LERP_V, xx);
        self.value.apply(dev, xx, n, v, acts);
        match &self.value_res {
            None => v_first[..nd].copy_from_slice(&v[..nd]),
            Some(res) => {
                // kk is free until the removal key below.
                res.apply(dev, xx, n, lora, kk, acts);
                for ((v, &f), &m) in v[..nd].iter_mut().zip(&v_first[..nd]).zip(&kk[..nd]) {
                    *v += (f - *v) * sigmoid(m);
                }
            }
        }
        lerp(LERP_A, xx);
        self.iclr.apply(dev, xx, n, lora, a, acts);
        a[..nd].iter_mut().for_each(|v| *v = sigmoid(*v));
        lerp(LERP_G, xx);
        self.gate.apply(dev, xx, n, lora, g, acts);

        // kk = l2norm(k * k_k) per head, k += a (k k_a) - k k_a; then a becomes kk a (what the
        // wkv writes with the state) and kk -kk (what it reads against it).
        for ((kr, kkr), ar) in k[..nd].chunks_exact_mut(d).zip(kk.chunks_exact_mut(d)).zip(a.chunks_exact_mut(d)) {
            for ((kk, &k), &s) in kkr.iter_mut().zip(kr.iter()).zip(&self.k_k) {
                *kk = k * s;
            }
            for h in kkr.chunks_exact_mut(hs) {
                l2_norm(h, L2_EPS);
            }
            for (((k, a), kk), &s) in kr.iter_mut().zip(ar.iter_mut()).zip(kkr.iter_mut()).zip(&self.k_a) {
                let ka = *k * s;
                *k += *a * ka - ka;
                *a *= *kk;
                *kk = -*kk;
            }
        }

        for run in runs {
            let rows = run.row * d..(run.row + run.len) * d;
            let state = &mut mem.state_mut(run.seq, il)[2 * d..];
            let y = OutPtr::new(&mut xx[rows.clone()]);
            let (r, w, k, v, a, b) = (&r[rows.clone()], &w[rows.clone()], &k[rows.clone()], &v[rows.clone()], &kk[rows.clone()], &a[rows.clone()]);
            dev.par_chunks(state, hs * hs, &|h, s| {
                let o = h * hs;
                let x = Wkv7Rows { r: &r[o..], w: &w[o..], k: &k[o..], v: &v[o..], a: &a[o..], b: &b[o..], stride: d, head_size: hs };
                // SAFETY: head h writes only y[t][h * hs..(h + 1) * hs] of its rows.
                let ys = unsafe { std::slice::from_raw_parts_mut(y.at(o), (run.len - 1) * d + hs) };
                wkv7_head(&x, run.len, s, ys, d);
            });
        }

        // Per-head LayerNorm, its weight and bias; + v * Σ_head(k r r_k); times the gate.
        dev.layer_norm(&xx[..nd], None, GROUP_NORM_EPS, hs, out);
        let rows = out.chunks_exact_mut(d).zip(k.chunks_exact(d)).zip(r.chunks_exact(d)).zip(v.chunks_exact(d)).zip(g.chunks_exact(d));
        for ((((o, k), r), v), g) in rows {
            for (o, (&lw, &lb)) in o.iter_mut().zip(self.ln.iter().zip(&self.ln_b)) {
                *o = *o * lw + lb;
            }
            for ((((o, k), r), v), rk) in o.chunks_exact_mut(hs).zip(k.chunks_exact(hs)).zip(r.chunks_exact(hs)).zip(v.chunks_exact(hs)).zip(self.r_k.chunks_exact(hs)) {
                let s = k.iter().zip(r).zip(rk).map(|((&k, &r), &rk)| (k * r * rk) as f64).sum::<f64>() as f32;
                o.iter_mut().zip(v).for_each(|(o, &v)| *o += v * s);
            }
            o.iter_mut().zip(g).for_each(|(o, &g)| *o *= g);
        }
    }
}

/// `x *= 1 / max(|x|, eps)` as `ggml_l2_norm` rounds it (the squares summed in f64).
fn l2_norm(x: &mut [f32], eps: f32) {
    let sum = x.iter().map(|&v| (v * v) as f64).sum::<f64>();
    let scale = 1.0 / (sum as f32).sqrt().max(eps);
    x.iter_mut().for_each(|v| *v *= scale);
}

/// The channel mix, RWKV's FFN: `value(relu(key xk)²)` of the token-shifted
/// `xk = (x_prev - x) * lerp_k + x`; RWKV-6's is also gated by its receptance,
/// `sigmoid(receptance xr) * value(..)` with `xr = (x_prev - x) * lerp_r + x`. Its shift row
/// is the second of the layer's state ([`TimeMix`]'s layout).
#[derive(Debug)]
pub(crate) struct ChannelMix {
    lerp_k: Vec<f32>,
    pub key: Proj,
    pub value: Proj,
    /// RWKV-6's receptance gate (rwkv6)
    pub receptance: Option<Receptance>,
}

/// RWKV-6's channel-mix gate: its lerp (n_embd,) and its (n_embd → n_embd) projection.
#[derive(Debug)]
pub(crate) struct Receptance {
    lerp: Vec<f32>,
    pub proj: Proj,
}

impl ChannelMix {
    pub fn load(l: &Loader, hp: &HParams, il: usize) -> Result<ChannelMix, ModelError> {
        let (d, n_ff) = (hp.n_embd, hp.n_ff[il]);
        Ok(ChannelMix {
            lerp_k: vec_of(l, hp, il, Layer::ChannelMixLerpK, Suffix::Weight)?,
            key: Proj::req(l, Layer::ChannelMixKey, il, d, n_ff)?,
            value: Proj::req(l, Layer::ChannelMixValue, il, n_ff, d)?,
            receptance: None,
        })
    }

    /// RWKV-6's: [`ChannelMix::load`]'s tensors and the receptance gate.
    pub fn load_gated(l: &Loader, hp: &HParams, il: usize) -> Result<ChannelMix, ModelError> {
        let d = hp.n_embd;
        let receptance = Receptance {
            lerp: vec_of(l, hp, il, Layer::ChannelMixLerpR, Suffix::Weight)?,
            proj: Proj::req(l, Layer::ChannelMixReceptance, il, d, d)?,
        };
        Ok(ChannelMix { receptance: Some(receptance), ..ChannelMix::load(l, hp, il)? })
    }

    /// Mixes each of the normed rows `x` (runs' rows, n_embd wide) with the row before it in
    /// its sequence, in place, keeping each run's last row in its state; with a receptance,
    /// its own mix of the same rows goes to `xr` (same shape; else untouched).
    pub fn token_shift(&self, il: usize, x: &mut [f32], runs: &[Run], mem: &mut Memory, xr: &mut [f32]) {
        let d = self.lerp_k.len();
        for run in runs {
            let span = run.row * d..(run.row + run.len) * d;
            let shift = &mut mem.state_mut(run.seq, il)[d..2 * d];
            for (t, r) in x[span.clone()].chunks_exact_mut(d).enumerate() {
                if let Some(rc) = &self.receptance {
                    let o = &mut xr[span.start + t * d..][..d];
                    for (((o, &x), &s), &l) in o.iter_mut().zip(r.iter()).zip(shift.iter()).zip(&rc.lerp) {
                        *o = (s - x) * l + x;
                    }
                }
                for ((x, s), &l) in r.iter_mut().zip(shift.iter_mut()).zip(&self.lerp_k) {
                    let cur = *x;
                    *x = (*s - cur) * l + cur;
                    *s = cur;
                }
            }
        }
    }

    /// `out (n, n_embd)` of the shifted rows `x`, with `hidden` (n, n_ff).
    /// With a receptance, `xr` holds its shifted rows (then the value's rows).
    #[allow(clippy::too_many_arguments)]
    pub fn forward(&self, p: &Pass, x: &[f32], n: usize, hidden: &mut [f32], xr: &mut [f32], acts: &mut QuantizedActs, out: &mut [f32]) {
        let (n_ff, nd) = (self.key.w.rows, n * self.value.w.rows);
        if let Some(rc) = &self.receptance {
            // The gate first, into out: xr is then free for the value's rows.
            rc.proj.apply(p.dev, xr, n, out, acts);
            out[..nd].iter_mut().for_each(|v| *v = sigmoid(*v));
        }
        self.key.apply(p.dev, x, n, hidden, acts);
        hidden[..n * n_ff].iter_mut().for_each(|v| {
            let r = v.max(0.0);
            *v = r * r;
        });
        if self.receptance.is_none() {
            return self.value.apply(p.dev, hidden, n, out, acts);
        }
        self.value.apply(p.dev, hidden, n, xr, acts);
        out[..nd].iter_mut().zip(&xr[..nd]).for_each(|(o, &v)| *o *= v);
    }
}
