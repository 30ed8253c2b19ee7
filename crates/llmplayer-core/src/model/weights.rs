//! Where weights live. A [`Mat`] is a byte range of the model file (never copied) or, for
//! the dequantized-f32 load option, an owned f32 copy. Ranges instead of slices keep
//! [`Model`](super::Model) free of self-references, so it can own its bytes (an mmap, a
//! `Vec<u8>`) behind an `Arc` or borrow them.

use super::ops::f32dot::{dot_rows, Order};
use super::ModelError;
use crate::gguf::{GgufFile, TensorInfo};
use crate::quant::{matmul_par, matmul_q, row_bytes, traits, QuantizedActs};
use crate::parallel::ThreadPool;
use crate::GgmlType;
use std::sync::Arc;

/// Multiply-accumulates below which a matmul stays on the calling thread (a pool wake-up
/// costs microseconds; a 512x512 mat-vec is ~10 us of scalar work).
const PAR_MIN_MACS: usize = 1 << 18;

/// The model file's bytes.
pub(crate) enum Bytes<'a> {
    Borrowed(&'a [u8]),
    Shared(Arc<dyn AsRef<[u8]> + Send + Sync>),
}

impl Bytes<'_> {
    pub fn get(&self) -> &[u8] {
        match self {
            Bytes::Borrowed(b) => b,
            Bytes::Shared(a) => (**a).as_ref(),
        }
    }
}

#[derive(Debug)]
enum MatData {
    /// Absolute byte range in the file.
    File { start: usize, len: usize },
    /// Owned bytes (f32 little-endian when dequantized at load).
    Owned(Box<[u8]>),
}

/// A weight matrix of `rows` rows of `cols` elements (ggml ne = [cols, rows]).
#[derive(Debug)]
pub(crate) struct Mat {
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    data: MatData,
}

impl Mat {
    pub fn bytes<'s>(&'s self, file: &'s [u8]) -> &'s [u8] {
        match &self.data {
            MatData::File { start, len } => &file[*start..*start + *len],
            MatData::Owned(b) => b,
        }
    }

    /// `out (n, rows) = x (n, cols) · Wᵀ` on the pool; activations are converted once to
    /// the weight type's `vec_dot_type` (8-bit blocks for quantized weights, as ggml does).
    /// Products too small to repay waking the pool run on the calling thread.
    pub fn matmul(&self, file: &[u8], pool: &ThreadPool, x: &[f32], n: usize, out: &mut [f32], acts: &mut QuantizedActs) {
        let x = &x[..n * self.cols];
        let out = &mut out[..n * self.rows];
        let w = self.bytes(file);
        if self.ty == GgmlType::F32 {
            // SAFETY: any bit pattern is an f32; `align_to` only hands out aligned elements.
            let (head, wf, _) = unsafe { w.align_to::<f32>() };
            if head.is_empty() && wf.len() >= self.rows * self.cols {
                return self.matmul_f32(pool, &wf[..self.rows * self.cols], x, n, out);
            }
        }
        if pool.n_threads() == 1 || n * self.rows * self.cols < PAR_MIN_MACS {
            acts.quantize_for(self.ty, x, self.cols);
            matmul_q(w, self.ty, self.rows, self.cols, acts, 0..self.rows, out);
        } else {
            matmul_par(pool, w, self.ty, self.rows, self.cols, x, out, acts);
        }
    }

    /// Where the matrix starts in the file (`None` for an owned, dequantized copy).
    pub fn file_start(&self) -> Option<usize> {
        match self.data {
            MatData::File { start, .. } => Some(start),
            MatData::Owned(_) => None,
        }
    }

    /// A matrix of type `ty` at byte `start` of the file.
    #[cfg(test)]
    pub fn in_file(ty: GgmlType, rows: usize, cols: usize, start: usize) -> Mat {
        Mat { ty, rows, cols, data: MatData::File { start, len: rows * crate::quant::row_bytes(ty, cols) } }
    }

    /// An f32 matrix that owns its values (`rows` rows of `cols`).
    #[cfg(test)]
    pub fn from_f32(rows: usize, cols: usize, v: &[f32]) -> Mat {
        let bytes: Vec<u8> = v[..rows * cols].iter().flat_map(|x| x.to_le_bytes()).collect();
        Mat { ty: GgmlType::F32, rows, cols, data: MatData::Owned(bytes.into_boxed_slice()) }
    }

