//! What both bindings load from a GGUF file, in one place: the tokenizer, the chat template,
//! the inspect summary and (when the file has weights) the engine. The bindings own the
//! bytes and threads; everything they call lives here.

use crate::gguf::{keys, GgufError, GgufFile};
use crate::inspect::{inspect, InspectOptions};
use crate::tokenizer::{DecodeOptions, Tokenizer, TokenizerError};
use std::fmt;

/// Why a model could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    Gguf(GgufError),
    Tokenizer(TokenizerError),
}

impl LoadError {
    /// A stable code for the JS error (`GGUF_*`, `TOKENIZER_*`).
    pub fn code(&self) -> String {
        match self {
            LoadError::Gguf(e) => format!("GGUF_{}", e.code().to_uppercase()),
            LoadError::Tokenizer(e) => e.code().to_string(),
        }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Gguf(e) => e.fmt(f),
            LoadError::Tokenizer(e) => write!(f, "cannot build the tokenizer: {e}"),
        }
    }
}

impl std::error::Error for LoadError {}

impl From<GgufError> for LoadError {
    fn from(e: GgufError) -> Self {
        LoadError::Gguf(e)
    }
}
impl From<TokenizerError> for LoadError {
    fn from(e: TokenizerError) -> Self {
        LoadError::Tokenizer(e)
    }
}

/// The text side of a model: everything but the weights. Owns its data.
pub struct TextModel {
    pub tokenizer: Tokenizer,
    /// `tokenizer.chat_template`, when the file has one.
    pub chat_template: Option<String>,
    /// The `inspect` summary (no tensor list, large arrays summarized) as JSON.
    pub info_json: String,
    /// Whether the file carries tensors (a vocab-only file has none).
    pub has_weights: bool,
}

impl TextModel {
    pub fn from_gguf(f: &GgufFile<'_>) -> Result<TextModel, LoadError> {
        Ok(TextModel {
            tokenizer: Tokenizer::from_gguf(f)?,
            chat_template: f.get_str(keys::TOKENIZER_CHAT_TEMPLATE).map(str::to_owned),
            info_json: inspect(f, InspectOptions::default()).to_string(),
            has_weights: !f.tensors.is_empty(),
        })
    }

    pub fn tokenize(&self, text: &str, add_special: bool, parse_special: bool) -> Vec<u32> {
        self.tokenizer.encode(text, add_special, parse_special)
    }

    /// Ids to bytes; `special` renders control tokens instead of hiding them. Out-of-range
    /// ids render as nothing. With special tokens hidden, a leading BOS is skipped before
    /// decoding so that SentencePiece's space prefix is stripped from the first word, as
    /// Hugging Face's `decode(skip_special_tokens=True)` does: `detokenize(tokenize(s)) == s`.
    /// (llama.cpp's `remove_special` would keep that space once a BOS was present.)
    pub fn detokenize(&self, ids: &[u32], special: bool) -> Vec<u8> {
        let ids = match ids.split_first() {
            Some((&first, rest)) if !special && Some(first) == self.tokenizer.bos() => rest,
            _ => ids,
        };
        self.tokenizer.decode(ids, DecodeOptions { remove_special: false, unparse_special: special })
    }
}
