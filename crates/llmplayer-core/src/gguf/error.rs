//! Typed errors for GGUF parsing. Every error names what is wrong and the byte offset.

use std::fmt;

/// What went wrong while reading a GGUF file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GgufErrorKind {
    /// The file ends before a field that must be there (`needed` bytes, `available` left).
    Truncated { what: &'static str, needed: u64, available: u64 },
    BadMagic { found: [u8; 4] },
    UnsupportedVersion(u32),
    /// A string's declared length exceeds the bytes left in the file.
    StringTooLong { len: u64 },
    InvalidUtf8 { what: &'static str },
    /// An array's declared count cannot fit in the bytes left in the file.
    ArrayTooLong { count: u64, elem_bytes: u64 },
    ArrayNestingTooDeep,
    UnknownValueType(u32),
    TooManyKeys(u64),
    TooManyTensors(u64),
    DuplicateKey(String),
    DuplicateTensor(String),
    BadAlignment(String),
    TooManyDims { tensor: String, n_dims: u32 },
    BadShape { tensor: String, reason: String },
    UnknownTensorType { tensor: String, type_id: u32 },
    MisalignedTensor { tensor: String, offset: u64, alignment: u64 },
    TensorOutOfBounds { tensor: String, end: u64, data_len: u64 },
    OverlappingTensors { first: String, second: String },
}

/// A GGUF parse error: the kind and the absolute byte offset it was found at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GgufError {
    pub kind: GgufErrorKind,
    pub offset: u64,
}

impl GgufError {
    pub(crate) fn at(offset: u64, kind: GgufErrorKind) -> Self {
        GgufError { kind, offset }
    }

    /// A stable machine-readable code for the kind (used by the JS error's `code`).
    pub fn code(&self) -> &'static str {
        use GgufErrorKind::*;
        match self.kind {
            Truncated { .. } => "truncated",
            BadMagic { .. } => "bad_magic",
            UnsupportedVersion(_) => "unsupported_version",
            StringTooLong { .. } => "string_too_long",
            InvalidUtf8 { .. } => "invalid_utf8",
            ArrayTooLong { .. } => "array_too_long",
            ArrayNestingTooDeep => "array_nesting_too_deep",
            UnknownValueType(_) => "unknown_value_type",
            TooManyKeys(_) => "too_many_keys",
            TooManyTensors(_) => "too_many_tensors",
            DuplicateKey(_) => "duplicate_key",
            DuplicateTensor(_) => "duplicate_tensor",
            BadAlignment(_) => "bad_alignment",
            TooManyDims { .. } => "too_many_dims",
            BadShape { .. } => "bad_shape",
            UnknownTensorType { .. } => "unknown_tensor_type",
            MisalignedTensor { .. } => "misaligned_tensor",
            TensorOutOfBounds { .. } => "tensor_out_of_bounds",
            OverlappingTensors { .. } => "overlapping_tensors",
        }
    }
}

impl fmt::Display for GgufErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use GgufErrorKind::*;
        match self {
            Truncated { what, needed, available } => {
                write!(f, "file truncated while reading {what}: need {needed} bytes, {available} left")
            }
            BadMagic { found } => write!(f, "not a GGUF file: magic is {:?}, expected \"GGUF\"", String::from_utf8_lossy(found)),
            UnsupportedVersion(v) => write!(f, "unsupported GGUF version {v} (supported: 2, 3)"),
            StringTooLong { len } => write!(f, "string length {len} exceeds the rest of the file"),
            InvalidUtf8 { what } => write!(f, "{what} is not valid UTF-8"),
            ArrayTooLong { count, elem_bytes } => {
                write!(f, "array count {count} (at least {elem_bytes} bytes each) exceeds the rest of the file")
            }
            ArrayNestingTooDeep => write!(f, "metadata arrays nested too deeply"),
            UnknownValueType(t) => write!(f, "unknown metadata value type {t}"),
            TooManyKeys(n) => write!(f, "metadata key count {n} exceeds what the file can hold"),
            TooManyTensors(n) => write!(f, "tensor count {n} exceeds what the file can hold"),
            DuplicateKey(k) => write!(f, "duplicate metadata key '{k}'"),
            DuplicateTensor(t) => write!(f, "duplicate tensor name '{t}'"),
            BadAlignment(why) => write!(f, "invalid general.alignment: {why}"),
            TooManyDims { tensor, n_dims } => write!(f, "tensor '{tensor}' has {n_dims} dimensions (at most 4)"),
            BadShape { tensor, reason } => write!(f, "tensor '{tensor}' has an invalid shape: {reason}"),
            UnknownTensorType { tensor, type_id } => write!(f, "tensor '{tensor}' has unknown ggml type id {type_id}"),
            MisalignedTensor { tensor, offset, alignment } => {
                write!(f, "tensor '{tensor}' data offset {offset} is not a multiple of the alignment {alignment}")
            }
            TensorOutOfBounds { tensor, end, data_len } => {
                write!(f, "tensor '{tensor}' ends at data offset {end}, past the data section ({data_len} bytes)")
            }
            OverlappingTensors { first, second } => write!(f, "tensors '{first}' and '{second}' overlap"),
        }
    }
}

impl fmt::Display for GgufError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid GGUF at byte {}: {}", self.offset, self.kind)
    }
}

impl std::error::Error for GgufError {}
