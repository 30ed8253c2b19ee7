//! Activations converted once per matmul to the weight type's `vec_dot_type`, with the
//! per-block sums the panel kernels read, and the panel geometry both the matmul driver and
//! the kernels use. A leaf module: kernels and driver import it, not each other.

use super::{row_bytes, traits, QuantTraits};
use crate::GgmlType;

pub(super) fn weight_traits(ty: GgmlType) -> &'static QuantTraits {
    traits(ty).unwrap_or_else(|| panic!("no kernels for weight type {ty}"))
}

/// Weight rows per panel (`pack_panel`) and tokens per `panel_dot` call.
pub(crate) const PANEL_ROWS: usize = 16;
pub(crate) const PANEL_TOKENS: usize = 8;
/// Smallest batch that takes the panel path: packing a row block costs about as much as
/// running a few tokens through it. Measured (Zen 4, 1 thread, 2048×2048): panels break even
/// with the 4x4 / x4 kernels at batch 8 and are 1.3–1.4× faster at 12, 1.4–1.6× at 16. The
/// AVX2 K-quant panels break even at 8–12 (Q6_K at 16) and are 1.3–2× faster from 24.
pub(crate) const PANEL_MIN_BATCH: usize = 10;
/// Activations converted to a `vec_dot_type`: `batch` rows of `row_bytes` bytes.
/// Reusable: `quantize` only grows the buffer.
#[derive(Clone, Debug)]
pub struct QuantizedActs {
    pub(super) ty: GgmlType,
    pub(super) cols: usize,
    pub(super) batch: usize,
    pub(super) row_bytes: usize,
    pub(super) data: Vec<u8>,
    /// After `prepare_block_sums` (the panel kernels' inputs), row-major per activation row:
    /// Q8_0: per block, `-128 * sum(qs)` of each group of 4 quants (8 per block) and the scale
    /// as f32; Q8_1: per block, the scale and
    /// `s` (scale × sum) as f32; Q8_K: per block, the quant sums of its 8 sub-blocks of 32 then
    /// of its 16 sub-blocks of 16, as f32. Empty otherwise.
    pub(super) group_bias: Vec<i32>,
    pub(super) block_d: Vec<f32>,
    pub(super) block_s: Vec<f32>,
    pub(super) sub_sums: Vec<f32>,
    pub(super) sums_ready: bool,
}

impl Default for QuantizedActs {
    fn default() -> Self {
        QuantizedActs {
            ty: GgmlType::F32,
            cols: 0,
            batch: 0,
            row_bytes: 0,
            data: Vec::new(),
            group_bias: Vec::new(),
            block_d: Vec::new(),
            block_s: Vec::new(),
            sub_sums: Vec::new(),
            sums_ready: false,
        }
    }
}

impl QuantizedActs {
    pub fn new() -> Self {
        Self::default()
    }

    /// Converts `x` (`batch` rows of `cols`) to the activation type `ty`.
    ///
    /// # Panics
    /// If `ty` is not an activation type or `x.len()` is not a multiple of `cols`.
    pub fn quantize(&mut self, ty: GgmlType, x: &[f32], cols: usize) {
        assert!(cols > 0 && x.len() % cols == 0, "x is not a whole number of rows of {cols}");
        let q = traits(ty).and_then(|t| t.quantize_row).unwrap_or_else(|| panic!("{ty} is not an activation type"));
        let rb = row_bytes(ty, cols);
        let batch = x.len() / cols;
        self.data.resize(rb * batch, 0);
        for (xr, out) in x.chunks_exact(cols).zip(self.data.chunks_exact_mut(rb)) {
            q(xr, out);
        }
        (self.ty, self.cols, self.batch, self.row_bytes) = (ty, cols, batch, rb);
        self.group_bias.clear();
        self.block_d.clear();
        self.block_s.clear();
        self.sub_sums.clear();
        self.sums_ready = false;
    }

