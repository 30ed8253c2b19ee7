//! Per-layer embeddings (gemma4; llama.cpp `gemma4.cpp`: `build_inp_per_layer`,
//! `project_per_layer_inputs` and the block after each layer's FFN). Before the first layer
//! each token gets one small input per layer: its row of a second token table (times
//! sqrt(n_pl)) plus a normed projection of its scaled embedding (times 1/sqrt(n_embd)), the
//! sum times 1/sqrt(2). After a layer's FFN residual, the hidden state is gated to that
//! width (GELU), multiplied by the layer's input, projected back, normed and added.

use super::Pass;
use crate::model::names::{Global, Layer as T, Suffix};
use crate::model::weights::{Loader, Mat};
use crate::model::ModelError;
use crate::quant::QuantizedActs;

/// One layer's part: gate, projection back to n_embd, and its norm.
#[derive(Debug)]
pub(crate) struct PleLayer {
    /// (n_pl, n_embd)
    pub inp_gate: Mat,
    /// (n_embd, n_pl)
    pub proj: Mat,
    /// (n_embd,)
    pub post_norm: Vec<f32>,
}

/// The model's per-layer embeddings.
#[derive(Debug)]
pub(crate) struct Ple {
    /// Width of one layer's input.
    pub n_pl: usize,
    /// (n_vocab, n_layer * n_pl) token table
    pub tok_embd: Mat,
    /// (n_layer * n_pl, n_embd) projection of the scaled embedding
    pub model_proj: Mat,
    /// (n_pl,) norm of each layer's slice of that projection
    pub proj_norm: Vec<f32>,
    pub layers: Vec<PleLayer>,
}

/// Activations for batches of up to `n_ubatch` tokens.
pub(crate) struct PleBufs {
    /// (n_ubatch, n_layer * n_pl) each row's inputs, layer `il`'s at `il * n_pl`
    pub inp: Vec<f32>,
    /// (n_ubatch, n_layer * n_pl) the token table's rows
    tok: Vec<f32>,
    /// (n_ubatch, n_pl) one layer's gate
    gate: Vec<f32>,
    /// (n_ubatch, n_embd) one layer's projected output
    out: Vec<f32>,
}

impl PleBufs {
    pub fn new(ple: &Ple, n_layer: usize, n_embd: usize, n_ubatch: usize) -> PleBufs {
        let w = n_layer * ple.n_pl;
        PleBufs { inp: vec![0.0; n_ubatch * w], tok: vec![0.0; n_ubatch * w], gate: vec![0.0; n_ubatch * ple.n_pl], out: vec![0.0; n_ubatch * n_embd] }
    }
}

impl Ple {
    /// The global tensors and each layer's, `n_pl` wide.
    pub fn load(l: &Loader, n_embd: usize, n_layer: usize, n_vocab: usize, n_pl: usize) -> Result<Ple, ModelError> {
        let w = n_layer * n_pl;
        let g = |t: Global| t.name(Suffix::Weight);
        let layers = (0..n_layer)
            .map(|il| {
                let name = |t: T| t.name(il, Suffix::Weight);
                Ok(PleLayer {
                    inp_gate: l.mat(&name(T::PerLayerInpGate), n_embd, Some(n_pl))?,
                    proj: l.mat(&name(T::PerLayerProj), n_pl, Some(n_embd))?,
                    post_norm: l.vec(&name(T::PerLayerPostNorm), n_embd)?,
                })
            })
            .collect::<Result<_, ModelError>>()?;
        Ok(Ple {
            n_pl,
            tok_embd: l.mat(&g(Global::PerLayerTokenEmbd), w, Some(n_vocab))?,
            model_proj: l.mat(&g(Global::PerLayerModelProj), n_embd, Some(w))?,
            proj_norm: l.vec(&g(Global::PerLayerProjNorm), n_pl)?,
            layers,
        })
    }

    /// Every matrix, for sizing the activation buffer.
    pub fn mats(&self) -> Vec<&Mat> {
        let mut m = vec![&self.tok_embd, &self.model_proj];
        self.layers.iter().for_each(|l| m.extend([&l.inp_gate, &l.proj]));
        m
    }

    /// The per-layer inputs of `n` rows into `b.inp`: `x` (n, n_embd) is the scaled embedding
    /// of `tokens`.
    pub fn inputs(&self, p: &Pass, x: &[f32], tokens: &[u32], n: usize, b: &mut PleBufs, acts: &mut QuantizedActs) {
        let (d, np) = (p.hp.n_embd, self.n_pl);
        let w = self.model_proj.rows;
        let inp = &mut b.inp[..n * w];
        p.dev.matmul(&self.model_proj, &x[..n * d], n, inp, acts);
        let proj_scale = 1.0 / (d as f32).sqrt();
        inp.iter_mut().for_each(|v| *v *= proj_scale);
        p.dev.rms_norm_inplace(inp, Some(&self.proj_norm), p.hp.rms_eps, np);
        let tok = &mut b.tok[..n * w];
        p.dev.get_rows(&self.tok_embd, tokens, tok);
        let tok_scale = (np as f32).sqrt();
        let inp_scale = 1.0 / 2f32.sqrt();
        for (v, &t) in inp.iter_mut().zip(tok.iter()) {
            *v = (*v + t * tok_scale) * inp_scale;
        }
    }

    /// Layer `il`'s block on the residual stream `x` (n, n_embd):
    /// `x += norm(proj(gelu(inp_gate x) * inp[il]))`.
    pub fn apply(&self, p: &Pass, il: usize, x: &mut [f32], n: usize, b: &mut PleBufs, acts: &mut QuantizedActs) {
        let (d, np) = (p.hp.n_embd, self.n_pl);
        let (l, w) = (&self.layers[il], self.model_proj.rows);
        let gate = &mut b.gate[..n * np];
        p.dev.matmul(&l.inp_gate, &x[..n * d], n, gate, acts);
        p.dev.gelu(gate);
        for (t, g) in gate.chunks_exact_mut(np).enumerate() {
            let inp = &b.inp[t * w + il * np..t * w + (il + 1) * np];
            g.iter_mut().zip(inp).for_each(|(g, &i)| *g *= i);
        }
        let out = &mut b.out[..n * d];
        p.dev.matmul(&l.proj, gate, n, out, acts);
        p.dev.rms_norm_inplace(out, Some(&l.post_norm), p.hp.rms_eps, d);
        p.dev.add(&mut x[..n * d], out, None);
    }
}
