//! GGUF v2/v3 reader over borrowed bytes.
//!
//! The file is treated as hostile: every count and length is bounded by the bytes left
//! before anything is allocated, all offset arithmetic is checked, and every failure is
//! a [`GgufError`] naming the problem and the byte offset. Tensor data is never copied.

mod cursor;
mod error;
pub mod keys;
mod value;

pub use error::{GgufError, GgufErrorKind};
pub use value::{Array, ArrayIter, Value, ValueType};

use crate::ggml_type::GgmlType;
use cursor::Cursor;
use std::collections::HashMap;

pub const GGUF_MAGIC: [u8; 4] = *b"GGUF";
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// ggml tensors have at most four dimensions.
pub const MAX_DIMS: usize = 4;

/// One tensor's header entry.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo<'a> {
    pub name: &'a str,
    /// Dimensions in ggml order: `dims[0]` is the contiguous (innermost) one.
    pub dims: Vec<u64>,
    pub ty: GgmlType,
    /// Offset of the data relative to the start of the data section.
    pub offset: u64,
    /// Size of the data in bytes.
    pub size: u64,
}

impl TensorInfo<'_> {
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }
    /// `dims[i]`, or 1 past the last dimension (ggml's `ne` convention).
    pub fn ne(&self, i: usize) -> u64 {
        self.dims.get(i).copied().unwrap_or(1)
    }
}

/// A parsed GGUF file borrowing `bytes`.
#[derive(Debug)]
pub struct GgufFile<'a> {
    pub version: u32,
    pub alignment: u64,
    /// Metadata in file order.
    pub metadata: Vec<(&'a str, Value<'a>)>,
    pub tensors: Vec<TensorInfo<'a>>,
    /// Absolute offset of the data section.
    pub data_offset: u64,
    key_index: HashMap<&'a str, usize>,
    tensor_index: HashMap<&'a str, usize>,
    bytes: &'a [u8],
}

