//! The file bytes a model borrows from: a read-only mmap of a path, or a copy of a JS buffer.

use memmap2::Mmap;
use napi::{Error, Result};
use std::fs::File;

pub enum ModelBytes {
    Mapped(Mmap),
    Owned(Vec<u8>),
}

impl AsRef<[u8]> for ModelBytes {
    fn as_ref(&self) -> &[u8] {
        match self {
            ModelBytes::Mapped(m) => m,
            ModelBytes::Owned(v) => v,
        }
    }
}

pub fn map_file(path: &str) -> Result<ModelBytes> {
    let file = File::open(path).map_err(|e| Error::from_reason(format!("cannot open {path}: {e}")))?;
    // Safety: the mapping is read-only; a file truncated underneath us by another process is
    // the one case mmap cannot guard against (as in llama.cpp).
    let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::from_reason(format!("cannot map {path}: {e}")))?;
    Ok(ModelBytes::Mapped(map))
}
