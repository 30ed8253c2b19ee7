//! A projection `y = (W x) * scale + bias`, the unit every block is made of.

use crate::model::names::{Layer, Suffix};
use crate::model::weights::{Loader, Mat};
use crate::model::device::Device;
use crate::model::ModelError;
use crate::quant::QuantizedActs;

#[derive(Debug)]
pub(crate) struct Proj {
    pub w: Mat,
    pub bias: Option<Vec<f32>>,
    pub scale: Option<f32>,
}

impl Proj {
    /// `blk.{il}.<t>.weight` of `rows` × `cols` with its optional bias and scale; None when
    /// the file has no such weight.
    pub fn load(l: &Loader, t: Layer, il: usize, cols: usize, rows: usize) -> Result<Option<Proj>, ModelError> {
        let Some(w) = l.mat_opt(&t.name(il, Suffix::Weight), cols, Some(rows))? else { return Ok(None) };
        let bias = l.vec_opt(&t.name(il, Suffix::Bias), rows)?;
        let scale = l.scale_opt(&t.name(il, Suffix::Scale))?;
        Ok(Some(Proj { w, bias, scale }))
    }

    /// [`Proj::load`] of a tensor the architecture requires.
    pub fn req(l: &Loader, t: Layer, il: usize, cols: usize, rows: usize) -> Result<Proj, ModelError> {
        Proj::load(l, t, il, cols, rows)?.ok_or_else(|| ModelError::MissingTensor(t.name(il, Suffix::Weight)))
    }

    /// `out (n, rows) = x (n, cols) · Wᵀ * scale + bias`.
    pub fn apply(&self, dev: &dyn Device, x: &[f32], n: usize, out: &mut [f32], acts: &mut QuantizedActs) {
        dev.matmul(&self.w, x, n, out, acts);
        let rows = self.w.rows;
        for r in out[..n * rows].chunks_exact_mut(rows) {
            if let Some(s) = self.scale {
                r.iter_mut().for_each(|v| *v *= s);
            }
            if let Some(b) = &self.bias {
                r.iter_mut().zip(b).for_each(|(v, &bv)| *v += bv);
            }
        }
    }
}