impl<'a> GgufFile<'a> {
    /// Parses and validates the header, metadata and tensor infos of `bytes`.
    pub fn parse(bytes: &'a [u8]) -> Result<GgufFile<'a>, GgufError> {
        let mut c = Cursor::new(bytes);
        let magic = c.array::<4>("magic")?;
        if magic != GGUF_MAGIC {
            return Err(GgufError::at(0, GgufErrorKind::BadMagic { found: magic }));
        }
        let version = c.u32("version")?;
        if version != 2 && version != 3 {
            return Err(GgufError::at(4, GgufErrorKind::UnsupportedVersion(version)));
        }
        let n_tensors_at = c.pos();
        let n_tensors = c.u64("tensor count")?;
        let n_kv_at = c.pos();
        let n_kv = c.u64("metadata key count")?;
        // A key is at least 8 (length) + 4 (type) + 1 (smallest value) bytes; a tensor
        // info at least 8 (name length) + 4 (n_dims, may be 0) + 4 (type) + 8 (offset).
        // Counts that cannot fit are rejected up front.
        if n_kv.checked_mul(13).map_or(true, |b| b > c.remaining()) {
            return Err(GgufError::at(n_kv_at, GgufErrorKind::TooManyKeys(n_kv)));
        }
        if n_tensors.checked_mul(24).map_or(true, |b| b > c.remaining()) {
            return Err(GgufError::at(n_tensors_at, GgufErrorKind::TooManyTensors(n_tensors)));
        }

        let mut metadata = Vec::with_capacity(n_kv as usize);
        let mut key_index = HashMap::with_capacity(n_kv as usize);
        let mut alignment_at = 0;
        for _ in 0..n_kv {
            let key_at = c.pos();
            let key = c.string("metadata key")?;
            let ty = value::read_value_type(&mut c)?;
            let v = value::read_value(&mut c, ty, 0)?;
            if key_index.insert(key, metadata.len()).is_some() {
                return Err(GgufError::at(key_at, GgufErrorKind::DuplicateKey(key.to_string())));
            }
            if key == keys::GENERAL_ALIGNMENT {
                alignment_at = key_at;
            }
            metadata.push((key, v));
        }

        let alignment = match key_index.get(keys::GENERAL_ALIGNMENT).map(|&i| metadata[i].1) {
            None => DEFAULT_ALIGNMENT,
            Some(Value::U32(a)) if a != 0 && a.is_power_of_two() => a as u64,
            Some(Value::U32(a)) => {
                return Err(GgufError::at(alignment_at, GgufErrorKind::BadAlignment(format!("{a} is not a power of two"))))
            }
            Some(v) => {
                let t = v.value_type().name();
                return Err(GgufError::at(alignment_at, GgufErrorKind::BadAlignment(format!("type {t}, expected u32"))));
            }
        };

        let mut tensors: Vec<TensorInfo<'a>> = Vec::with_capacity(n_tensors as usize);
        let mut tensor_index = HashMap::with_capacity(n_tensors as usize);
        let mut info_at = Vec::with_capacity(n_tensors as usize);
        for _ in 0..n_tensors {
            let at = c.pos();
            let t = read_tensor_info(&mut c, alignment)?;
            if tensor_index.insert(t.name, tensors.len()).is_some() {
                return Err(GgufError::at(at, GgufErrorKind::DuplicateTensor(t.name.to_string())));
            }
            info_at.push(at);
            tensors.push(t);
        }

        let header_end = c.pos();
        let data_offset = align_up(header_end, alignment);
        let data_len = (bytes.len() as u64).saturating_sub(data_offset);
        for (t, &at) in tensors.iter().zip(&info_at) {
            let end = t.offset.checked_add(t.size).unwrap_or(u64::MAX);
            if data_offset > bytes.len() as u64 || end > data_len {
                let kind = GgufErrorKind::TensorOutOfBounds { tensor: t.name.to_string(), end, data_len };
                return Err(GgufError::at(at, kind));
            }
        }
        check_overlaps(&tensors, &info_at)?;

        Ok(GgufFile { version, alignment, metadata, tensors, data_offset, key_index, tensor_index, bytes })
    }

    /// The metadata value under `key`.
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        self.key_index.get(key).map(|&i| &self.metadata[i].1)
    }
    pub fn get_str(&self, key: &str) -> Option<&'a str> {
        self.get(key).and_then(|v| v.as_str())
    }
    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get(key).and_then(|v| v.as_u64())
    }
    pub fn get_u32(&self, key: &str) -> Option<u32> {
        self.get(key).and_then(|v| v.as_u32())
    }
    pub fn get_f32(&self, key: &str) -> Option<f32> {
        self.get(key).and_then(|v| v.as_f32())
    }
    pub fn get_bool(&self, key: &str) -> Option<bool> {
        self.get(key).and_then(|v| v.as_bool())
    }
    pub fn get_array(&self, key: &str) -> Option<&Array<'a>> {
        self.get(key).and_then(|v| v.as_array())
    }

    /// `general.architecture`, the prefix of the architecture's own keys.
    pub fn architecture(&self) -> Option<&'a str> {
        self.get_str(keys::GENERAL_ARCHITECTURE)
    }

    /// An architecture-scoped value: `arch_key(".context_length")` reads `<arch>.context_length`.
    pub fn get_arch(&self, suffix: &str) -> Option<&Value<'a>> {
        let arch = self.architecture()?;
        let mut key = String::with_capacity(arch.len() + suffix.len());
        key.push_str(arch);
        key.push_str(suffix);
        self.get(&key)
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorInfo<'a>> {
        self.tensor_index.get(name).map(|&i| &self.tensors[i])
    }

    /// The tensor's bytes, borrowed from the file (bounds were checked at parse time).
    pub fn tensor_data(&self, t: &TensorInfo<'_>) -> &'a [u8] {
        let start = (self.data_offset + t.offset) as usize;
        &self.bytes[start..start + t.size as usize]
    }

    /// The whole file.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

fn align_up(x: u64, a: u64) -> u64 {
    // `a` is a power of two no larger than u32::MAX and x is at most a file length.
    x.div_ceil(a) * a
}

fn read_tensor_info<'a>(c: &mut Cursor<'a>, alignment: u64) -> Result<TensorInfo<'a>, GgufError> {
    let at = c.pos();
    let name = c.string("tensor name")?;
    let n_dims = c.u32("tensor dimension count")?;
    if n_dims as usize > MAX_DIMS {
        return Err(GgufError::at(at, GgufErrorKind::TooManyDims { tensor: name.to_string(), n_dims }));
    }
    let mut dims = Vec::with_capacity(n_dims as usize);
    for _ in 0..n_dims {
        dims.push(c.u64("tensor dimension")?);
    }
    let type_at = c.pos();
    let type_id = c.u32("tensor type")?;
    let ty = GgmlType::from_id(type_id).ok_or_else(|| {
        GgufError::at(type_at, GgufErrorKind::UnknownTensorType { tensor: name.to_string(), type_id })
    })?;
    let offset = c.u64("tensor data offset")?;

    let bad_shape = |reason: String| GgufError::at(at, GgufErrorKind::BadShape { tensor: name.to_string(), reason });
    // ggml stores ne as int64: each dimension and the element count must fit.
    let mut n: u64 = 1;
    for &d in &dims {
        if d > i64::MAX as u64 {
            return Err(bad_shape(format!("dimension {d} is too large")));
        }
        n = n.checked_mul(d).filter(|&n| n <= i64::MAX as u64).ok_or_else(|| bad_shape("element count overflows".into()))?;
    }
    let blk = ty.block_size() as u64;
    if dims.first().copied().unwrap_or(1) % blk != 0 {
        return Err(bad_shape(format!("first dimension is not a multiple of {ty}'s block size {blk}")));
    }
    let size = ty.bytes_for(n).ok_or_else(|| bad_shape("byte size overflows".into()))?;
    if offset % alignment != 0 {
        let kind = GgufErrorKind::MisalignedTensor { tensor: name.to_string(), offset, alignment };
        return Err(GgufError::at(at, kind));
    }
    Ok(TensorInfo { name, dims, ty, offset, size })
}

fn check_overlaps(tensors: &[TensorInfo<'_>], info_at: &[u64]) -> Result<(), GgufError> {
    let mut order: Vec<usize> = (0..tensors.len()).filter(|&i| tensors[i].size > 0).collect();
    order.sort_by_key(|&i| tensors[i].offset);
    for w in order.windows(2) {
        let (a, b) = (&tensors[w[0]], &tensors[w[1]]);
        if a.offset + a.size > b.offset {
            let later = w[0].max(w[1]);
            let kind = GgufErrorKind::OverlappingTensors { first: a.name.to_string(), second: b.name.to_string() };
            return Err(GgufError::at(info_at[later], kind));
        }
    }
    Ok(())
}
