//! llmplayer-core: the pure, I/O-free heart of llmplayer.
//!
//! Everything takes borrowed bytes (`&[u8]`): an mmap natively, an `ArrayBuffer` in WASM.
//! The binding crates only convert types and threads.

pub mod batcher;
pub mod ggml_type;
pub mod gguf;
pub mod grammar;
pub mod inspect;
pub mod model;
pub mod parallel;
pub mod quant;
pub mod runtime;
pub mod sampling;
pub mod tokenizer;

pub use ggml_type::GgmlType;
pub use gguf::{GgufError, GgufFile};
