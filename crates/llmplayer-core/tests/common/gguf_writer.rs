//! A GGUF writer for tests: builds files byte by byte, so each hostile case says exactly which
//! field is wrong, and records what the parser needs at every point so a truncation sweep can
//! predict, for each cut, the error and offset.

#![allow(dead_code)]

use super::gguf_checks::{parse_ok, try_parse};
use llmplayer_core::gguf::GgufErrorKind;
use llmplayer_core::GgmlType;

/// GGUF metadata value type ids (gguf.h `gguf_type`).
pub mod ty {
    pub const U8: u32 = 0;
    pub const I8: u32 = 1;
    pub const U16: u32 = 2;
    pub const I16: u32 = 3;
    pub const U32: u32 = 4;
    pub const I32: u32 = 5;
    pub const F32: u32 = 6;
    pub const BOOL: u32 = 7;
    pub const STR: u32 = 8;
    pub const ARR: u32 = 9;
    pub const U64: u32 = 10;
    pub const I64: u32 = 11;
    pub const F64: u32 = 12;
}

/// Bytes per element of a fixed-size type; the smallest encoding of a string or array.
pub fn min_size(t: u32) -> u64 {
    match t {
        ty::U8 | ty::I8 | ty::BOOL => 1,
        ty::U16 | ty::I16 => 2,
        ty::U32 | ty::I32 | ty::F32 => 4,
        ty::U64 | ty::I64 | ty::F64 => 8,
        ty::STR => 8,
        ty::ARR => 12,
        _ => panic!("no size for type {t}"),
    }
}

pub fn is_fixed(t: u32) -> bool {
    t != ty::STR && t != ty::ARR
}

/// A metadata value to write.
#[derive(Clone, Debug)]
pub enum V {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    Str(Vec<u8>),
    /// Element type id and elements (which the writer encodes as given, without type tags).
    Arr(u32, Vec<V>),
    U64(u64),
    I64(i64),
    F64(f64),
    /// Any type id followed by raw payload bytes (hostile encodings).
    Raw(u32, Vec<u8>),
}

pub fn s(x: &str) -> V {
    V::Str(x.as_bytes().to_vec())
}
pub fn strs(xs: &[&str]) -> V {
    V::Arr(ty::STR, xs.iter().map(|x| s(x)).collect())
}

impl V {
    pub fn type_id(&self) -> u32 {
        match self {
            V::U8(_) => ty::U8,
            V::I8(_) => ty::I8,
            V::U16(_) => ty::U16,
            V::I16(_) => ty::I16,
            V::U32(_) => ty::U32,
            V::I32(_) => ty::I32,
            V::F32(_) => ty::F32,
            V::Bool(_) => ty::BOOL,
            V::Str(_) => ty::STR,
            V::Arr(..) => ty::ARR,
            V::U64(_) => ty::U64,
            V::I64(_) => ty::I64,
            V::F64(_) => ty::F64,
            V::Raw(t, _) => *t,
        }
    }
}

/// The error a prefix of the file must produce when it ends before `need` bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Ex {
    Truncated,
    StringTooLong,
    ArrayTooLong,
    TooManyKeys,
    TooManyTensors,
    TensorOutOfBounds,
}

/// One thing the parser requires, in the order it checks them: the file must be at least
/// `need` bytes long, or parsing fails with `ex` at byte `at`.
#[derive(Clone, Copy, Debug)]
pub struct Req {
    pub need: usize,
    pub ex: Ex,
    pub at: usize,
}

/// Appends encoded fields and records each field's requirement.
#[derive(Default)]
pub struct Enc {
    pub b: Vec<u8>,
    pub reqs: Vec<Req>,
}

