//! Hostile-input tests for the GGUF reader.
//!
//! Every malformed file here is built byte by byte with the small GGUF writer below, so each
//! case says exactly which field is wrong, and the tests assert the specific [`GgufErrorKind`]
//! and the byte offset the reader reports. A truncation sweep cuts a valid file at every byte
//! boundary and predicts, for each cut, the error and offset from the writer's own record of
//! what the parser needs at that point. The last test parses every `.gguf` under the shared
//! fixtures and checks it against the fixtures' machine-readable expectations.

use llmplayer_core::gguf::{Array, GgufError, GgufErrorKind, GgufFile, Value, ValueType};
use llmplayer_core::GgmlType;
use std::panic::{catch_unwind, AssertUnwindSafe};

// =============================================================================================
// A GGUF writer
// =============================================================================================

/// GGUF metadata value type ids (gguf.h `gguf_type`).
mod ty {
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
fn min_size(t: u32) -> u64 {
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

fn is_fixed(t: u32) -> bool {
    t != ty::STR && t != ty::ARR
}

/// A metadata value to write.
#[derive(Clone, Debug)]
enum V {
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

fn s(x: &str) -> V {
    V::Str(x.as_bytes().to_vec())
}
fn strs(xs: &[&str]) -> V {
    V::Arr(ty::STR, xs.iter().map(|x| s(x)).collect())
}

impl V {
    fn type_id(&self) -> u32 {
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
enum Ex {
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
struct Req {
    need: usize,
    ex: Ex,
    at: usize,
}

/// Appends encoded fields and records each field's requirement.
#[derive(Default)]
struct Enc {
    b: Vec<u8>,
    reqs: Vec<Req>,
}

impl Enc {
    fn fixed(&mut self, bytes: &[u8]) {
        let at = self.b.len();
        self.b.extend_from_slice(bytes);
        self.reqs.push(Req { need: self.b.len(), ex: Ex::Truncated, at });
    }
    fn u32(&mut self, v: u32) {
        self.fixed(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.fixed(&v.to_le_bytes());
    }
    fn string(&mut self, bytes: &[u8]) {
        let at = self.b.len();
        self.u64(bytes.len() as u64);
        self.b.extend_from_slice(bytes);
        self.reqs.push(Req { need: self.b.len(), ex: Ex::StringTooLong, at });
    }
    /// A value's payload (its type tag is written by the caller).
    fn value(&mut self, v: &V) {
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
struct Tensor {
    name: Vec<u8>,
    dims: Vec<u64>,
    ty: u32,
    offset: u64,
}

#[derive(Clone, Debug)]
enum Kv {
    Kv(Vec<u8>, V),
    /// Raw bytes standing for one whole key/value entry.
    Raw(Vec<u8>),
}

/// Builds a GGUF file: header, metadata, tensor infos, padding, data.
#[derive(Clone, Debug)]
struct Gguf {
    magic: [u8; 4],
    version: u32,
    /// Declared counts when they should differ from the real ones.
    n_tensors: Option<u64>,
    n_kv: Option<u64>,
    kvs: Vec<Kv>,
    tensors: Vec<Tensor>,
    /// Tensor infos as raw bytes, written after `tensors` (hostile encodings).
    raw_infos: Vec<Vec<u8>>,
    /// Alignment used to lay the file out (padding and `put` offsets).
    align: usize,
    /// The data section.
    data: Vec<u8>,
}

/// A built file and what the writer knows about its layout.
struct Built {
    bytes: Vec<u8>,
    reqs: Vec<Req>,
    kv_at: Vec<usize>,
    info_at: Vec<usize>,
    data_offset: usize,
    /// Each `put` tensor's exact bytes, by name.
    expected_data: Vec<(String, Vec<u8>)>,
}

fn align_up(x: usize, a: usize) -> usize {
    x.div_ceil(a) * a
}

/// Deterministic, distinct content for the `i`th tensor.
fn pattern(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|k| (k.wrapping_mul(7) + i * 13 + 1) as u8).collect()
}

impl Gguf {
    fn new() -> Self {
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
    fn version(mut self, v: u32) -> Self {
        self.version = v;
        self
    }
    fn kv(mut self, key: &str, v: V) -> Self {
        self.kvs.push(Kv::Kv(key.as_bytes().to_vec(), v));
        self
    }
    fn kv_bytes(mut self, key: &[u8], v: V) -> Self {
        self.kvs.push(Kv::Kv(key.to_vec(), v));
        self
    }
    fn kv_raw(mut self, bytes: Vec<u8>) -> Self {
        self.kvs.push(Kv::Raw(bytes));
        self
    }
    /// Sets `general.alignment` and lays the file out with it. Call before `put`.
    fn alignment(mut self, a: u32) -> Self {
        self.align = a as usize;
        self.kv("general.alignment", V::U32(a))
    }
    /// A tensor info with an explicit offset (no data is added).
    fn tensor(mut self, name: &str, dims: &[u64], ty: u32, offset: u64) -> Self {
        self.tensors.push(Tensor { name: name.as_bytes().to_vec(), dims: dims.to_vec(), ty, offset });
        self
    }
    fn raw_info(mut self, bytes: Vec<u8>) -> Self {
        self.raw_infos.push(bytes);
        self
    }
    /// A tensor placed at the next aligned offset of the data section, with its exact bytes.
    fn put(mut self, name: &str, dims: &[u64], t: GgmlType) -> Self {
        let offset = align_up(self.data.len(), self.align);
        let size = tensor_size(t.id(), dims).expect("put: valid shape") as usize;
        self.data.resize(offset, 0);
        let i = self.tensors.len();
        self.data.extend(pattern(i, size));
        self.tensor(name, dims, t.id(), offset as u64)
    }
    /// Raw bytes appended to the data section.
    fn data(mut self, bytes: &[u8]) -> Self {
        self.data.extend_from_slice(bytes);
        self
    }
    fn n_tensors(mut self, n: u64) -> Self {
        self.n_tensors = Some(n);
        self
    }
    fn n_kv(mut self, n: u64) -> Self {
        self.n_kv = Some(n);
        self
    }

    fn build(&self) -> Built {
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

    fn bytes(&self) -> Vec<u8> {
        self.build().bytes
    }
}

/// Bytes of a tensor of type id `t` and shape `dims`, when both are valid.
fn tensor_size(t: u32, dims: &[u64]) -> Option<u64> {
    let ty = GgmlType::from_id(t)?;
    let n = dims.iter().try_fold(1u64, |n, &d| n.checked_mul(d))?;
    ty.bytes_for(n)
}

fn le32(v: u32) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}
fn le64(v: u64) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}
fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

// =============================================================================================
// Parsing helpers
// =============================================================================================

/// Parses without letting a panic escape, so a sweep can say which input panicked.
fn try_parse(bytes: &[u8]) -> Result<Result<GgufFile<'_>, GgufError>, String> {
    catch_unwind(AssertUnwindSafe(|| GgufFile::parse(bytes))).map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

fn parse_ok(bytes: &[u8]) -> GgufFile<'_> {
    match try_parse(bytes) {
        Ok(Ok(f)) => {
            touch_everything(&f);
            f
        }
        Ok(Err(e)) => panic!("expected a valid file, got {e}"),
        Err(p) => panic!("parser panicked on a valid file: {p}"),
    }
}

fn parse_err(bytes: &[u8]) -> GgufError {
    match try_parse(bytes) {
        Ok(Ok(_)) => panic!("expected an error, the file parsed"),
        Ok(Err(e)) => {
            // The error is usable: it has a code, formats, and points inside the file.
            assert!(!e.code().is_empty());
            assert!(!e.to_string().is_empty());
            assert!(e.offset <= bytes.len() as u64, "offset {} past the end ({} bytes): {e}", e.offset, bytes.len());
            e
        }
        Err(p) => panic!("parser panicked: {p}"),
    }
}

/// Asserts the exact error kind and offset.
#[track_caller]
fn assert_err(bytes: &[u8], kind: GgufErrorKind, offset: usize) {
    let e = parse_err(bytes);
    assert_eq!(e.kind, kind, "error kind ({e})");
    assert_eq!(e.offset, offset as u64, "error offset ({e})");
}

/// Asserts the error matches `pat` (for kinds whose payload is free text) and the offset.
macro_rules! assert_err_matches {
    ($bytes:expr, $pat:pat $(if $guard:expr)?, $offset:expr) => {{
        let e = parse_err(&$bytes);
        assert!(matches!(e.kind, $pat $(if $guard)?), "expected {}, got {:?} ({e})", stringify!($pat), e.kind);
        assert_eq!(e.offset, $offset as u64, "error offset ({e})");
        e
    }};
}

/// Calls every accessor on every key, value and tensor, checking the invariants that hold for
/// any file the parser accepted.
fn touch_everything(f: &GgufFile<'_>) {
    assert!(f.version == 2 || f.version == 3);
    assert!(f.alignment.is_power_of_two());
    for (k, v) in &f.metadata {
        // The lookup finds this very entry (compared by address: NaN != NaN).
        assert!(f.get(k).is_some_and(|g| std::ptr::eq(g, v)), "lookup of {k:?}");
        let _ = (f.get_str(k), f.get_u64(k), f.get_u32(k), f.get_f32(k), f.get_bool(k));
        touch_value(v, 0);
    }
    let _ = f.architecture();
    for suffix in [".context_length", ".embedding_length", ".block_count", ".vocab_size"] {
        let _ = f.get_arch(suffix);
    }
    let len = f.bytes().len() as u64;
    for t in &f.tensors {
        assert_eq!(f.tensor(t.name), Some(t), "lookup of tensor {:?}", t.name);
        assert!(t.dims.len() <= 4);
        let data = f.tensor_data(t);
        assert_eq!(data.len() as u64, t.size);
        assert_eq!(t.ty.bytes_for(t.n_elements()), Some(t.size));
        assert_eq!(t.offset % f.alignment, 0);
        assert!(f.data_offset + t.offset + t.size <= len);
        let _ = (0..5).map(|i| t.ne(i)).product::<u64>();
    }
    if !f.tensors.is_empty() {
        assert_eq!(f.data_offset % f.alignment, 0);
    }
}

fn touch_value(v: &Value<'_>, depth: u32) {
    let _ =
        (v.value_type().name(), v.as_u64(), v.as_u32(), v.as_i64(), v.as_f64(), v.as_f32(), v.as_bool(), v.as_str());
    if let Some(a) = v.as_array() {
        touch_array(a, depth);
    }
}

fn touch_array(a: &Array<'_>, depth: u32) {
    // A parsed array always decodes to exactly its declared count.
    assert_eq!(a.iter().count(), a.len());
    assert_eq!(a.is_empty(), a.len() == 0);
    let _ = a.strings().count();
    if let Some(v) = a.to_f32_vec() {
        assert_eq!(v.len(), a.len());
    }
    if let Some(v) = a.to_i64_vec() {
        assert_eq!(v.len(), a.len());
    }
    if depth < 8 {
        for v in a.iter() {
            touch_value(&v, depth + 1);
        }
    }
}

fn ex_of(kind: &GgufErrorKind) -> Option<Ex> {
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
fn sweep_truncations(b: &Built) -> std::collections::BTreeSet<String> {
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

/// Sweeps `small_valid` files, which run out of bytes in every possible way.
fn sweep_small_valid(version: u32, align: Option<u32>) {
    let seen = sweep_truncations(&small_valid(version, align).build());
    for ex in ["Truncated", "StringTooLong", "ArrayTooLong", "TooManyKeys", "TensorOutOfBounds"] {
        assert!(seen.contains(ex), "sweep never produced {ex}: {seen:?}");
    }
}

/// A small valid file touching every section: all header fields, scalar, string, fixed and
/// variable arrays, a nested array, three tensors of different types, and data ending at EOF.
fn small_valid(version: u32, align: Option<u32>) -> Gguf {
    let mut g = Gguf::new().version(version).kv("general.architecture", s("llama"));
    if let Some(a) = align {
        g = g.alignment(a);
    }
    g.kv("llama.block_count", V::U32(2))
        .kv("llama.rope.freq_base", V::F32(10000.0))
        .kv("tokenizer.ggml.tokens", strs(&["<s>", "", "a", "bc"]))
        .kv("tokenizer.ggml.scores", V::Arr(ty::F32, vec![V::F32(0.0), V::F32(-1.0), V::F32(-2.0), V::F32(-3.5)]))
        .kv("nested", V::Arr(ty::ARR, vec![strs(&["x"]), V::Arr(ty::U16, vec![V::U16(7)])]))
        .kv("flag", V::Bool(true))
        .put("token_embd.weight", &[4, 3], GgmlType::F32)
        .put("blk.0.attn_q.weight", &[32, 1], GgmlType::Q8_0)
        .put("blk.0.ffn_norm.weight", &[3], GgmlType::F16)
}

// =============================================================================================
// Truncation
// =============================================================================================

#[test]
fn truncation_at_every_byte_boundary_v3() {
    sweep_small_valid(3, None);
}

#[test]
fn truncation_at_every_byte_boundary_v2_custom_alignment() {
    sweep_small_valid(2, Some(64));
    sweep_small_valid(3, Some(1));
}

#[test]
fn truncation_of_a_metadata_only_file() {
    // No tensors: the file ends with the last value; every shorter prefix fails.
    let b = Gguf::new()
        .kv("general.name", s("n"))
        .kv("a", V::Arr(ty::ARR, vec![strs(&["p", "q"]), strs(&[])]))
        .kv("z", V::U64(9))
        .build();
    parse_ok(&b.bytes);
    for p in 0..b.bytes.len() {
        let e = parse_err(&b.bytes[..p]);
        let want = b.reqs.iter().find(|r| r.need > p).unwrap();
        assert_eq!((ex_of(&e.kind), e.offset), (Some(want.ex), want.at as u64), "prefix {p}: {e}");
    }
}

#[test]
fn empty_and_tiny_inputs() {
    let t = |needed, available| GgufErrorKind::Truncated { what: "magic", needed, available };
    assert_err(b"", t(4, 0), 0);
    assert_err(b"GGU", t(4, 3), 0);
    assert_err(b"GGUF\x03\x00", GgufErrorKind::Truncated { what: "version", needed: 4, available: 2 }, 4);
}

// =============================================================================================
// Header
// =============================================================================================

#[test]
fn bad_magic() {
    for magic in [*b"GGUG", *b"GGML", *b"FUGG", [0; 4], *b"gguf"] {
        let mut g = Gguf::new();
        g.magic = magic;
        assert_err(&g.bytes(), GgufErrorKind::BadMagic { found: magic }, 0);
    }
}

#[test]
fn unsupported_versions() {
    for v in [0, 1, 4, 5, u32::MAX] {
        assert_err(&Gguf::new().version(v).bytes(), GgufErrorKind::UnsupportedVersion(v), 4);
    }
    // A v1 file is rejected before its (u32) counts are misread as u64.
    let v1 = cat(&[b"GGUF", &le32(1), &le32(0), &le32(0)]);
    assert_err(&v1, GgufErrorKind::UnsupportedVersion(1), 4);
}

#[test]
fn huge_key_and_tensor_counts() {
    for n in [u64::MAX, 1 << 40, 1 << 63, u64::MAX / 13 + 1] {
        assert_err(&Gguf::new().n_kv(n).bytes(), GgufErrorKind::TooManyKeys(n), 16);
        assert_err(&Gguf::new().n_tensors(n).bytes(), GgufErrorKind::TooManyTensors(n), 8);
        // The key count is checked first.
        assert_err(&Gguf::new().n_kv(n).n_tensors(n).bytes(), GgufErrorKind::TooManyKeys(n), 16);
    }
    // One more key than the bytes could hold, and one more tensor.
    let g = Gguf::new().kv("k", V::U8(1)); // 13 bytes + 1 = 14 bytes of metadata
    assert_err(&g.clone().n_kv(2).bytes(), GgufErrorKind::TooManyKeys(2), 16);
    let g = Gguf::new().tensor("", &[], GgmlType::I8.id(), 0).data(&[0]); // 24-byte info
    parse_ok(&g.bytes());
    assert_err(&g.clone().n_tensors(2).bytes(), GgufErrorKind::TooManyTensors(2), 8);
}

#[test]
fn declared_counts_larger_than_entries_present() {
    // Plausible counts (they fit the file) that run past the real entries.
    let g = Gguf::new().kv("a", V::U64(1)).kv("b", V::U64(2)).kv("c", V::U64(3));
    let b = g.clone().n_kv(4).bytes();
    // The fourth "key" starts at the end of the file: its length field is missing.
    assert_err_matches!(b, GgufErrorKind::Truncated { what: "metadata key", .. }, b.len());
}

// =============================================================================================
// Metadata
// =============================================================================================

#[test]
fn string_length_2_pow_63() {
    let huge = 1u64 << 63;
    // As a key.
    let b = Gguf::new().kv_raw(cat(&[&le64(huge), &[0; 16]])).bytes();
    assert_err(&b, GgufErrorKind::StringTooLong { len: huge }, 24);
    // As a string value.
    let g = Gguf::new().kv("k", V::Raw(ty::STR, cat(&[&le64(huge), b"abcdefgh"])));
    let b = g.build();
    assert_err(&b.bytes, GgufErrorKind::StringTooLong { len: huge }, b.kv_at[0] + 8 + 1 + 4);
    // u64::MAX, and a length exactly one past the end.
    let g = Gguf::new().kv("k", V::Raw(ty::STR, cat(&[&le64(u64::MAX), b"x"])));
    assert_err(&g.bytes(), GgufErrorKind::StringTooLong { len: u64::MAX }, 24 + 8 + 1 + 4);
    let g = Gguf::new().kv("k", V::Raw(ty::STR, cat(&[&le64(4), b"xyz"])));
    assert_err(&g.bytes(), GgufErrorKind::StringTooLong { len: 4 }, 24 + 8 + 1 + 4);
    // A string that takes exactly the rest of the file is fine.
    let g = Gguf::new().kv("k", V::Raw(ty::STR, cat(&[&le64(3), b"xyz"])));
    assert_eq!(parse_ok(&g.bytes()).get_str("k"), Some("xyz"));
    // As a tensor name.
    let b = Gguf::new().raw_info(cat(&[&le64(huge), &[0; 32]])).build();
    assert_err(&b.bytes, GgufErrorKind::StringTooLong { len: huge }, b.info_at[0]);
}

#[test]
fn array_count_2_pow_40() {
    let n = 1u64 << 40;
    let arr = |elem: u32, count: u64| V::Raw(ty::ARR, cat(&[&le32(elem), &le64(count), &[0; 64]]));
    let count_at = 24 + 8 + 1 + 4 + 4; // header, key "k", value type, element type
    for (elem, min) in [(ty::U8, 1), (ty::U16, 2), (ty::F32, 4), (ty::F64, 8), (ty::STR, 8), (ty::ARR, 12)] {
        let b = Gguf::new().kv("k", arr(elem, n)).bytes();
        assert_err(&b, GgufErrorKind::ArrayTooLong { count: n, elem_bytes: min }, count_at);
        // count * size overflows u64.
        let b = Gguf::new().kv("k", arr(elem, u64::MAX)).bytes();
        assert_err(&b, GgufErrorKind::ArrayTooLong { count: u64::MAX, elem_bytes: min }, count_at);
    }
    // One element more than the bytes left (64 of them).
    let b = Gguf::new().kv("k", arr(ty::U64, 9)).bytes();
    assert_err(&b, GgufErrorKind::ArrayTooLong { count: 9, elem_bytes: 8 }, count_at);
    let b = Gguf::new().kv("k", arr(ty::U64, 8)).bytes();
    assert_eq!(parse_ok(&b).get_array("k").unwrap().len(), 8);
    // A nested array whose inner count is huge reports the inner count's offset.
    let inner = cat(&[&le32(ty::U8), &le64(n)]);
    let v = V::Raw(ty::ARR, cat(&[&le32(ty::ARR), &le64(1), &inner, &[0; 8]]));
    let b = Gguf::new().kv("k", v).bytes();
    assert_err(&b, GgufErrorKind::ArrayTooLong { count: n, elem_bytes: 1 }, count_at + 8 + 4);
}

#[test]
fn duplicate_keys() {
    let b = Gguf::new().kv("a", V::U32(1)).kv("b", V::U32(2)).kv("a", V::U32(3)).build();
    assert_err(&b.bytes, GgufErrorKind::DuplicateKey("a".into()), b.kv_at[2]);
    // Also when the types differ.
    let b = Gguf::new().kv("general.name", s("x")).kv("general.name", V::Bool(false)).build();
    assert_err(&b.bytes, GgufErrorKind::DuplicateKey("general.name".into()), b.kv_at[1]);
}

#[test]
fn unknown_metadata_value_types() {
    for id in [13, 99, u32::MAX] {
        let b = Gguf::new().kv("ok", V::U8(0)).kv("k", V::Raw(id, vec![0; 16])).build();
        assert_err(&b.bytes, GgufErrorKind::UnknownValueType(id), b.kv_at[1] + 8 + 1);
        // As an array's element type.
        let v = V::Raw(ty::ARR, cat(&[&le32(id), &le64(1), &[0; 16]]));
        let b = Gguf::new().kv("k", v).build();
        assert_err(&b.bytes, GgufErrorKind::UnknownValueType(id), b.kv_at[0] + 8 + 1 + 4);
    }
}

/// `depth` arrays nested inside each other around one u8.
fn nested(depth: usize) -> V {
    let mut v = V::Arr(ty::U8, vec![V::U8(42)]);
    for _ in 1..depth {
        v = V::Arr(ty::ARR, vec![v]);
    }
    v
}

#[test]
fn deep_nested_arrays() {
    // Four levels of arrays are accepted and decode.
    let f_bytes = Gguf::new().kv("k", nested(4)).bytes();
    let f = parse_ok(&f_bytes);
    let mut v = *f.get("k").unwrap();
    for _ in 0..3 {
        let a = *v.as_array().unwrap();
        assert_eq!((a.elem, a.len()), (ValueType::Array, 1));
        v = a.iter().next().unwrap();
    }
    assert_eq!(v.as_array().unwrap().iter().collect::<Vec<_>>(), [Value::U8(42)]);

    // The fifth level is rejected where it starts (its element-type field).
    for depth in [5, 6, 64] {
        let b = Gguf::new().kv("k", nested(depth)).build();
        let value_at = b.kv_at[0] + 8 + 1 + 4;
        let fifth = value_at + 4 * (4 + 8); // four array headers in
        assert_err(&b.bytes, GgufErrorKind::ArrayNestingTooDeep, fifth);
    }
    // A very deep declared nesting (each level an array with count 1) does not recurse unboundedly.
    let level = cat(&[&le32(ty::ARR), &le64(1)]);
    let b = Gguf::new().kv("k", V::Raw(ty::ARR, level.repeat(100_000))).build();
    assert_err(&b.bytes, GgufErrorKind::ArrayNestingTooDeep, b.kv_at[0] + 8 + 1 + 4 + 4 * 12);
}

#[test]
fn invalid_utf8_key_and_tensor_name() {
    let b = Gguf::new().kv("fine", V::U8(1)).kv_bytes(b"bad\xff\xfekey", V::U8(1)).build();
    assert_err(&b.bytes, GgufErrorKind::InvalidUtf8 { what: "metadata key" }, b.kv_at[1]);
    // An overlong encoding and a lone surrogate are invalid too.
    for key in [&b"\xc0\xaf"[..], b"\xed\xa0\x80"] {
        let b = Gguf::new().kv_bytes(key, V::U8(1)).build();
        assert_err(&b.bytes, GgufErrorKind::InvalidUtf8 { what: "metadata key" }, b.kv_at[0]);
    }
    let mut g = Gguf::new().put("ok", &[4], GgmlType::F32);
    g.tensors[0].name = b"t\x80".to_vec();
    let b = g.build();
    assert_err(&b.bytes, GgufErrorKind::InvalidUtf8 { what: "tensor name" }, b.info_at[0]);
    // String *values* are kept as bytes: the file parses and only `get_str` declines.
    let bytes = Gguf::new().kv("v", V::Str(b"\xff\xfe".to_vec())).bytes();
    let f = parse_ok(&bytes);
    assert_eq!(f.get("v"), Some(&Value::Str(b"\xff\xfe")));
    assert_eq!(f.get_str("v"), None);
}

// =============================================================================================
// Alignment
// =============================================================================================

#[test]
fn bad_alignment_values() {
    for a in [0u32, 3, 48, 100, u32::MAX] {
        let b = Gguf::new().kv("general.name", s("x")).kv("general.alignment", V::U32(a)).build();
        assert_err_matches!(b.bytes, GgufErrorKind::BadAlignment(_), b.kv_at[1]);
    }
    for v in [V::U64(32), V::I32(32), V::U16(32), s("32"), V::F32(32.0), V::Arr(ty::U32, vec![V::U32(32)])] {
        let b = Gguf::new().kv("general.alignment", v.clone()).kv("general.name", s("x")).build();
        let e = assert_err_matches!(b.bytes, GgufErrorKind::BadAlignment(_), b.kv_at[0]);
        assert!(e.to_string().contains("u32"), "{e}");
    }
}

#[test]
fn custom_alignment_is_honoured() {
    for a in [1u32, 2, 8, 32, 64, 128, 4096] {
        let g = Gguf::new()
            .kv("general.name", s("aligned"))
            .alignment(a)
            .put("a", &[3], GgmlType::F32)
            .put("b", &[5], GgmlType::I8)
            .put("c", &[32, 2], GgmlType::Q4_0);
        let b = g.build();
        let f = parse_ok(&b.bytes);
        assert_eq!(f.alignment, a as u64);
        assert_eq!(f.data_offset, b.data_offset as u64, "alignment {a}");
        assert_eq!(f.data_offset % a as u64, 0);
        for (name, bytes) in &b.expected_data {
            let t = f.tensor(name).unwrap();
            assert_eq!(t.offset % a as u64, 0);
            assert_eq!(f.tensor_data(t), &bytes[..], "alignment {a}, tensor {name}");
        }
    }
    // Offset 32 is aligned by default but not under general.alignment = 64.
    let base = Gguf::new().tensor("t", &[4], GgmlType::F32.id(), 32).data(&[1; 48]);
    parse_ok(&base.bytes());
    let mut g = Gguf::new().alignment(64).data(&[1; 48]);
    g.tensors = base.tensors.clone();
    let b = g.build();
    assert_err(
        &b.bytes,
        GgufErrorKind::MisalignedTensor { tensor: "t".into(), offset: 32, alignment: 64 },
        b.info_at[0],
    );
    // The largest u32 power of two is accepted (a file without tensors never pads to it).
    parse_ok(&Gguf::new().kv("general.alignment", V::U32(1 << 31)).bytes());
}

#[test]
fn default_alignment_is_32() {
    let b = Gguf::new().kv("general.name", s("x")).put("t", &[1], GgmlType::F32).build();
    let f = parse_ok(&b.bytes);
    assert_eq!(f.alignment, 32);
    assert_eq!(f.data_offset, align_up(b.bytes.len() - 4, 32) as u64);
    assert_eq!(f.data_offset, b.data_offset as u64);
}

// =============================================================================================
// Tensor infos
// =============================================================================================

#[test]
fn tensor_offset_past_the_end() {
    // 16 bytes of data, a 16-byte tensor at offset 32.
    let b = Gguf::new().tensor("t", &[4], GgmlType::F32.id(), 32).data(&[0; 16]).build();
    let kind = GgufErrorKind::TensorOutOfBounds { tensor: "t".into(), end: 48, data_len: 16 };
    assert_err(&b.bytes, kind, b.info_at[0]);
    // One byte short, then exactly enough.
    let b = Gguf::new().tensor("t", &[4], GgmlType::F32.id(), 32).data(&[0; 47]).build();
    let kind = GgufErrorKind::TensorOutOfBounds { tensor: "t".into(), end: 48, data_len: 47 };
    assert_err(&b.bytes, kind, b.info_at[0]);
    parse_ok(&Gguf::new().tensor("t", &[4], GgmlType::F32.id(), 32).data(&[0; 48]).bytes());
    // offset + size overflows u64.
    let off = u64::MAX - 31;
    let b = Gguf::new().put("ok", &[1], GgmlType::F32).tensor("t", &[64], GgmlType::F32.id(), off).build();
    let kind = GgufErrorKind::TensorOutOfBounds { tensor: "t".into(), end: u64::MAX, data_len: 4 };
    assert_err(&b.bytes, kind, b.info_at[1]);
    // A file that ends inside the padding after the header, before the data section starts.
    let b = Gguf::new().tensor("t", &[1], GgmlType::F32.id(), 0).data(&[0; 4]).build();
    let header_end = b.info_at[0] + 8 + 1 + 4 + 8 + 4 + 8;
    assert!(b.data_offset > header_end + 1);
    let kind = GgufErrorKind::TensorOutOfBounds { tensor: "t".into(), end: 4, data_len: 0 };
    assert_err(&b.bytes[..header_end + 1], kind, b.info_at[0]);
}

#[test]
fn misaligned_tensor_offset() {
    for off in [1u64, 4, 16, 31, 33] {
        let b =
            Gguf::new().put("a", &[8], GgmlType::F32).tensor("b", &[1], GgmlType::F32.id(), off).data(&[0; 64]).build();
        let kind = GgufErrorKind::MisalignedTensor { tensor: "b".into(), offset: off, alignment: 32 };
        assert_err(&b.bytes, kind, b.info_at[1]);
    }
}

#[test]
fn too_many_dims() {
    let b = Gguf::new().tensor("t", &[1, 1, 1, 1, 1], GgmlType::F32.id(), 0).data(&[0; 4]).build();
    assert_err(&b.bytes, GgufErrorKind::TooManyDims { tensor: "t".into(), n_dims: 5 }, b.info_at[0]);
    // A huge dimension count is rejected before any dimension is read.
    let info = cat(&[&le64(1), b"t", &le32(u32::MAX), &[0; 32]]);
    let b = Gguf::new().raw_info(info).build();
    assert_err(&b.bytes, GgufErrorKind::TooManyDims { tensor: "t".into(), n_dims: u32::MAX }, b.info_at[0]);
    // Four is the maximum, and zero dimensions is a scalar.
    let f_bytes = Gguf::new().put("four", &[2, 1, 3, 1], GgmlType::F32).put("scalar", &[], GgmlType::F32).bytes();
    let f = parse_ok(&f_bytes);
    assert_eq!(f.tensor("four").unwrap().n_elements(), 6);
    let sc = f.tensor("scalar").unwrap();
    assert_eq!((sc.dims.len(), sc.n_elements(), sc.size, sc.ne(0)), (0, 1, 4, 1));
}

#[test]
fn unknown_tensor_types() {
    // 4 and 5 are ggml's retired Q4_2/Q4_3; 31 and 36 are retired too.
    for id in [4u32, 5, 31, 36, 99, u32::MAX] {
        let b = Gguf::new().put("ok", &[1], GgmlType::F32).tensor("t", &[32], id, 32).data(&[0; 64]).build();
        let type_at = b.info_at[1] + 8 + 1 + 4 + 8;
        assert_err(&b.bytes, GgufErrorKind::UnknownTensorType { tensor: "t".into(), type_id: id }, type_at);
    }
}

#[test]
fn duplicate_tensor_names() {
    let b =
        Gguf::new().put("w", &[4], GgmlType::F32).put("v", &[4], GgmlType::F32).put("w", &[4], GgmlType::F32).build();
    assert_err(&b.bytes, GgufErrorKind::DuplicateTensor("w".into()), b.info_at[2]);
}

#[test]
fn overlapping_tensors() {
    let f32 = GgmlType::F32.id();
    // b starts inside a (a: 0..64, b: 32..96).
    let b = Gguf::new().tensor("a", &[16], f32, 0).tensor("b", &[16], f32, 32).data(&[0; 96]).build();
    let kind = GgufErrorKind::OverlappingTensors { first: "a".into(), second: "b".into() };
    assert_err(&b.bytes, kind.clone(), b.info_at[1]);
    // Same pair, listed in the other order: still named by offset, reported at the later info.
    let b = Gguf::new().tensor("b", &[16], f32, 32).tensor("a", &[16], f32, 0).data(&[0; 96]).build();
    assert_err(&b.bytes, kind, b.info_at[1]);
    // Identical offsets; one tensor inside another.
    let b = Gguf::new().tensor("a", &[8], f32, 0).tensor("b", &[8], f32, 0).data(&[0; 32]).build();
    assert_err_matches!(b.bytes, GgufErrorKind::OverlappingTensors { .. }, b.info_at[1]);
    let b = Gguf::new()
        .tensor("big", &[64], f32, 0)
        .tensor("x", &[1], f32, 64)
        .tensor("in", &[1], f32, 32)
        .data(&[0; 256])
        .build();
    let kind = GgufErrorKind::OverlappingTensors { first: "big".into(), second: "in".into() };
    assert_err(&b.bytes, kind, b.info_at[2]);
    // Adjacent tensors and empty tensors sharing an offset do not overlap.
    let bytes = Gguf::new()
        .tensor("a", &[8], f32, 0)
        .tensor("b", &[8], f32, 32)
        .tensor("e1", &[0, 4], f32, 32)
        .tensor("e2", &[4, 0], f32, 32)
        .data(&[0; 64])
        .bytes();
    let f = parse_ok(&bytes);
    assert_eq!(f.tensor("e1").unwrap().size, 0);
    assert!(f.tensor_data(f.tensor("e2").unwrap()).is_empty());
}

#[test]
fn shape_overflow_and_block_size() {
    let f32 = GgmlType::F32.id();
    let big = |dims: &[u64], t: u32| Gguf::new().tensor("t", dims, t, 0).data(&[0; 64]).build();
    let cases: &[(&[u64], u32)] = &[
        (&[1 << 32, 1 << 32], f32),       // product 2^64 overflows u64
        (&[1 << 62, 2], f32),             // 2^63 does not fit ggml's int64 ne
        (&[1 << 63], f32),                // one dimension past i64::MAX
        (&[u64::MAX, 0], f32),            // a dimension past i64::MAX even when the product is 0
        (&[1 << 62], f32),                // elements fit, bytes (2^64) do not
        (&[3, 5, 1 << 40, 1 << 30], f32), // overflow on the last multiply
        (&[16, 2], GgmlType::Q4_0.id()),  // 16 is not a multiple of 32
        (&[128], GgmlType::Q4_K.id()),    // nor 128 of 256
        (&[33], GgmlType::Q8_0.id()),
        (&[], GgmlType::Q8_0.id()),      // a scalar cannot be block-quantized
        (&[1, 32], GgmlType::Q8_0.id()), // the *first* dimension must be the multiple
    ];
    for &(dims, t) in cases {
        let b = big(dims, t);
        let e = assert_err_matches!(b.bytes, GgufErrorKind::BadShape { ref tensor, .. } if tensor == "t", b.info_at[0]);
        assert_eq!(e.code(), "bad_shape");
    }
    // The largest shapes that do fit are only limited by the data.
    let b = big(&[1 << 61], GgmlType::I8.id());
    assert_err_matches!(b.bytes, GgufErrorKind::TensorOutOfBounds { .. }, b.info_at[0]);
}

#[test]
fn many_scalar_tensors_are_not_too_many() {
    // 200 zero-dimension I8 tensors with alignment 1: each info is 24 bytes + a 3-byte name and
    // each datum 1 byte, less than 32 bytes per tensor. A valid file the count check must accept.
    let mut g = Gguf::new().alignment(1);
    for i in 0..200 {
        g = g.put(&format!("{i:03}"), &[], GgmlType::I8);
    }
    let b = g.build();
    assert!(b.bytes.len() < 24 + 200 * 32);
    let f = parse_ok(&b.bytes);
    assert_eq!(f.tensors.len(), 200);
    for (name, bytes) in &b.expected_data {
        assert_eq!(f.tensor_data(f.tensor(name).unwrap()), &bytes[..]);
    }
    sweep_truncations(&Gguf::new().alignment(1).put("a", &[], GgmlType::I8).put("b", &[], GgmlType::I8).build());
}

// =============================================================================================
// Valid files round-trip
// =============================================================================================

fn every_type(version: u32) -> Gguf {
    let arr = |t, xs: Vec<V>| V::Arr(t, xs);
    Gguf::new()
        .version(version)
        .kv("general.architecture", s("testarch"))
        .kv("testarch.context_length", V::U32(4096))
        .kv("t.u8", V::U8(200))
        .kv("t.i8", V::I8(-100))
        .kv("t.u16", V::U16(60000))
        .kv("t.i16", V::I16(-30000))
        .kv("t.u32", V::U32(4_000_000_000))
        .kv("t.i32", V::I32(-2_000_000_000))
        .kv("t.f32", V::F32(1.5))
        .kv("t.bool", V::Bool(true))
        .kv("t.false", V::Bool(false))
        .kv("t.str", s("héllo ✓"))
        .kv("t.empty", s(""))
        .kv("t.u64", V::U64(u64::MAX))
        .kv("t.i64", V::I64(i64::MIN))
        .kv("t.f64", V::F64(-2.25e300))
        .kv("a.u8", arr(ty::U8, vec![V::U8(1), V::U8(2), V::U8(255)]))
        .kv("a.i8", arr(ty::I8, vec![V::I8(-1), V::I8(0), V::I8(127)]))
        .kv("a.u16", arr(ty::U16, vec![V::U16(65535)]))
        .kv("a.i16", arr(ty::I16, vec![V::I16(-32768), V::I16(5)]))
        .kv("a.u32", arr(ty::U32, vec![V::U32(7), V::U32(u32::MAX)]))
        .kv("a.i32", arr(ty::I32, vec![V::I32(-5), V::I32(7)]))
        .kv("a.f32", arr(ty::F32, vec![V::F32(0.5), V::F32(-1.0), V::F32(3.25)]))
        .kv("a.bool", arr(ty::BOOL, vec![V::Bool(true), V::Bool(false), V::Bool(true)]))
        .kv("a.str", strs(&["a", "", "ünï", "▁x"]))
        .kv("a.u64", arr(ty::U64, vec![V::U64(0), V::U64(u64::MAX)]))
        .kv("a.i64", arr(ty::I64, vec![V::I64(i64::MIN), V::I64(42)]))
        .kv("a.f64", arr(ty::F64, vec![V::F64(1e-300), V::F64(2.5)]))
        .kv("a.empty", arr(ty::U32, vec![]))
        .kv("a.nested", arr(ty::ARR, vec![strs(&["x", "y"]), strs(&[]), strs(&["z"])]))
        .kv(
            "a.nested_nums",
            arr(ty::ARR, vec![arr(ty::I32, vec![V::I32(1), V::I32(2)]), arr(ty::F64, vec![V::F64(3.5)])]),
        )
        .kv("a.deep", nested(4))
        .put("tok", &[4, 3], GgmlType::F32)
        .put("q", &[64, 2], GgmlType::Q8_0)
        .put("k", &[256], GgmlType::Q4_K)
        .put("h", &[5], GgmlType::F16)
        .put("s", &[], GgmlType::I32)
}

fn check_every_type(version: u32) {
    let b = every_type(version).build();
    let f = parse_ok(&b.bytes);
    assert_eq!(f.version, version);

    // Metadata in file order.
    let keys: Vec<&str> = f.metadata.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys[..4], ["general.architecture", "testarch.context_length", "t.u8", "t.i8"]);
    assert_eq!(keys.len(), 32);
    assert_eq!(f.architecture(), Some("testarch"));
    assert_eq!(f.get_arch(".context_length").and_then(|v| v.as_u32()), Some(4096));
    assert_eq!(f.get("missing"), None);
    assert_eq!(f.get_u32("missing"), None);

    // Scalars, through typed getters (integers widen; out-of-range and wrong types give None).
    assert_eq!(f.get("t.u8"), Some(&Value::U8(200)));
    assert_eq!(f.get_u32("t.u8"), Some(200));
    assert_eq!(f.get("t.i8"), Some(&Value::I8(-100)));
    assert_eq!(f.get_u32("t.i8"), None);
    assert_eq!(f.get("t.i8").unwrap().as_i64(), Some(-100));
    assert_eq!(f.get_u32("t.u16"), Some(60000));
    assert_eq!(f.get("t.i16").unwrap().as_i64(), Some(-30000));
    assert_eq!(f.get_u32("t.u32"), Some(4_000_000_000));
    assert_eq!(f.get_u64("t.u32"), Some(4_000_000_000));
    assert_eq!(f.get("t.i32").unwrap().as_i64(), Some(-2_000_000_000));
    assert_eq!(f.get_u64("t.i32"), None);
    assert_eq!(f.get_f32("t.f32"), Some(1.5));
    assert_eq!(f.get_f32("t.u16"), Some(60000.0));
    assert_eq!(f.get_u32("t.f32"), None);
    assert_eq!(f.get_bool("t.bool"), Some(true));
    assert_eq!(f.get_bool("t.false"), Some(false));
    assert_eq!(f.get_bool("t.u8"), None);
    assert_eq!(f.get_str("t.str"), Some("héllo ✓"));
    assert_eq!(f.get_str("t.empty"), Some(""));
    assert_eq!(f.get_str("t.u8"), None);
    assert_eq!(f.get_u64("t.u64"), Some(u64::MAX));
    assert_eq!(f.get_u32("t.u64"), None);
    assert_eq!(f.get("t.i64").unwrap().as_i64(), Some(i64::MIN));
    assert_eq!(f.get("t.f64").unwrap().as_f64(), Some(-2.25e300));
    assert_eq!(f.get_f32("t.f64"), Some(f32::NEG_INFINITY)); // out of f32 range
    assert_eq!(f.get_array("t.str"), None);
    let types: Vec<ValueType> = keys[2..16].iter().map(|k| f.get(k).unwrap().value_type()).collect();
    use ValueType::*;
    assert_eq!(types, [U8, I8, U16, I16, U32, I32, F32, Bool, Bool, String, String, U64, I64, F64]);

    // Arrays of every element type.
    let a = |k: &str| *f.get_array(k).unwrap_or_else(|| panic!("{k} is an array"));
    let vals = |k: &str| a(k).iter().collect::<Vec<_>>();
    assert_eq!(vals("a.u8"), [Value::U8(1), Value::U8(2), Value::U8(255)]);
    assert_eq!(vals("a.i8"), [Value::I8(-1), Value::I8(0), Value::I8(127)]);
    assert_eq!(vals("a.u16"), [Value::U16(65535)]);
    assert_eq!(vals("a.i16"), [Value::I16(-32768), Value::I16(5)]);
    assert_eq!(vals("a.u32"), [Value::U32(7), Value::U32(u32::MAX)]);
    assert_eq!(vals("a.i32"), [Value::I32(-5), Value::I32(7)]);
    assert_eq!(vals("a.f32"), [Value::F32(0.5), Value::F32(-1.0), Value::F32(3.25)]);
    assert_eq!(vals("a.bool"), [Value::Bool(true), Value::Bool(false), Value::Bool(true)]);
    assert_eq!(vals("a.u64"), [Value::U64(0), Value::U64(u64::MAX)]);
    assert_eq!(vals("a.i64"), [Value::I64(i64::MIN), Value::I64(42)]);
    assert_eq!(vals("a.f64"), [Value::F64(1e-300), Value::F64(2.5)]);
    for (k, elem, len) in
        [("a.u8", U8, 3), ("a.f32", F32, 3), ("a.str", String, 4), ("a.empty", U32, 0), ("a.nested", Array, 3)]
    {
        assert_eq!((a(k).elem, a(k).len(), a(k).is_empty()), (elem, len, len == 0), "{k}");
    }
    assert_eq!(a("a.f32").to_f32_vec(), Some(vec![0.5, -1.0, 3.25]));
    assert_eq!(a("a.u8").to_f32_vec(), Some(vec![1.0, 2.0, 255.0]));
    assert_eq!(a("a.i16").to_f32_vec(), Some(vec![-32768.0, 5.0]));
    assert_eq!(a("a.f64").to_f32_vec(), Some(vec![0.0, 2.5]));
    assert_eq!(a("a.bool").to_f32_vec(), None);
    assert_eq!(a("a.str").to_f32_vec(), None);
    assert_eq!(a("a.empty").to_f32_vec(), Some(vec![]));
    assert_eq!(a("a.i32").to_i64_vec(), Some(vec![-5, 7]));
    assert_eq!(a("a.u32").to_i64_vec(), Some(vec![7, u32::MAX as i64]));
    assert_eq!(a("a.u64").to_i64_vec(), None); // u64::MAX is not an i64
    assert_eq!(a("a.f32").to_i64_vec(), None);
    let strings: Vec<&[u8]> = a("a.str").strings().collect();
    assert_eq!(strings, [&b"a"[..], b"", "ünï".as_bytes(), "▁x".as_bytes()]);
    assert_eq!(a("a.u8").strings().count(), 0);
    assert_eq!(a("a.empty").iter().next(), None);

    // Nested arrays.
    let inner: Vec<Vec<&[u8]>> = a("a.nested").iter().map(|v| v.as_array().unwrap().strings().collect()).collect();
    assert_eq!(inner, [vec![&b"x"[..], b"y"], vec![], vec![b"z"]]);
    assert_eq!(a("a.nested").strings().count(), 0);
    assert_eq!(a("a.nested").to_f32_vec(), None);
    let nums: Vec<Option<Vec<f32>>> = a("a.nested_nums").iter().map(|v| v.as_array().unwrap().to_f32_vec()).collect();
    assert_eq!(nums, [Some(vec![1.0, 2.0]), Some(vec![3.5])]);

    // Tensors: infos and the exact bytes.
    assert_eq!(f.tensors.len(), 5);
    let names: Vec<&str> = f.tensors.iter().map(|t| t.name).collect();
    assert_eq!(names, ["tok", "q", "k", "h", "s"]);
    let t = f.tensor("q").unwrap();
    assert_eq!((t.dims.as_slice(), t.ty, t.size, t.n_elements()), (&[64u64, 2][..], GgmlType::Q8_0, 4 * 34, 128));
    assert_eq!((t.ne(0), t.ne(1), t.ne(2), t.ne(3)), (64, 2, 1, 1));
    assert_eq!(f.tensor("k").unwrap().size, 144);
    assert_eq!(f.tensor("h").unwrap().size, 10);
    assert_eq!(f.tensor("nope"), None);
    assert_eq!(f.data_offset, b.data_offset as u64);
    for (name, bytes) in &b.expected_data {
        let t = f.tensor(name).unwrap();
        assert_eq!(f.tensor_data(t), &bytes[..], "{name}");
        assert_eq!(t.offset % 32, 0);
    }
    assert_eq!(f.bytes().len(), b.bytes.len());
}

#[test]
fn v3_every_value_type_round_trips() {
    check_every_type(3);
}

#[test]
fn v2_every_value_type_round_trips() {
    check_every_type(2);
}

#[test]
fn nan_values_are_kept() {
    // Found by the fuzzer (in its own harness, which compared values with `==`).
    let bytes = Gguf::new().kv("x", V::F64(f64::NAN)).kv("y", V::Arr(ty::F32, vec![V::F32(f32::NAN)])).bytes();
    let f = parse_ok(&bytes);
    assert!(f.get("x").and_then(|v| v.as_f64()).is_some_and(f64::is_nan));
    assert!(f.get_array("y").and_then(|a| a.to_f32_vec()).is_some_and(|v| v[0].is_nan()));
}

#[test]
fn minimal_files() {
    let f_bytes = Gguf::new().bytes();
    assert_eq!(f_bytes.len(), 24);
    let f = parse_ok(&f_bytes);
    assert!(f.metadata.is_empty() && f.tensors.is_empty());
    // Trailing bytes after the last tensor are allowed.
    let bytes = Gguf::new().put("t", &[2], GgmlType::F32).data(&[9; 100]).bytes();
    parse_ok(&bytes);
}

// =============================================================================================
// Cheap deterministic fuzzing
// =============================================================================================

#[test]
fn single_byte_mutations_never_panic() {
    let bytes = small_valid(3, Some(64)).bytes();
    let mut errors = std::collections::BTreeMap::<&str, usize>::new();
    for i in 0..bytes.len() {
        let orig = bytes[i];
        for v in [0x00, 0xff, 0x80, 0x7f, orig ^ 1, orig.wrapping_add(1), orig.wrapping_sub(1), orig ^ 0x40] {
            let mut m = bytes.clone();
            m[i] = v;
            match try_parse(&m) {
                Ok(Ok(f)) => touch_everything(&f),
                Ok(Err(e)) => {
                    assert!(e.offset <= m.len() as u64);
                    *errors.entry(e.code()).or_default() += 1;
                }
                Err(p) => panic!("byte {i} set to {v:#x}: parser panicked: {p}"),
            }
        }
    }
    assert!(errors.len() >= 8, "mutations reached only {errors:?}");
}

#[test]
fn random_inputs_never_panic() {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let seed = every_type(3).bytes();
    for _ in 0..20_000 {
        // Either a valid file with a few random bytes overwritten, or random bytes after a header.
        let mut m = if next() % 2 == 0 {
            seed.clone()
        } else {
            let len = (next() % 256) as usize;
            let mut v: Vec<u8> = cat(&[b"GGUF", &le32(2 + (next() % 2) as u32), &le64(next() % 4), &le64(next() % 8)]);
            v.extend((0..len).map(|_| next() as u8));
            v
        };
        for _ in 0..(next() % 4 + 1) {
            let i = (next() as usize) % m.len();
            m[i] = next() as u8;
        }
        match try_parse(&m) {
            Ok(Ok(f)) => touch_everything(&f),
            Ok(Err(e)) => assert!(e.offset <= m.len() as u64),
            Err(p) => panic!("parser panicked on {m:02x?}: {p}"),
        }
    }
}

/// Writes the valid files built here as fuzzing seeds when LLMPLAYER_FUZZ_SEEDS names a folder
/// (`scripts/fuzz-gguf.sh` does this); otherwise does nothing.
#[test]
fn write_fuzz_seeds() {
    let Some(dir) = std::env::var_os("LLMPLAYER_FUZZ_SEEDS") else { return };
    let dir = std::path::PathBuf::from(dir);
    std::fs::create_dir_all(&dir).unwrap();
    let seeds = [
        ("every-type-v3", every_type(3).bytes()),
        ("every-type-v2", every_type(2).bytes()),
        ("small-v3", small_valid(3, None).bytes()),
        ("small-align64", small_valid(2, Some(64)).bytes()),
        ("small-align1", small_valid(3, Some(1)).bytes()),
        ("nested4", Gguf::new().kv("k", nested(4)).bytes()),
        ("minimal", Gguf::new().bytes()),
    ];
    for (name, bytes) in seeds {
        std::fs::write(dir.join(format!("synthetic-{name}.gguf")), bytes).unwrap();
    }
}

// =============================================================================================
// Real files: every .gguf under the shared fixtures
// =============================================================================================

mod fixtures {
    use super::*;
    use serde_json::Value as Json;
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    fn root() -> Option<PathBuf> {
        let root = match std::env::var_os("LLMPLAYER_FIXTURES") {
            Some(p) => PathBuf::from(p),
            None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures"),
        };
        if root.is_dir() {
            return Some(root);
        }
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("fixtures root {} is missing (CI=true)", root.display());
        }
        eprintln!("SKIPPED: fixtures root {} not found (set LLMPLAYER_FIXTURES)", root.display());
        None
    }

    fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
        v.sort();
        v
    }

    fn read_json(path: &Path) -> Json {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn file_name(p: &Path) -> &str {
        p.file_name().unwrap().to_str().unwrap()
    }

    /// JSON value vs GGUF value, for the integers and booleans the fixtures record.
    fn same(j: &Json, v: Option<&Value<'_>>) -> bool {
        match (j, v) {
            (Json::Bool(b), Some(v)) => v.as_bool() == Some(*b),
            (Json::Number(n), Some(v)) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => v.as_i64() == Some(i),
                (None, Some(x)) => v.as_f64() == Some(x),
                _ => false,
            },
            (Json::String(s), Some(v)) => v.as_str() == Some(s.as_str()),
            (Json::Null, None) => true,
            _ => false,
        }
    }

    fn ju(j: &Json) -> u64 {
        j.as_u64().unwrap_or_else(|| panic!("{j} is not a u64"))
    }

    fn tokens<'a>(f: &GgufFile<'a>) -> Vec<&'a [u8]> {
        f.get_array("tokenizer.ggml.tokens").map(|a| a.strings().collect()).unwrap_or_default()
    }

    #[test]
    fn every_fixture_gguf_parses_and_matches_its_expectations() {
        let Some(root) = root() else { return };
        let mut parsed = 0;
        for dir in sorted_entries(&root).into_iter().filter(|p| p.is_dir()) {
            let ggufs: Vec<PathBuf> =
                sorted_entries(&dir).into_iter().filter(|p| p.extension().is_some_and(|e| e == "gguf")).collect();
            if ggufs.is_empty() {
                continue;
            }
            let folder = file_name(&dir).to_string();
            let mut checks = FolderChecks::new(&folder, &dir);
            for path in &ggufs {
                let bytes = std::fs::read(path).unwrap();
                let f = match try_parse(&bytes) {
                    Ok(Ok(f)) => f,
                    Ok(Err(e)) => panic!("{}: {e}", path.display()),
                    Err(p) => panic!("{}: parser panicked: {p}", path.display()),
                };
                check_generic(path, &f);
                checks.check(file_name(path), &f);
                parsed += 1;
            }
            checks.finish();
        }
        assert!(parsed > 0, "no .gguf files under {}", root.display());
        eprintln!("parsed {parsed} fixture files");
    }

    /// What holds for any well-formed file written by llama.cpp / gguf-py.
    fn check_generic(path: &Path, f: &GgufFile<'_>) {
        touch_everything(f);
        let len = f.bytes().len() as u64;
        if let Some(end) = f.tensors.iter().map(|t| t.offset + t.size).max() {
            // The writer pads the last tensor to the alignment and stops.
            let slack = len - (f.data_offset + end);
            assert!(slack < f.alignment, "{}: {slack} bytes after the last tensor", path.display());
        }
        for t in &f.tensors {
            assert!(!t.dims.is_empty(), "{}: {}", path.display(), t.name);
        }
    }

    /// Per-folder expectations, read from the folder's machine-readable files.
    enum FolderChecks {
        Vocab { index: Json, seen: Vec<String> },
        Models { manifest: Json, dir: PathBuf, seen: Vec<String> },
        Real { dir: PathBuf },
        Quants { seen: Vec<GgmlType> },
        Other,
    }

    impl FolderChecks {
        fn new(folder: &str, dir: &Path) -> Self {
            match folder {
                "vocab" => FolderChecks::Vocab { index: read_json(&dir.join("index.json")), seen: vec![] },
                "models" => FolderChecks::Models {
                    manifest: read_json(&dir.join("manifest.json")),
                    dir: dir.into(),
                    seen: vec![],
                },
                "real" => FolderChecks::Real { dir: dir.into() },
                "quants" => FolderChecks::Quants { seen: vec![] },
                _ => FolderChecks::Other,
            }
        }

        fn check(&mut self, name: &str, f: &GgufFile<'_>) {
            match self {
                FolderChecks::Vocab { index, seen } => {
                    let exp = &index["included"][name];
                    assert!(exp.is_object(), "vocab/{name} is not in index.json");
                    check_vocab(name, f, exp);
                    seen.push(name.into());
                }
                FolderChecks::Models { manifest, dir, seen } => {
                    let exp = &manifest["files"][name];
                    assert!(exp.is_object(), "models/{name} is not in manifest.json");
                    check_model(name, f, exp);
                    check_ref(
                        name,
                        f,
                        &read_json(&dir.join(format!("{name}.ref.json"))),
                        exp["hparams"].get("block_count_metadata"),
                    );
                    seen.push(name.into());
                }
                FolderChecks::Real { dir } => {
                    let stem = name.strip_suffix(".gguf").unwrap();
                    let r = dir.join(format!("{stem}.ref.json"));
                    if r.exists() {
                        check_ref(name, f, &read_json(&r), None);
                    }
                    if name == "stories260K.gguf" {
                        check_stories260k(f);
                    }
                }
                FolderChecks::Quants { seen } => seen.push(check_quant(name, f)),
                FolderChecks::Other => {}
            }
        }

        /// Every file the index lists was found by listing the folder.
        fn finish(self) {
            match self {
                FolderChecks::Vocab { index, seen } => {
                    let listed: Vec<&String> = index["included"].as_object().unwrap().keys().collect();
                    assert_eq!(listed.len(), seen.len(), "vocab: index.json lists {listed:?}, found {seen:?}");
                }
                FolderChecks::Models { manifest, seen, .. } => {
                    let listed: Vec<&String> = manifest["files"].as_object().unwrap().keys().collect();
                    assert_eq!(listed.len(), seen.len(), "models: manifest.json lists {listed:?}, found {seen:?}");
                }
                FolderChecks::Quants { mut seen } => {
                    let n = seen.len();
                    seen.sort();
                    seen.dedup();
                    assert_eq!(seen.len(), n, "quants: two files hold the same type");
                }
                _ => {}
            }
        }
    }

    const TOKEN_TYPES: [&str; 7] = ["?", "NORMAL", "UNKNOWN", "CONTROL", "USER_DEFINED", "UNUSED", "BYTE"];

    fn check_vocab(name: &str, f: &GgufFile<'_>, exp: &Json) {
        assert_eq!(f.bytes().len() as u64, ju(&exp["size_bytes"]), "{name}: size");
        assert!(f.tensors.is_empty(), "{name}: vocab-only");
        assert_eq!(f.get_str("tokenizer.ggml.model"), exp["tokenizer.ggml.model"].as_str(), "{name}: model");
        assert_eq!(f.get_str("tokenizer.ggml.pre"), exp["tokenizer.ggml.pre"].as_str(), "{name}: pre");
        let toks = tokens(f);
        assert_eq!(toks.len() as u64, ju(&exp["n_tokens"]), "{name}: vocab size");
        let n_merges = f.get_array("tokenizer.ggml.merges").map_or(0, |a| a.len() as u64);
        assert_eq!(n_merges, ju(&exp["n_merges"]), "{name}: merges");
        if let Some(m) = f.get_array("tokenizer.ggml.merges") {
            assert_eq!(m.strings().count(), m.len(), "{name}: merges are strings");
        }
        let scores = f.get_array("tokenizer.ggml.scores").and_then(|a| a.to_f32_vec());
        assert_eq!(scores.is_some(), exp["has_scores"].as_bool().unwrap(), "{name}: scores");
        if let Some(sc) = scores {
            assert_eq!(sc.len(), toks.len());
        }
        let types = f.get_array("tokenizer.ggml.token_type").unwrap().to_i64_vec().unwrap();
        assert_eq!(types.len(), toks.len());
        let mut counts = BTreeMap::<String, u64>::new();
        for t in types {
            *counts.entry(TOKEN_TYPES[t as usize].to_string()).or_default() += 1;
        }
        let want: BTreeMap<String, u64> =
            exp["token_type_counts"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), ju(v))).collect();
        assert_eq!(counts, want, "{name}: token types");
        for (key, v) in exp["gguf_tokenizer_kv"].as_object().unwrap() {
            assert!(same(v, f.get(key)), "{name}: {key} is {:?}, index.json says {v}", f.get(key));
        }
        for (what, st) in exp["special_token_ids"].as_object().unwrap() {
            let id = ju(&st["id"]) as usize;
            assert_eq!(toks[id], st["text"].as_str().unwrap().as_bytes(), "{name}: {what}");
        }
    }

    fn check_model(name: &str, f: &GgufFile<'_>, exp: &Json) {
        assert_eq!(f.bytes().len() as u64, ju(&exp["bytes"]), "{name}: size");
        assert_eq!(f.architecture(), exp["arch"].as_str(), "{name}: architecture");
        let mut counts = BTreeMap::<String, u64>::new();
        for t in &f.tensors {
            *counts.entry(t.ty.name().to_string()).or_default() += 1;
        }
        let want: BTreeMap<String, u64> =
            exp["tensor_types"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), ju(v))).collect();
        assert_eq!(counts, want, "{name}: tensor types");
        if let Some(map) = exp.get("tensor_type_map").and_then(|m| m.as_object()) {
            assert_eq!(map.len(), f.tensors.len(), "{name}: tensor_type_map covers every tensor");
            for (tname, tty) in map {
                let t = f.tensor(tname).unwrap_or_else(|| panic!("{name}: no tensor {tname}"));
                assert_eq!(t.ty.name(), tty.as_str().unwrap(), "{name}: {tname}");
            }
        }
        if let Some(checks) = exp.get("dequant_checks").and_then(|m| m.as_object()) {
            for (tname, c) in checks {
                let t = f.tensor(tname).unwrap_or_else(|| panic!("{name}: no tensor {tname}"));
                assert_eq!(t.ty.name(), c["type"].as_str().unwrap(), "{name}: {tname}");
                let ne: Vec<u64> = c["ne"].as_array().unwrap().iter().map(ju).collect();
                assert_eq!(t.dims, ne, "{name}: {tname} shape");
            }
        }
    }

