//! Metadata values, borrowed from the file bytes. Arrays keep their raw byte range and
//! decode on access, so a 150k-entry vocabulary costs nothing until a tokenizer asks for it.

use super::cursor::Cursor;
use super::error::{GgufError, GgufErrorKind};

/// Arrays of arrays deeper than this are rejected (real files use depth 1).
const MAX_ARRAY_DEPTH: u32 = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    F32,
    Bool,
    String,
    Array,
    U64,
    I64,
    F64,
}

impl ValueType {
    pub fn from_id(id: u32) -> Option<ValueType> {
        use ValueType::*;
        Some(match id {
            0 => U8,
            1 => I8,
            2 => U16,
            3 => I16,
            4 => U32,
            5 => I32,
            6 => F32,
            7 => Bool,
            8 => String,
            9 => Array,
            10 => U64,
            11 => I64,
            12 => F64,
            _ => return None,
        })
    }

    /// Bytes per element for fixed-size types; the minimum encoded size otherwise.
    fn min_size(self) -> u64 {
        use ValueType::*;
        match self {
            U8 | I8 | Bool => 1,
            U16 | I16 => 2,
            U32 | I32 | F32 => 4,
            U64 | I64 | F64 => 8,
            String => 8,      // u64 length
            Array => 4 + 8,   // element type + count
        }
    }

    fn is_fixed(self) -> bool {
        !matches!(self, ValueType::String | ValueType::Array)
    }

    pub fn name(self) -> &'static str {
        use ValueType::*;
        match self {
            U8 => "u8",
            I8 => "i8",
            U16 => "u16",
            I16 => "i16",
            U32 => "u32",
            I32 => "i32",
            F32 => "f32",
            Bool => "bool",
            String => "string",
            Array => "array",
            U64 => "u64",
            I64 => "i64",
            F64 => "f64",
        }
    }
}

/// A metadata value. Strings are raw bytes (GGUF says UTF-8; accessors check).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    Str(&'a [u8]),
    Array(Array<'a>),
    U64(u64),
    I64(i64),
    F64(f64),
}

/// An array value: element type, count and the bytes that encode the elements.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Array<'a> {
    pub elem: ValueType,
    pub len: u64,
    data: &'a [u8],
}

impl<'a> Value<'a> {
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::U8(_) => ValueType::U8,
            Value::I8(_) => ValueType::I8,
            Value::U16(_) => ValueType::U16,
            Value::I16(_) => ValueType::I16,
            Value::U32(_) => ValueType::U32,
            Value::I32(_) => ValueType::I32,
            Value::F32(_) => ValueType::F32,
            Value::Bool(_) => ValueType::Bool,
            Value::Str(_) => ValueType::String,
            Value::Array(_) => ValueType::Array,
            Value::U64(_) => ValueType::U64,
            Value::I64(_) => ValueType::I64,
            Value::F64(_) => ValueType::F64,
        }
    }

    /// Any integer type as i128 (lossless for all of them).
    fn as_int(&self) -> Option<i128> {
        Some(match *self {
            Value::U8(v) => v as i128,
            Value::I8(v) => v as i128,
            Value::U16(v) => v as i128,
            Value::I16(v) => v as i128,
            Value::U32(v) => v as i128,
            Value::I32(v) => v as i128,
            Value::U64(v) => v as i128,
            Value::I64(v) => v as i128,
            _ => return None,
        })
    }

    pub fn as_u64(&self) -> Option<u64> {
        self.as_int().and_then(|v| u64::try_from(v).ok())
    }
    pub fn as_u32(&self) -> Option<u32> {
        self.as_int().and_then(|v| u32::try_from(v).ok())
    }
    pub fn as_i64(&self) -> Option<i64> {
        self.as_int().and_then(|v| i64::try_from(v).ok())
    }
    /// Any numeric value as f64.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v as f64),
            Value::F64(v) => Some(v),
            _ => self.as_int().map(|v| v as f64),
        }
    }
    pub fn as_f32(&self) -> Option<f32> {
        self.as_f64().map(|v| v as f32)
    }
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&'a str> {
        match *self {
            Value::Str(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&Array<'a>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
}

impl<'a> Array<'a> {
    pub fn len(&self) -> usize {
        self.len as usize
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Decodes each element in order.
    pub fn iter(&self) -> ArrayIter<'a> {
        ArrayIter { cursor: Cursor::new(self.data), elem: self.elem, left: self.len }
    }

    /// String elements as raw bytes (empty when the array holds another type).
    pub fn strings(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.iter().filter_map(|v| match v {
            Value::Str(s) => Some(s),
            _ => None,
        })
    }

    /// Numeric elements as f32 (None when any element is not numeric).
    pub fn to_f32_vec(&self) -> Option<Vec<f32>> {
        if self.elem == ValueType::F32 {
            return Some(self.data.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect());
        }
        self.iter().map(|v| v.as_f32()).collect()
    }

    /// Integer elements as i64 (None when any element is not an integer in range).
    pub fn to_i64_vec(&self) -> Option<Vec<i64>> {
        self.iter().map(|v| v.as_i64()).collect()
    }
}

pub struct ArrayIter<'a> {
    cursor: Cursor<'a>,
    elem: ValueType,
    left: u64,
}