impl Enc {
    pub fn fixed(&mut self, bytes: &[u8]) {
        let at = self.b.len();
        self.b.extend_from_slice(bytes);
        self.reqs.push(Req { need: self.b.len(), ex: Ex::Truncated, at });
    }
    pub fn u32(&mut self, v: u32) {
        self.fixed(&v.to_le_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.fixed(&v.to_le_bytes());
    }
    pub fn string(&mut self, bytes: &[u8]) {
        let at = self.b.len();
        self.u64(bytes.len() as u64);
        self.b.extend_from_slice(bytes);
        self.reqs.push(Req { need: self.b.len(), ex: Ex::StringTooLong, at });
    }
    /// A value's payload (its type tag is written by the caller).
    pub fn value(&mut self, v: &V) {
        match v {
            V::U8(x) => self.fixed(&x.to_le_bytes()),
            V::I8(x) => self.fixed(&x.to_le_bytes()),
            V::U16(x) => self.fixed(&x.to_le_bytes()),
            V::I16(x) => self.fixed(&x.to_le_bytes()),
            V::U32(x) => self.fixed(&x.to_le_bytes()),
            V::I32(x) => self.fixed(&x.to_le_bytes()),
            V::F32(x) => self.fixed(&x.to_le_bytes()),
            V::Bool(x) => self.fixed(&[*x as u8]),
            V::Str(x) => self.string(x),
            V::U64(x) => self.fixed(&x.to_le_bytes()),
            V::I64(x) => self.fixed(&x.to_le_bytes()),
            V::F64(x) => self.fixed(&x.to_le_bytes()),
            V::Raw(_, bytes) => self.b.extend_from_slice(bytes),
            V::Arr(elem, items) => {
                self.u32(*elem);
                let count_at = self.b.len();
                self.u64(items.len() as u64);
                let need = self.b.len() + items.len() * min_size(*elem) as usize;
                self.reqs.push(Req { need, ex: Ex::ArrayTooLong, at: count_at });
                let before = self.reqs.len();
                for it in items {
                    self.value(it);
                }
                // Fixed-size elements are taken in one piece once the count check passed.
                if is_fixed(*elem) {
                    self.reqs.truncate(before);
                }
            }
        }
    }
}

#[derive(Clone, Debug)]
pub struct Tensor {
    pub name: Vec<u8>,
    pub dims: Vec<u64>,
    pub ty: u32,
    pub offset: u64,
}

#[derive(Clone, Debug)]
pub enum Kv {
    Kv(Vec<u8>, V),
    /// Raw bytes standing for one whole key/value entry.
    Raw(Vec<u8>),
}

/// Builds a GGUF file: header, metadata, tensor infos, padding, data.
#[derive(Clone, Debug)]
pub struct Gguf {
    pub magic: [u8; 4],
    pub version: u32,
    /// Declared counts when they should differ from the real ones.
    pub n_tensors: Option<u64>,
    pub n_kv: Option<u64>,
    pub kvs: Vec<Kv>,
    pub tensors: Vec<Tensor>,
    /// Tensor infos as raw bytes, written after `tensors` (hostile encodings).
    pub raw_infos: Vec<Vec<u8>>,
    /// Alignment used to lay the file out (padding and `put` offsets).
    pub align: usize,
    /// The data section.
    pub data: Vec<u8>,
}

/// A built file and what the writer knows about its layout.
pub struct Built {
    pub bytes: Vec<u8>,
    pub reqs: Vec<Req>,
    pub kv_at: Vec<usize>,
    pub info_at: Vec<usize>,
    pub data_offset: usize,
    /// Each `put` tensor's exact bytes, by name.
    pub expected_data: Vec<(String, Vec<u8>)>,
}

pub fn align_up(x: usize, a: usize) -> usize {
    x.div_ceil(a) * a
}

/// Deterministic, distinct content for the `i`th tensor.
pub fn pattern(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|k| (k.wrapping_mul(7) + i * 13 + 1) as u8).collect()
}