    /// An f32 weight matrix times f32 activations in llama.cpp's rounding: one token through
    /// `ggml_vec_dot_f32` per row, a batch through tinyBLAS (`llamafile_sgemm`, from 2
    /// tokens), rows split over the pool. (The MoE router is such a matrix: an ulp there
    /// moves an expert's weight.)
    fn matmul_f32(&self, pool: &ThreadPool, w: &[f32], x: &[f32], n: usize, out: &mut [f32]) {
        let (rows, cols) = (self.rows, self.cols);
        let order = if n > 1 { Order::TinyBlas } else { Order::VecDot };
        let chunk = if rows * cols * n < PAR_MIN_MACS { rows } else { rows.div_ceil(4 * pool.n_threads()).max(16) };
        // One pool pass over row chunks, each task taking its rows for every token.
        struct Out(*mut f32);
        // SAFETY: tasks write disjoint elements (their own rows of each token).
        unsafe impl Sync for Out {}
        let o = Out(out.as_mut_ptr());
        pool.run(rows.div_ceil(chunk), |ci| {
            let (r0, r1) = (ci * chunk, ((ci + 1) * chunk).min(rows));
            let o = &o;
            for (t, xt) in x.chunks_exact(cols).enumerate() {
                // SAFETY: rows r0..r1 of token t lie inside `out` (n * rows) and belong to this
                // task alone; `out` stays borrowed until `run` returns.
                let part = unsafe { std::slice::from_raw_parts_mut(o.0.add(t * rows + r0), r1 - r0) };
                dot_rows(xt, &w[r0 * cols..], cols, part, order);
            }
        });
    }

    /// Dequantizes row `r` into `out` (`cols` floats): ggml get_rows.
    pub fn row(&self, file: &[u8], r: usize, out: &mut [f32]) {
        let rb = row_bytes(self.ty, self.cols);
        let t = traits(self.ty).expect("weight types have kernels");
        (t.dequantize_row)(&self.bytes(file)[r * rb..(r + 1) * rb], &mut out[..self.cols]);
    }
}

/// Binds tensors by name, checking shapes and kernel support.
pub(crate) struct Loader<'g, 'a> {
    pub f: &'g GgufFile<'a>,
    /// Dequantize every non-f32 matrix to f32 at load (reference path).
    pub dequantize: bool,
}