    /// `*.ref.json`: what llama.cpp reported for the file.
    fn check_ref(name: &str, f: &GgufFile<'_>, r: &Json, block_count: Option<&Json>) {
        let arch = f.architecture().unwrap();
        assert_eq!(r["model_file"].as_str(), Some(name));
        assert_eq!(Some(arch), r["architecture"].as_str(), "{name}");
        let n = |suffix: &str| f.get_arch(suffix).and_then(|v| v.as_u64());
        assert_eq!(tokens(f).len() as u64, ju(&r["n_vocab"]), "{name}: n_vocab");
        assert_eq!(n(".embedding_length"), Some(ju(&r["n_embd"])), "{name}: n_embd");
        assert_eq!(n(".context_length"), Some(ju(&r["n_ctx_train"])), "{name}: n_ctx_train");
        // llama.cpp does not count glm4moe's next-token-prediction layer; the manifest records
        // the block count in the metadata for such files.
        let layers = block_count.map_or_else(|| ju(&r["n_layer"]), ju);
        assert_eq!(n(".block_count"), Some(layers), "{name}: n_layer");
        for (key, field) in
            [("bos_token_id", "bos_token_id"), ("eos_token_id", "eos_token_id"), ("add_bos_token", "add_bos")]
        {
            let v = f.get(&format!("tokenizer.ggml.{key}"));
            assert!(same(&r[field], v), "{name}: {key} is {v:?}, ref.json says {}", r[field]);
        }
        let params: u64 = f.tensors.iter().map(|t| t.n_elements()).sum();
        assert_eq!(params, ju(&r["n_params"]), "{name}: parameters");
    }

