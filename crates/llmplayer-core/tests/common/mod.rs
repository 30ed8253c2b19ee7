//! Shared code for the GGUF reader tests (`gguf_hostile`, `gguf_roundtrip`, `gguf_fixtures`).
//!
//! Cargo compiles this module into each test binary that declares `mod common;`, and no binary
//! uses all of it: each file allows `dead_code`.

pub mod gguf_checks;
pub mod gguf_samples;
pub mod gguf_writer;
