//! The Mamba-2 mixer (llama.cpp `build_mamba2_layer`): `ssm_in` projects each row to
//! `[z (d_inner) | xBC (d_inner + 2 n_group d_state) | dt (n_head)]`; a causal depthwise
//! conv with bias and SiLU runs over xBC; the scan (per head, scalar decay) reads x, B and C
//! from it; `y = scan + D x`, gated by `silu(z)`, RMS-normed per group (when the file has
//! `ssm_norm`), then `ssm_out` (the caller's output projection).
//!
//! Per sequence the memory holds the conv's last `d_conv - 1` input rows and each head's
//! `(head_dim, d_state)` scan state. The projections are one mat-mat over the batch; the
//! scan is sequential in time and parallel over heads.

use super::proj::Proj;
use super::Pass;
use crate::model::batch::Run;
use crate::model::hparams::{HParams, SsmDims};
use crate::model::memory::Memory;
use crate::model::names::{Layer, Suffix};
use crate::model::ops::expf::silu_mul;
use crate::model::ops::norm::rms_norm_inplace;
use crate::model::ops::ssm::{scan_head, taps_by_time, Conv};
use crate::model::weights::{Loader, Mat};
use crate::model::ModelError;
use crate::quant::{OutPtr, QuantizedActs};

#[derive(Debug)]
pub(crate) struct Mamba2 {
    d: SsmDims,
    /// (n_embd → d_inner + conv_ch + n_head)
    ssm_in: Proj,
    /// (d_conv, conv_ch) taps by time and (conv_ch,) bias (optional in falcon-h1)
    conv_w: Vec<f32>,
    conv_b: Option<Vec<f32>>,
    /// (n_head,) time-step bias, decay A (= -exp(A_log)), skip D
    dt_b: Vec<f32>,
    a: Vec<f32>,
    d_skip: Vec<f32>,
    /// (d_inner,) grouped RMSNorm weight (absent in falcon-h1)
    norm: Option<Vec<f32>>,
    pub out: Proj,
}

/// Activations of the Mamba-2 layers for batches of up to `n_ubatch` rows.
pub(crate) struct SsmBufs {
    /// (n_ubatch, d_inner + conv_ch + n_head) `ssm_in`'s output
    zxbcdt: Vec<f32>,
    /// (n_ubatch, conv_ch) the conv's output: [x | B | C]
    xbc: Vec<f32>,
}

impl SsmBufs {
    pub fn new(d: &SsmDims, n_ubatch: usize) -> SsmBufs {
        let ch = conv_channels(d);
        SsmBufs { zxbcdt: vec![0.0; n_ubatch * (d.d_inner + ch + d.n_head)], xbc: vec![0.0; n_ubatch * ch] }
    }
}

fn conv_channels(d: &SsmDims) -> usize {
    d.d_inner + 2 * d.n_group * d.d_state
}

/// Values of one sequence's state in a Mamba-2 layer: the conv window, then every head's
/// scan state.
pub(crate) fn state_len(d: &SsmDims) -> usize {
    (d.d_conv - 1) * conv_channels(d) + d.d_inner * d.d_state
}

impl Mamba2 {
    /// Layer `il`'s tensors; `ssm_norm` is read where the file has it.
    pub fn load(l: &Loader, hp: &HParams, il: usize) -> Result<Mamba2, ModelError> {
        let d = hp.ssm.ok_or_else(|| ModelError::MissingKey(format!("{}.ssm.inner_size", hp.arch)))?;
        let ch = conv_channels(&d);
        let name = |t: Layer, s: Suffix| t.name(il, s);
        let rows = |t: Layer, s: Suffix, w: usize, n: usize| l.rows_opt(&name(t, s), w, n)?.ok_or_else(|| ModelError::MissingTensor(name(t, s)));
        Ok(Mamba2 {
            d,
            ssm_in: Proj::req(l, Layer::SsmIn, il, hp.n_embd, d.d_inner + ch + d.n_head)?,
            conv_w: taps_by_time(&rows(Layer::SsmConv1d, Suffix::Weight, d.d_conv, ch)?, ch, d.d_conv),
            conv_b: l.vec_opt(&name(Layer::SsmConv1d, Suffix::Bias), ch)?,
            dt_b: l.vec(&name(Layer::SsmDt, Suffix::Bias), d.n_head)?,
            a: rows(Layer::SsmA, Suffix::None, 1, d.n_head)?,
            d_skip: rows(Layer::SsmD, Suffix::None, 1, d.n_head)?,
            norm: l.rows_opt(&name(Layer::SsmNorm, Suffix::Weight), d.d_inner / d.n_group, d.n_group)?,
            out: Proj::req(l, Layer::SsmOut, il, d.d_inner, hp.n_embd)?,
        })
    }