    /// real/README.md states what ref.json does not: heads, FFN width, rope, tokenizer.
    fn check_stories260k(f: &GgufFile<'_>) {
        let u = |k: &str| f.get_arch(k).and_then(|v| v.as_u64()).unwrap_or_else(|| panic!("llama{k}"));
        assert_eq!(f.architecture(), Some("llama"));
        // README: "embedding / layers / heads / kv heads | 64 / 5 / 8 / 4 (head dim 8, rope dims 8, freq base 10000)"
        let (n_embd, n_layer, n_head, n_kv) =
            (u(".embedding_length"), u(".block_count"), u(".attention.head_count"), u(".attention.head_count_kv"));
        assert_eq!((n_embd, n_layer, n_head, n_kv), (64, 5, 8, 4));
        assert_eq!(u(".rope.dimension_count"), 8);
        assert_eq!(f.get_arch(".rope.freq_base").and_then(|v| v.as_f32()), Some(10000.0));
        // README: "feed-forward | 172"
        let n_ff = u(".feed_forward_length");
        assert_eq!(n_ff, 172);
        // README: "512-token SentencePiece (tokenizer.ggml.model = llama), BOS 1, EOS 2, UNK 0"
        assert_eq!(f.get_str("tokenizer.ggml.model"), Some("llama"));
        assert_eq!(f.get_u32("tokenizer.ggml.unknown_token_id"), Some(0));
        let n_vocab = tokens(f).len() as u64;
        assert_eq!(n_vocab, 512);
        let hd = n_embd / n_head;
        let shape = |name: &str| f.tensor(name).unwrap_or_else(|| panic!("no tensor {name}")).dims.clone();
        let mut expected: Vec<(String, Vec<u64>)> =
            vec![("token_embd.weight".into(), vec![n_embd, n_vocab]), ("output_norm.weight".into(), vec![n_embd])];
        for i in 0..n_layer {
            for (t, dims) in [
                ("attn_norm", vec![n_embd]),
                ("attn_q", vec![n_embd, n_head * hd]),
                ("attn_k", vec![n_embd, n_kv * hd]),
                ("attn_v", vec![n_embd, n_kv * hd]),
                ("attn_output", vec![n_head * hd, n_embd]),
                ("ffn_norm", vec![n_embd]),
                ("ffn_gate", vec![n_embd, n_ff]),
                ("ffn_down", vec![n_ff, n_embd]),
                ("ffn_up", vec![n_embd, n_ff]),
            ] {
                expected.push((format!("blk.{i}.{t}.weight"), dims));
            }
        }
        // The README calls the output head tied, but the file carries an `output.weight`
        // (llama2.c export); when present it has the embedding's shape.
        if f.tensor("output.weight").is_some() {
            expected.push(("output.weight".into(), vec![n_embd, n_vocab]));
        }
        for (name, dims) in &expected {
            assert_eq!(&shape(name), dims, "stories260K: {name}");
            assert_eq!(f.tensor(name).unwrap().ty, GgmlType::F32, "README: all F32");
        }
        assert_eq!(f.tensors.len(), expected.len(), "stories260K: no unexpected tensors");
    }