impl Loader<'_, '_> {
    fn info(&self, name: &str) -> Option<&TensorInfo<'_>> {
        self.f.tensor(name)
    }

    fn bad(name: &str, reason: String) -> ModelError {
        ModelError::BadTensor { name: name.to_string(), reason }
    }

    /// A matrix with ne = [cols, rows]; `rows = None` accepts any row count.
    pub fn mat_opt(&self, name: &str, cols: usize, rows: Option<usize>) -> Result<Option<Mat>, ModelError> {
        let Some(t) = self.info(name) else { return Ok(None) };
        if t.dims.len() > 2 || t.ne(0) as usize != cols || rows.is_some_and(|r| r != t.ne(1) as usize) {
            let want = match rows {
                Some(r) => format!("[{cols}, {r}]"),
                None => format!("[{cols}, *]"),
            };
            return Err(Self::bad(name, format!("shape {:?}, expected {want}", t.dims)));
        }
        let Some(tr) = traits(t.ty) else {
            return Err(ModelError::UnsupportedType { name: name.to_string(), ty: t.ty });
        };
        let rows = t.ne(1) as usize;
        let start = (self.f.data_offset + t.offset) as usize;
        let len = t.size as usize;
        let data = if self.dequantize && t.ty != GgmlType::F32 {
            let src = self.f.tensor_data(t);
            let rb = row_bytes(t.ty, cols);
            let mut row = vec![0.0f32; cols];
            let mut bytes = Vec::with_capacity(rows * cols * 4);
            for r in 0..rows {
                (tr.dequantize_row)(&src[r * rb..(r + 1) * rb], &mut row);
                bytes.extend(row.iter().flat_map(|v| v.to_le_bytes()));
            }
            return Ok(Some(Mat { ty: GgmlType::F32, rows, cols, data: MatData::Owned(bytes.into()) }));
        } else {
            MatData::File { start, len }
        };
        Ok(Some(Mat { ty: t.ty, rows, cols, data }))
    }

    /// The `n` experts of a 3-D tensor with ne = [cols, rows, n], each a matrix of its own
    /// (a byte range of the file, or dequantized like [`Loader::mat_opt`]).
    pub fn experts(&self, name: &str, cols: usize, rows: usize, n: usize) -> Result<Vec<Mat>, ModelError> {
        let t = self.info(name).ok_or_else(|| ModelError::MissingTensor(name.to_string()))?;
        if t.dims.len() != 3 || t.ne(0) as usize != cols || t.ne(1) as usize != rows || t.ne(2) as usize != n {
            return Err(Self::bad(name, format!("shape {:?}, expected [{cols}, {rows}, {n}]", t.dims)));
        }
        let Some(tr) = traits(t.ty) else {
            return Err(ModelError::UnsupportedType { name: name.to_string(), ty: t.ty });
        };
        let rb = row_bytes(t.ty, cols);
        if (t.size as usize) < n * rows * rb {
            return Err(Self::bad(name, format!("{} bytes for {n} experts of {rows} rows of {rb} bytes", t.size)));
        }
        let start = (self.f.data_offset + t.offset) as usize;
        let src = self.f.tensor_data(t);
        let mut out = Vec::with_capacity(n);
        for e in 0..n {
            let at = e * rows * rb;
            let m = if self.dequantize && t.ty != GgmlType::F32 {
                let mut row = vec![0.0f32; cols];
                let mut bytes = Vec::with_capacity(rows * cols * 4);
                for r in 0..rows {
                    (tr.dequantize_row)(&src[at + r * rb..at + (r + 1) * rb], &mut row);
                    bytes.extend(row.iter().flat_map(|v| v.to_le_bytes()));
                }
                Mat { ty: GgmlType::F32, rows, cols, data: MatData::Owned(bytes.into()) }
            } else {
                Mat { ty: t.ty, rows, cols, data: MatData::File { start: start + at, len: rows * rb } }
            };
            out.push(m);
        }
        Ok(out)
    }

    pub fn mat(&self, name: &str, cols: usize, rows: Option<usize>) -> Result<Mat, ModelError> {
        self.mat_opt(name, cols, rows)?.ok_or_else(|| ModelError::MissingTensor(name.to_string()))
    }

    /// A 1-D tensor of `len` values, converted to f32 (norm weights, biases, rope factors).
    pub fn vec_opt(&self, name: &str, len: usize) -> Result<Option<Vec<f32>>, ModelError> {
        let Some(t) = self.info(name) else { return Ok(None) };
        if t.n_elements() as usize != len || t.dims.iter().skip(1).any(|&d| d != 1) {
            return Err(Self::bad(name, format!("shape {:?}, expected [{len}]", t.dims)));
        }
        let Some(tr) = traits(t.ty) else {
            return Err(ModelError::UnsupportedType { name: name.to_string(), ty: t.ty });
        };
        if len % tr.block_size != 0 {
            return Err(Self::bad(name, format!("{len} values is not a whole number of {} blocks", t.ty)));
        }
        let mut out = vec![0.0f32; len];
        (tr.dequantize_row)(self.f.tensor_data(t), &mut out);
        Ok(Some(out))
    }

    /// An optional 2-D table of `n` rows of `width` values (ne `[width, n]`: per-expert
    /// biases; or with unit dims between, RWKV's `[n_embd, 1, 1, 6]` lerps), as f32.
    pub fn rows_opt(&self, name: &str, width: usize, n: usize) -> Result<Option<Vec<f32>>, ModelError> {
        let Some(t) = self.info(name) else { return Ok(None) };
        if t.dims.first() != Some(&(width as u64)) || t.n_elements() as usize != width * n || t.dims.iter().skip(1).filter(|&&d| d != 1).count() > 1 {
            return Err(Self::bad(name, format!("shape {:?}, expected [{width}, {n}]", t.dims)));
        }
        let Some(tr) = traits(t.ty) else {
            return Err(ModelError::UnsupportedType { name: name.to_string(), ty: t.ty });
        };
        if !width.is_multiple_of(tr.block_size) {
            return Err(Self::bad(name, format!("rows of {width} values are not whole {} blocks", t.ty)));
        }
        let mut out = vec![0.0f32; width * n];
        (tr.dequantize_row)(self.f.tensor_data(t), &mut out);
        Ok(Some(out))
    }

    pub fn vec(&self, name: &str, len: usize) -> Result<Vec<f32>, ModelError> {
        self.vec_opt(name, len)?.ok_or_else(|| ModelError::MissingTensor(name.to_string()))
    }

    /// A per-tensor `{1}` scale.
    pub fn scale_opt(&self, name: &str) -> Result<Option<f32>, ModelError> {
        Ok(self.vec_opt(name, 1)?.map(|v| v[0]))
    }
}