impl Gguf {
    pub fn new() -> Self {
        Gguf {
            magic: *b"GGUF",
            version: 3,
            n_tensors: None,
            n_kv: None,
            kvs: vec![],
            tensors: vec![],
            raw_infos: vec![],
            align: 32,
            data: vec![],
        }
    }
    pub fn version(mut self, v: u32) -> Self {
        self.version = v;
        self
    }
    pub fn kv(mut self, key: &str, v: V) -> Self {
        self.kvs.push(Kv::Kv(key.as_bytes().to_vec(), v));
        self
    }
    pub fn kv_bytes(mut self, key: &[u8], v: V) -> Self {
        self.kvs.push(Kv::Kv(key.to_vec(), v));
        self
    }
    pub fn kv_raw(mut self, bytes: Vec<u8>) -> Self {
        self.kvs.push(Kv::Raw(bytes));
        self
    }
    /// Sets `general.alignment` and lays the file out with it. Call before `put`.
    pub fn alignment(mut self, a: u32) -> Self {
        self.align = a as usize;
        self.kv("general.alignment", V::U32(a))
    }
    /// A tensor info with an explicit offset (no data is added).
    pub fn tensor(mut self, name: &str, dims: &[u64], ty: u32, offset: u64) -> Self {
        self.tensors.push(Tensor { name: name.as_bytes().to_vec(), dims: dims.to_vec(), ty, offset });
        self
    }
    pub fn raw_info(mut self, bytes: Vec<u8>) -> Self {
        self.raw_infos.push(bytes);
        self
    }
    /// A tensor placed at the next aligned offset of the data section, with its exact bytes.
    pub fn put(mut self, name: &str, dims: &[u64], t: GgmlType) -> Self {
        let offset = align_up(self.data.len(), self.align);
        let size = tensor_size(t.id(), dims).expect("put: valid shape") as usize;
        self.data.resize(offset, 0);
        let i = self.tensors.len();
        self.data.extend(pattern(i, size));
        self.tensor(name, dims, t.id(), offset as u64)
    }
    /// Raw bytes appended to the data section.
    pub fn data(mut self, bytes: &[u8]) -> Self {
        self.data.extend_from_slice(bytes);
        self
    }
    pub fn n_tensors(mut self, n: u64) -> Self {
        self.n_tensors = Some(n);
        self
    }
    pub fn n_kv(mut self, n: u64) -> Self {
        self.n_kv = Some(n);
        self
    }

    pub fn build(&self) -> Built {
        let mut e = Enc::default();
        e.fixed(&self.magic);
        e.u32(self.version);
        let n_t = self.n_tensors.unwrap_or((self.tensors.len() + self.raw_infos.len()) as u64);
        let n_kv = self.n_kv.unwrap_or(self.kvs.len() as u64);
        e.u64(n_t);
        e.u64(n_kv);
        // The counts are bounded by the smallest possible entry sizes before anything is read:
        // a key/value is at least 8 (key length) + 4 (type) + 1 bytes, a tensor info at least
        // 8 (name length) + 4 (n_dims) + 4 (type) + 8 (offset) bytes.
        let bound = |n: u64, min: u64| (24u64.saturating_add(n.saturating_mul(min))).min(usize::MAX as u64) as usize;
        e.reqs.push(Req { need: bound(n_kv, 13), ex: Ex::TooManyKeys, at: 16 });
        e.reqs.push(Req { need: bound(n_t, 24), ex: Ex::TooManyTensors, at: 8 });

        let mut kv_at = vec![];
        for kv in &self.kvs {
            kv_at.push(e.b.len());
            match kv {
                Kv::Kv(key, v) => {
                    e.string(key);
                    e.u32(v.type_id());
                    e.value(v);
                }
                Kv::Raw(bytes) => e.b.extend_from_slice(bytes),
            }
        }
        let mut info_at = vec![];
        for t in &self.tensors {
            info_at.push(e.b.len());
            e.string(&t.name);
            e.u32(t.dims.len() as u32);
            for &d in &t.dims {
                e.u64(d);
            }
            e.u32(t.ty);
            e.u64(t.offset);
        }
        for raw in &self.raw_infos {
            info_at.push(e.b.len());
            e.b.extend_from_slice(raw);
        }
        let data_offset = align_up(e.b.len(), self.align);
        // Pad to the data section only when there is one (the vocab-only fixtures end right
        // after their metadata too).
        if !self.tensors.is_empty() || !self.raw_infos.is_empty() || !self.data.is_empty() {
            e.b.resize(data_offset, 0);
        }
        e.b.extend_from_slice(&self.data);
        for (t, &at) in self.tensors.iter().zip(&info_at) {
            if let Some(size) = tensor_size(t.ty, &t.dims) {
                let need = (data_offset as u64).saturating_add(t.offset).saturating_add(size);
                e.reqs.push(Req { need: need.min(usize::MAX as u64) as usize, ex: Ex::TensorOutOfBounds, at });
            }
        }
        let expected_data = self
            .tensors
            .iter()
            .filter_map(|t| {
                let size = tensor_size(t.ty, &t.dims)? as usize;
                let start = usize::try_from(t.offset).ok()?;
                let bytes = self.data.get(start..start.checked_add(size)?)?.to_vec();
                Some((String::from_utf8(t.name.clone()).ok()?, bytes))
            })
            .collect();
        Built { bytes: e.b, reqs: e.reqs, kv_at, info_at, data_offset, expected_data }
    }