    /// Converts `x` for weights of type `weight_ty` (to its `vec_dot_type`), plus what that
    /// type's panel kernels need when the batch is large enough to take them.
    pub fn quantize_for(&mut self, weight_ty: GgmlType, x: &[f32], cols: usize) {
        let t = weight_traits(weight_ty);
        self.quantize(t.vec_dot_type, x, cols);
        if t.panel_dot.is_some() && self.batch >= PANEL_MIN_BATCH {
            self.prepare_block_sums();
        }
    }

    /// Fills the block sums the panel kernels read ([`Self::group_bias`] and
    /// [`Self::block_d`] for Q8_0, [`Self::block_d`] and [`Self::block_s`] for Q8_1,
    /// [`Self::sub_sums`] for Q8_K). A no-op for other types.
    pub fn prepare_block_sums(&mut self) {
        if self.sums_ready {
            return;
        }
        let n = self.batch * self.row_bytes;
        match self.ty {
            GgmlType::Q8_0 => {
                for b in self.data[..n].chunks_exact(34) {
                    // Per group of 4 quants (an 8-lane dot's lane): the panels sum each apart.
                    self.group_bias.extend(b[2..].chunks_exact(4).map(|g| -128 * g.iter().map(|&q| q as i8 as i32).sum::<i32>()));
                    self.block_d.push(super::float::f16_to_f32(u16::from_le_bytes([b[0], b[1]])));
                }
            }
            GgmlType::Q8_1 => {
                let f16 = |b: &[u8], at: usize| super::float::f16_to_f32(u16::from_le_bytes([b[at], b[at + 1]]));
                for b in self.data[..n].chunks_exact(36) {
                    self.block_d.push(f16(b, 0));
                    self.block_s.push(f16(b, 2));
                }
            }
            GgmlType::Q8_K => {
                // bsums (16 × i16) sit after d (f32) and qs (256 bytes).
                for b in self.data[..n].chunks_exact(292) {
                    let s = |k: usize| i16::from_le_bytes([b[260 + 2 * k], b[261 + 2 * k]]) as f32;
                    self.sub_sums.extend((0..8).map(|j| s(2 * j) + s(2 * j + 1)));
                    self.sub_sums.extend((0..16).map(s));
                }
            }
            _ => return,
        }
        self.sums_ready = true;
    }
    /// Whether `prepare_block_sums` has run for the current contents.
    pub fn sums_ready(&self) -> bool {
        self.sums_ready
    }
    /// Q8_K: per block, the quant sums of its sub-blocks of 32 (8) then 16 (16) as f32,
    /// row-major; empty before `prepare_block_sums`.
    pub fn sub_sums(&self) -> &[f32] {
        &self.sub_sums
    }
    /// `-128 * sum(qs)` per group of 4 quants of each Q8_0 block (8 per block: the lanes of
    /// ggml's 8-lane dot), row-major; empty before `prepare_block_sums`.
    pub fn group_bias(&self) -> &[i32] {
        &self.group_bias
    }
    /// The scale of each Q8_0 / Q8_1 block as f32, row-major; empty before `prepare_block_sums`.
    pub fn block_d(&self) -> &[f32] {
        &self.block_d
    }
    /// `s` (scale × quant sum) of each Q8_1 block as f32, row-major; empty before
    /// `prepare_block_sums`.
    pub fn block_s(&self) -> &[f32] {
        &self.block_s
    }

    pub fn ty(&self) -> GgmlType {
        self.ty
    }
    pub fn cols(&self) -> usize {
        self.cols
    }
    pub fn batch(&self) -> usize {
        self.batch
    }
    pub fn row_bytes(&self) -> usize {
        self.row_bytes
    }
    /// The converted bytes of activation row `j`.
    pub fn row(&self, j: usize) -> &[u8] {
        &self.data[j * self.row_bytes..(j + 1) * self.row_bytes]
    }
}