impl<'a> Iterator for ArrayIter<'a> {
    type Item = Value<'a>;
    fn next(&mut self) -> Option<Value<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // The bytes were validated when the file was parsed, so this cannot fail.
        read_value(&mut self.cursor, self.elem, 0).ok()
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left as usize, Some(self.left as usize))
    }
}

/// Reads the element type of a value (a u32), rejecting unknown ids.
pub(crate) fn read_value_type(c: &mut Cursor<'_>) -> Result<ValueType, GgufError> {
    let at = c.pos();
    let id = c.u32("value type")?;
    ValueType::from_id(id).ok_or(GgufError::at(at, GgufErrorKind::UnknownValueType(id)))
}

/// Reads one value of type `ty`, validating every length against the bytes left.
pub(crate) fn read_value<'a>(c: &mut Cursor<'a>, ty: ValueType, depth: u32) -> Result<Value<'a>, GgufError> {
    Ok(match ty {
        ValueType::U8 => Value::U8(c.u8("u8 value")?),
        ValueType::I8 => Value::I8(c.u8("i8 value")? as i8),
        ValueType::U16 => Value::U16(u16::from_le_bytes(c.array("u16 value")?)),
        ValueType::I16 => Value::I16(i16::from_le_bytes(c.array("i16 value")?)),
        ValueType::U32 => Value::U32(c.u32("u32 value")?),
        ValueType::I32 => Value::I32(c.u32("i32 value")? as i32),
        ValueType::F32 => Value::F32(f32::from_le_bytes(c.array("f32 value")?)),
        ValueType::Bool => Value::Bool(c.u8("bool value")? != 0),
        ValueType::String => Value::Str(c.string_bytes("string value")?),
        ValueType::U64 => Value::U64(c.u64("u64 value")?),
        ValueType::I64 => Value::I64(c.u64("i64 value")? as i64),
        ValueType::F64 => Value::F64(f64::from_le_bytes(c.array("f64 value")?)),
        ValueType::Array => Value::Array(read_array(c, depth)?),
    })
}

fn read_array<'a>(c: &mut Cursor<'a>, depth: u32) -> Result<Array<'a>, GgufError> {
    let at = c.pos();
    if depth >= MAX_ARRAY_DEPTH {
        return Err(GgufError::at(at, GgufErrorKind::ArrayNestingTooDeep));
    }
    let elem = read_value_type(c)?;
    let count_at = c.pos();
    let len = c.u64("array count")?;
    // Bound the count by what the rest of the file could possibly encode before touching it.
    let min = elem.min_size();
    let too_long = GgufError::at(count_at, GgufErrorKind::ArrayTooLong { count: len, elem_bytes: min });
    let min_total = len.checked_mul(min).ok_or(too_long.clone())?;
    if min_total > c.remaining() {
        return Err(too_long);
    }
    let start = c.pos();
    let data = if elem.is_fixed() {
        c.take(min_total, "array data")?
    } else {
        let before = c.remaining();
        let mut probe = Cursor::new(c.take(before, "array data")?);
        for _ in 0..len {
            // Errors inside report offsets relative to the probe; shift them back.
            read_value(&mut probe, elem, depth + 1).map_err(|e| GgufError { offset: e.offset + start, ..e })?;
        }
        let used = probe.pos();
        // Rewind to just after the array: re-take only what it used.
        *c = c.rewound(start);
        c.take(used, "array data")?
    };
    Ok(Array { elem, len, data })
}
