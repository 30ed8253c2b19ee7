//! The Mamba-1 mixer (llama.cpp `build_mamba_layer`): `ssm_in` projects each row to
//! `[x (d_inner) | z (d_inner)]`; a causal depthwise conv with bias and SiLU runs over x;
//! `ssm_x` projects the conv's output to `[dt (dt_rank) | B (d_state) | C (d_state)]` (each
//! RMS-normed, without weights, when the file sets `ssm.dt_b_c_rms`: falcon-mamba); `ssm_dt`
//! (with bias) widens dt back to one time step per channel; the scan runs per channel with a
//! decay per channel and state (`ssm_a`); `y = scan + D x`, gated by `silu(z)`, then
//! `ssm_out` (the caller's output projection).
//!
//! Per sequence the memory holds the conv's last `d_conv - 1` input rows, then each channel's
//! `d_state` scan state. The projections are mat-mats over the batch; the scan is sequential
//! in time and parallel over channels.

use super::proj::Proj;
use super::ssm::conv_rows_par;
use super::Pass;
use crate::model::batch::Run;
use crate::model::hparams::{HParams, MambaDims};
use crate::model::memory::Memory;
use crate::model::names::{Layer, Suffix};
use crate::model::ops::expf::silu_mul;
use crate::model::ops::norm::rms_norm_inplace;
use crate::model::ops::ssm::{scan_mamba1_row, taps_by_time, Conv};
use crate::model::weights::{Loader, Mat};
use crate::model::ModelError;
use crate::quant::{OutPtr, QuantizedActs};

#[derive(Debug)]
pub(crate) struct Mamba {
    d: MambaDims,
    /// (n_embd → 2 d_inner): [x | z]
    ssm_in: Proj,
    /// (d_conv, d_inner) taps by time and (d_inner,) bias
    conv_w: Vec<f32>,
    conv_b: Vec<f32>,
    /// (d_inner → dt_rank + 2 d_state): [dt | B | C]
    ssm_x: Proj,
    /// (dt_rank → d_inner) with its (d_inner,) bias
    ssm_dt: Proj,
    /// (d_inner, d_state) decays, stored as -exp(A_log); (d_inner,) skip D
    a: Vec<f32>,
    d_skip: Vec<f32>,
    pub out: Proj,
}

/// Activations of the Mamba-1 layers for batches of up to `n_ubatch` rows.
pub(crate) struct MambaBufs {
    /// (n_ubatch, 2 d_inner) `ssm_in`'s output
    xz: Vec<f32>,
    /// (n_ubatch, d_inner) the conv's output
    x: Vec<f32>,
    /// (n_ubatch, dt_rank + 2 d_state) `ssm_x`'s output
    xdb: Vec<f32>,
    /// (n_ubatch, dt_rank) its dt part, contiguous for `ssm_dt`
    dt_low: Vec<f32>,
    /// (n_ubatch, d_inner) time steps per channel, biased, before softplus
    dt: Vec<f32>,
}

impl MambaBufs {
    pub fn new(d: &MambaDims, n_ubatch: usize) -> MambaBufs {
        let di = d.d_inner;
        MambaBufs {
            xz: vec![0.0; n_ubatch * 2 * di],
            x: vec![0.0; n_ubatch * di],
            xdb: vec![0.0; n_ubatch * (d.dt_rank + 2 * d.d_state)],
            dt_low: vec![0.0; n_ubatch * d.dt_rank],
            dt: vec![0.0; n_ubatch * di],
        }
    }
}

/// Values of one sequence's state in a Mamba-1 layer (llama.cpp's `n_embd_r() + n_embd_s()`):
/// the conv window, then every channel's scan state.
pub(crate) fn state_len(d: &MambaDims) -> usize {
    (d.d_conv - 1) * d.d_inner + d.d_inner * d.d_state
}

/// Channels of the scan per pool task.
const CHANNELS_PER_TASK: usize = 32;