    /// quants/: the file's own `fixture.*` keys say what its tensors must be.
    fn check_quant(name: &str, f: &GgufFile<'_>) -> GgmlType {
        let u = |k: &str| f.get_u64(k).unwrap_or_else(|| panic!("{name}: no {k}"));
        let (rows, cols, batch) = (u("fixture.rows"), u("fixture.cols"), u("fixture.batch"));
        let w = f.tensor("w").unwrap_or_else(|| panic!("{name}: no tensor w"));
        assert_eq!(w.ty.id() as u64, u("fixture.type_id"), "{name}: w's type is fixture.type_id");
        assert_eq!(w.dims, [cols, rows], "{name}: w");
        assert_eq!((cols, rows), (1024, 16), "quants/README.md: a 16 x 1024 matrix, ne = [1024, 16]");
        assert_eq!(Some(w.ty.name()), f.get_str("fixture.type"), "{name}");
        assert_eq!(w.ty.block_size() as u64, u("fixture.block_size"), "{name}");
        assert_eq!(w.ty.type_size() as u64, u("fixture.type_size"), "{name}");
        assert_eq!(w.size, rows * cols / u("fixture.block_size") * u("fixture.type_size"));
        let stem = name.strip_prefix("quant-").and_then(|n| n.strip_suffix(".gguf")).unwrap();
        assert_eq!(GgmlType::from_name(stem), Some(w.ty), "{name}: file name names the type");
        let dims = |t: &str| f.tensor(t).unwrap_or_else(|| panic!("{name}: no tensor {t}")).dims.clone();
        assert_eq!(dims("w_deq"), [cols, rows]);
        assert_eq!(f.tensor("w_deq").unwrap().ty, GgmlType::F32);
        assert_eq!(dims("x"), [cols]);
        assert_eq!(dims("xb"), [cols, batch]);
        for y in ["y_exact", "y_ggml"] {
            assert_eq!(dims(y), [rows], "{name}: {y}");
        }
        for y in ["yb_exact", "yb_ggml"] {
            assert_eq!(dims(y), [rows, batch], "{name}: {y}");
        }
        let vdt = u("fixture.vec_dot_type_id") as u32;
        assert_eq!(f.tensor("x_q").unwrap().ty.id(), vdt, "{name}: x_q");
        assert_eq!(f.tensor("xb_q").unwrap().ty.id(), vdt, "{name}: xb_q");
        assert_eq!(f.get_bool("fixture.imatrix").unwrap(), f.tensor("imatrix").is_some(), "{name}: imatrix");
        assert!(f.get("general.alignment").is_none() && f.alignment == 32, "quants/README.md: default alignment");
        w.ty
    }
}