    pub fn bytes(&self) -> Vec<u8> {
        self.build().bytes
    }
}

/// Bytes of a tensor of type id `t` and shape `dims`, when both are valid.
pub fn tensor_size(t: u32, dims: &[u64]) -> Option<u64> {
    let ty = GgmlType::from_id(t)?;
    let n = dims.iter().try_fold(1u64, |n, &d| n.checked_mul(d))?;
    ty.bytes_for(n)
}

pub fn le32(v: u32) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}
pub fn le64(v: u64) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}
pub fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

// =============================================================================================
// Truncation sweeps against the writer's record
// =============================================================================================

pub fn ex_of(kind: &GgufErrorKind) -> Option<Ex> {
    Some(match kind {
        GgufErrorKind::Truncated { .. } => Ex::Truncated,
        GgufErrorKind::StringTooLong { .. } => Ex::StringTooLong,
        GgufErrorKind::ArrayTooLong { .. } => Ex::ArrayTooLong,
        GgufErrorKind::TooManyKeys(_) => Ex::TooManyKeys,
        GgufErrorKind::TooManyTensors(_) => Ex::TooManyTensors,
        GgufErrorKind::TensorOutOfBounds { .. } => Ex::TensorOutOfBounds,
        _ => return None,
    })
}

/// Cuts the file at every byte boundary and checks each prefix fails with the error the
/// writer predicts: the first requirement (in parse order) the prefix does not meet.
/// Returns the kinds of error the sweep produced.
pub fn sweep_truncations(b: &Built) -> std::collections::BTreeSet<String> {
    let full = &b.bytes;
    assert_eq!(b.reqs.iter().map(|r| r.need).max(), Some(full.len()), "the data must end at EOF");
    parse_ok(full);
    let mut seen = std::collections::BTreeSet::new();
    for p in 0..full.len() {
        let prefix = &full[..p];
        let e = match try_parse(prefix) {
            Ok(Ok(_)) => panic!("prefix of {p} of {} bytes parsed", full.len()),
            Ok(Err(e)) => e,
            Err(msg) => panic!("parser panicked on the prefix of {p} bytes: {msg}"),
        };
        let want = b.reqs.iter().find(|r| r.need > p).expect("some requirement is unmet");
        let got = ex_of(&e.kind);
        assert_eq!(got, Some(want.ex), "prefix {p}: expected {:?} at {}, got {e}", want.ex, want.at);
        assert_eq!(e.offset, want.at as u64, "prefix {p}: offset of {e}");
        match e.kind {
            GgufErrorKind::Truncated { needed, available, .. } => {
                assert_eq!(needed, (want.need - want.at) as u64, "prefix {p}: {e}");
                assert_eq!(available, (p - want.at) as u64, "prefix {p}: {e}");
            }
            GgufErrorKind::StringTooLong { len } => assert_eq!(len, (want.need - want.at - 8) as u64, "prefix {p}"),
            GgufErrorKind::TensorOutOfBounds { end, data_len, .. } => {
                assert!(end > data_len || b.data_offset > p, "prefix {p}: {e}");
                assert_eq!(data_len, p.saturating_sub(b.data_offset) as u64, "prefix {p}: {e}");
            }
            _ => {}
        }
        seen.insert(format!("{:?}", want.ex));
    }
    seen
}