    pub fn mats(&self) -> Vec<&Mat> {
        vec![&self.ssm_in.w, &self.out.w]
    }

    /// See [`state_len`].
    pub fn state_len(&self) -> usize {
        state_len(&self.d)
    }

    /// Width of the output before `ssm_out`.
    pub fn out_width(&self) -> usize {
        self.d.d_inner
    }

    /// The batch's `n` rows of `inp` (n, n_embd) into `out` (n, d_inner), each run continuing
    /// its sequence's state in `mem`.
    #[allow(clippy::too_many_arguments)]
    pub fn forward(&self, p: &Pass, il: usize, inp: &[f32], n: usize, runs: &[Run], mem: &mut Memory, b: &mut SsmBufs, out: &mut [f32], acts: &mut QuantizedActs) {
        let d = &self.d;
        let (di, ch, nh, ds) = (d.d_inner, conv_channels(d), d.n_head, d.d_state);
        let hd = d.head_dim();
        let w = di + ch + nh;
        self.ssm_in.apply(p.dev, inp, n, &mut b.zxbcdt, acts);
        let conv_len = (d.d_conv - 1) * ch;
        for run in runs {
            let rows = run.row..run.row + run.len;
            let state = mem.state_mut(run.seq, il);
            let (conv_state, scan_state) = state.split_at_mut(conv_len);
            let zx = &b.zxbcdt[rows.start * w..rows.end * w];
            let xbc = &mut b.xbc[rows.start * ch..rows.end * ch];
            let conv = Conv { w_t: &self.conv_w, b: self.conv_b.as_deref(), d_conv: d.d_conv, ch };
            conv_rows_par(p, &conv, &zx[di..], w, conv_state, xbc);
            let y = OutPtr::new(&mut out[rows.start * di..rows.end * di]);
            let (xbc, zx) = (&*xbc, zx);
            let heads_per_group = nh / d.n_group;
            p.dev.par_chunks(scan_state, hd * ds, &|h, s| {
                let g = h / heads_per_group;
                let x = &xbc[h * hd..];
                let bv = &xbc[di + g * ds..];
                let cv = &xbc[di + d.n_group * ds + g * ds..];
                // dt of head h at zx[t * w + di + ch + h], biased per row below.
                let mut dts = [0.0f32; 64];
                let mut t0 = 0;
                while t0 < run.len {
                    let m = (run.len - t0).min(dts.len());
                    for (t, v) in dts[..m].iter_mut().enumerate() {
                        *v = zx[(t0 + t) * w + di + ch + h] + self.dt_b[h];
                    }
                    // SAFETY: head h writes only y[t][h * hd..(h + 1) * hd] of its rows.
                    let ys = unsafe { std::slice::from_raw_parts_mut(y.at(t0 * di + h * hd), (m - 1) * di + hd) };
                    scan_head(&x[t0 * ch..], &bv[t0 * ch..], &cv[t0 * ch..], ch, &dts[..m], self.a[h], s, hd, ys, di);
                    t0 += m;
                }
            });
            // y += D x, times silu(z), then the grouped norm; rows apart on the pool.
            let gw = di / d.n_group;
            let eps = p.hp.rms_eps;
            p.dev.par_chunks(&mut out[rows.start * di..rows.end * di], di, &|t, yr| {
                let (zr, xr) = (&zx[t * w..][..di], &xbc[t * ch..][..di]);
                for (i, (yv, &xv)) in yr.iter_mut().zip(xr).enumerate() {
                    *yv += xv * self.d_skip[i / hd];
                }
                // ggml: y + x·D, then swiglu_split(z, y) = silu(z)·y.
                silu_mul(zr, yr, p.rounding);
                if let Some(nw) = &self.norm {
                    for (yg, wg) in yr.chunks_exact_mut(gw).zip(nw.chunks_exact(gw)) {
                        rms_norm_inplace(yg, Some(wg), eps);
                    }
                }
            });
        }
    }
}


/// Rows of the conv per pool task.
const CONV_ROWS_PER_TASK: usize = 16;

/// A run's conv (`x`: its input rows, `x_stride` apart) into `out` (run.len, ch), rows apart on
/// the pool, then the state shifted past the run.
pub(crate) fn conv_rows_par(p: &Pass, conv: &Conv, x: &[f32], x_stride: usize, state: &mut [f32], out: &mut [f32]) {
    let n = out.len() / conv.ch;
    let st: &[f32] = state;
    p.dev.par_chunks(out, CONV_ROWS_PER_TASK * conv.ch, &|i, o| conv.rows(x, x_stride, i * CONV_ROWS_PER_TASK, st, o, p.rounding));
    conv.shift(x, x_stride, n, state);
}