impl Mamba {
    /// Layer `il`'s tensors.
    pub fn load(l: &Loader, hp: &HParams, il: usize) -> Result<Mamba, ModelError> {
        let d = hp.mamba.ok_or_else(|| ModelError::MissingKey(format!("{}.ssm.inner_size", hp.arch)))?;
        let (di, ds, r) = (d.d_inner, d.d_state, d.dt_rank);
        let name = |t: Layer, s: Suffix| t.name(il, s);
        let rows = |t: Layer, s: Suffix, w: usize, n: usize| l.rows_opt(&name(t, s), w, n)?.ok_or_else(|| ModelError::MissingTensor(name(t, s)));
        Ok(Mamba {
            d,
            ssm_in: Proj::req(l, Layer::SsmIn, il, hp.n_embd, 2 * di)?,
            conv_w: taps_by_time(&rows(Layer::SsmConv1d, Suffix::Weight, d.d_conv, di)?, di, d.d_conv),
            conv_b: l.vec(&name(Layer::SsmConv1d, Suffix::Bias), di)?,
            ssm_x: Proj::req(l, Layer::SsmX, il, di, r + 2 * ds)?,
            ssm_dt: Proj::req(l, Layer::SsmDt, il, r, di)?,
            a: rows(Layer::SsmA, Suffix::None, ds, di)?,
            d_skip: l.vec(&name(Layer::SsmD, Suffix::None), di)?,
            out: Proj::req(l, Layer::SsmOut, il, di, hp.n_embd)?,
        })
    }

    pub fn mats(&self) -> Vec<&Mat> {
        vec![&self.ssm_in.w, &self.ssm_x.w, &self.ssm_dt.w, &self.out.w]
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
    pub fn forward(&self, p: &Pass, il: usize, inp: &[f32], n: usize, runs: &[Run], mem: &mut Memory, b: &mut MambaBufs, out: &mut [f32], acts: &mut QuantizedActs) {
        let d = &self.d;
        let (di, ds, r) = (d.d_inner, d.d_state, d.dt_rank);
        let w = r + 2 * ds;
        let conv_len = (d.d_conv - 1) * di;
        self.ssm_in.apply(p.dev, inp, n, &mut b.xz, acts);
        let conv = Conv { w_t: &self.conv_w, b: Some(&self.conv_b), d_conv: d.d_conv, ch: di };
        for run in runs {
            let state = mem.state_mut(run.seq, il);
            conv_rows_par(p, &conv, &b.xz[run.row * 2 * di..], 2 * di, &mut state[..conv_len], &mut b.x[run.row * di..(run.row + run.len) * di]);
        }
        self.ssm_x.apply(p.dev, &b.x[..n * di], n, &mut b.xdb, acts);
        for (t, row) in b.xdb[..n * w].chunks_exact_mut(w).enumerate() {
            if d.dt_b_c_rms {
                // llama.cpp's build_norm without a weight, at the model's eps.
                let (dt, bc) = row.split_at_mut(r);
                let (bv, cv) = bc.split_at_mut(ds);
                for v in [dt, bv, cv] {
                    rms_norm_inplace(v, None, p.hp.rms_eps);
                }
            }
            b.dt_low[t * r..(t + 1) * r].copy_from_slice(&row[..r]);
        }
        self.ssm_dt.apply(p.dev, &b.dt_low[..n * r], n, &mut b.dt, acts);

        let (x, dt, xdb) = (&b.x, &b.dt, &b.xdb);
        for run in runs {
            let scan_state = &mut mem.state_mut(run.seq, il)[conv_len..];
            let y = OutPtr::new(&mut out[run.row * di..(run.row + run.len) * di]);
            p.dev.par_chunks(scan_state, CHANNELS_PER_TASK * ds, &|i, s| {
                let (h0, k) = (i * CHANNELS_PER_TASK, s.len() / ds);
                let a = &self.a[h0 * ds..(h0 + k) * ds];
                for t in 0..run.len {
                    let row = run.row + t;
                    let bc = &xdb[row * w + r..][..2 * ds];
                    // SAFETY: this task alone writes channels h0..h0 + k of the run's rows.
                    let ys = unsafe { std::slice::from_raw_parts_mut(y.at(t * di + h0), k) };
                    scan_mamba1_row(&x[row * di + h0..][..k], &dt[row * di + h0..][..k], a, &bc[..ds], &bc[ds..], s, ys);
                }
            });
        }
        // ggml: y + x·D, then swiglu_split(z, y) = silu(z)·y; rows apart on the pool.
        let xz = &b.xz;
        p.dev.par_chunks(&mut out[..n * di], di, &|t, yr| {
            for ((yv, &xv), &dv) in yr.iter_mut().zip(&x[t * di..][..di]).zip(&self.d_skip) {
                *yv += xv * dv;
            }
            silu_mul(&xz[t * 2 * di + di..][..di], yr, p.rounding);
        });
    }
}
