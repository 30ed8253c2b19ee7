//! Gated DeltaNet (qwen3next, qwen35). Placeholder: being written.

use super::proj::Proj;
use super::Pass;
use crate::model::batch::Run;
use crate::model::hparams::HParams;
use crate::model::memory::Memory;
use crate::model::weights::Mat;
use crate::quant::QuantizedActs;

#[derive(Debug)]
pub(crate) struct DeltaNet {
    pub out: Proj,
}

pub(crate) struct DeltaNetBufs {}

impl DeltaNetBufs {
    pub fn new(_hp: &HParams, _n_ubatch: usize) -> DeltaNetBufs {
        DeltaNetBufs {}
    }
}

impl DeltaNet {
    pub fn mats(&self) -> Vec<&Mat> {
        vec![&self.out.w]
    }
    pub fn state_len(&self) -> usize {
        0
    }
    pub fn out_width(&self) -> usize {
        0
    }
    #[allow(clippy::too_many_arguments)]
    pub fn forward(&self, _p: &Pass, _il: usize, _inp: &[f32], _n: usize, _runs: &[Run], _mem: &mut Memory, _b: &mut DeltaNetBufs, _out: &mut [f32], _acts: &mut QuantizedActs) {}
}
