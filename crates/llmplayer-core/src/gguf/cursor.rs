//! A bounds-checked little-endian reader over the file bytes. It never allocates and
//! never reads past the end: every read returns a `Truncated` error instead.

use super::error::{GgufError, GgufErrorKind};

pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, pos: 0 }
    }

    pub fn pos(&self) -> u64 {
        self.pos as u64
    }

    pub fn remaining(&self) -> u64 {
        (self.bytes.len() - self.pos) as u64
    }

    pub fn err(&self, kind: GgufErrorKind) -> GgufError {
        GgufError::at(self.pos as u64, kind)
    }

    pub fn take(&mut self, n: u64, what: &'static str) -> Result<&'a [u8], GgufError> {
        if n > self.remaining() {
            return Err(self.err(GgufErrorKind::Truncated { what, needed: n, available: self.remaining() }));
        }
        let start = self.pos;
        self.pos += n as usize;
        Ok(&self.bytes[start..self.pos])
    }

    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], GgufError> {
        let s = self.take(N as u64, what)?;
        Ok(s.try_into().expect("take returned N bytes"))
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8, GgufError> {
        Ok(self.array::<1>(what)?[0])
    }
    pub fn u32(&mut self, what: &'static str) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    pub fn u64(&mut self, what: &'static str) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A GGUF string: u64 length then bytes (not validated as UTF-8 here).
    pub fn string_bytes(&mut self, what: &'static str) -> Result<&'a [u8], GgufError> {
        let at = self.pos();
        let len = self.u64(what)?;
        if len > self.remaining() {
            return Err(GgufError::at(at, GgufErrorKind::StringTooLong { len }));
        }
        self.take(len, what)
    }

    /// A GGUF string that must be UTF-8 (keys and tensor names).
    pub fn string(&mut self, what: &'static str) -> Result<&'a str, GgufError> {
        let at = self.pos();
        let b = self.string_bytes(what)?;
        std::str::from_utf8(b).map_err(|_| GgufError::at(at, GgufErrorKind::InvalidUtf8 { what }))
    }
}

impl<'a> Cursor<'a> {
    /// A copy of this cursor positioned at `pos` (an earlier position it has passed).
    pub fn rewound(&self, pos: u64) -> Cursor<'a> {
        Cursor { bytes: self.bytes, pos: pos as usize }
    }
}
