//! Tokenizers built from GGUF metadata, matching llama.cpp token for token:
//! SentencePiece (`llama`), GPT-2 byte-level BPE (`gpt2`, every llama.cpp
//! pre-tokenizer that needs no bespoke matcher) and WordPiece (`bert`).
//!
//! ```ignore
//! let tok = Tokenizer::from_gguf(&GgufFile::parse(&bytes)?)?;
//! let ids = tok.encode("Hello world", true, false);
//! let text = tok.decode(&ids, DecodeOptions::default());
//! ```

mod bpe;
mod decode;
mod lookup;
mod pretokenize;
mod special;
mod splitters;
mod spm;
mod stream;
#[cfg(test)]
mod tests;
mod unicode;
mod unicode_case_data;
mod unicode_flags_data;
mod vocab;
mod wpm;

use std::fmt;

use crate::gguf::GgufFile;

use bpe::{BpeModel, BpeScratch};
use lookup::TextArena;
use special::{Fragment, SpecialMatcher};
use vocab::Vocab;

pub use stream::StreamDecoder;
pub use vocab::SpecialIds;

/// The tokenization algorithm (`tokenizer.ggml.model`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelKind {
    /// SentencePiece BPE by score with byte fallback (`llama`).
    Spm,
    /// GPT-2 byte-level BPE by merge rank (`gpt2`).
    Bpe,
    /// WordPiece (`bert`).
    Wpm,
}

impl ModelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Spm => "spm",
            ModelKind::Bpe => "bpe",
            ModelKind::Wpm => "wpm",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenizerError {
    MissingKey(&'static str),
    /// A key is present with the wrong type or length.
    InvalidKey(&'static str),
    UnsupportedModel(String),
    UnsupportedPreTokenizer(String),
    /// A pre-tokenizer regex our engine cannot run.
    Regex(String),
}

impl fmt::Display for TokenizerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenizerError::MissingKey(k) => write!(f, "missing GGUF key {k}"),
            TokenizerError::InvalidKey(k) => write!(f, "GGUF key {k} has the wrong type or length"),
            TokenizerError::UnsupportedModel(m) => write!(f, "unsupported tokenizer model {m:?}"),
            TokenizerError::UnsupportedPreTokenizer(p) => write!(f, "unsupported pre-tokenizer {p:?}"),
            TokenizerError::Regex(e) => write!(f, "pre-tokenizer regex: {e}"),
        }
    }
}

impl std::error::Error for TokenizerError {}

impl TokenizerError {
    /// Stable machine-readable code for the bindings.
    pub fn code(&self) -> &'static str {
        match self {
            TokenizerError::MissingKey(_) => "TOKENIZER_MISSING_KEY",
            TokenizerError::InvalidKey(_) => "TOKENIZER_INVALID_KEY",
            TokenizerError::UnsupportedModel(_) => "TOKENIZER_UNSUPPORTED_MODEL",
            TokenizerError::UnsupportedPreTokenizer(_) => "TOKENIZER_UNSUPPORTED_PRE",
            TokenizerError::Regex(_) => "TOKENIZER_REGEX",
        }
    }
}

/// How ids become text (llama.cpp's `llama_detokenize` flags).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Drop one leading BOS / trailing EOS when the vocabulary adds them.
    pub remove_special: bool,
    /// Render control (and unknown-type) tokens as their text instead of nothing.
    pub unparse_special: bool,
}

#[derive(Debug)]
enum Model {
    Spm(spm::SpmModel),
    Bpe(Box<BpeModel>),
    Wpm,
}

/// A tokenizer: owns its tables (no borrow of the GGUF bytes).
#[derive(Debug)]
pub struct Tokenizer {
    vocab: Vocab,
    model: Model,
    specials: SpecialMatcher,
    /// Every token rendered with special tokens shown.
    pieces: TextArena,
    newline: Option<u32>,
}

impl Tokenizer {
    pub fn from_gguf(f: &GgufFile<'_>) -> Result<Tokenizer, TokenizerError> {
        let vocab = Vocab::from_gguf(f)?;
        let model = match vocab.kind {
            ModelKind::Spm => Model::Spm(spm::SpmModel::new(&vocab)),
            ModelKind::Bpe => Model::Bpe(Box::new(BpeModel::from_gguf(f, &vocab)?)),
            ModelKind::Wpm => Model::Wpm,
        };
        let specials = SpecialMatcher::new(&vocab);
        let pieces = decode::build_pieces(&vocab);
        let mut tok = Tokenizer { vocab, model, specials, pieces, newline: None };
        tok.newline = match tok.vocab.kind {
            ModelKind::Spm => tok.vocab.byte_token_spm(b'\n').or(tok.vocab.ids.pad),
            ModelKind::Wpm => tok.vocab.ids.pad,
            ModelKind::Bpe => tok.encode("\n", false, false).first().copied().or(tok.vocab.ids.pad),
        };
        Ok(tok)
    }

    /// Text -> ids. `add_special` adds BOS/EOS (CLS/SEP for WordPiece) as the vocabulary
    /// asks; `parse_special` recognises control tokens written in the text (user-defined
    /// tokens are always recognised).
    pub fn encode(&self, text: &str, add_special: bool, parse_special: bool) -> Vec<u32> {
        self.encode_fragments(text, add_special, self.specials.partition(&self.vocab, text, parse_special))
    }

    /// [`encode`](Self::encode) with control tokens parsed except inside `plain` (sorted,
    /// disjoint byte ranges of `text`, which must fall on character boundaries): one call, so
    /// the pieces tokenize as the whole does (no space prefix or merge boundary at a range).
    pub fn encode_with_plain(&self, text: &str, add_special: bool, plain: &[std::ops::Range<usize>]) -> Vec<u32> {
        self.encode_fragments(text, add_special, self.specials.partition_with_plain(&self.vocab, text, true, plain))
    }

    fn encode_fragments(&self, text: &str, add_special: bool, fragments: Vec<special::Fragment>) -> Vec<u32> {
        let vocab = &self.vocab;
        let flags = vocab.flags;
        let mut out = Vec::with_capacity(text.len() / 3 + 2);
        match &self.model {
            Model::Spm(spm) => {
                if add_special && flags.add_bos {
                    out.extend(vocab.ids.bos);
                }
                let mut escaped = Vec::new();
                // SentencePiece's space prefix goes at the start and after every special token.
                let mut after_special = true;
                for fragment in fragments {
                    match fragment {
                        Fragment::Text(range) => {
                            spm::escape_whitespace(&text[range], flags.add_space_prefix && after_special, &mut escaped);
                            spm.encode(vocab, &escaped, &mut out);
                            after_special = false;
                        }
                        Fragment::Token(id) => {
                            out.push(id);
                            after_special = true;
                        }
                    }
                }
                if add_special && flags.add_eos {
                    out.extend(vocab.ids.eos);
                }
            }
            Model::Bpe(bpe) => {
                if add_special && flags.add_bos {
                    out.extend(vocab.ids.bos);
                }
                let mut scratch = BpeScratch::default();
                for fragment in fragments {
                    match fragment {
                        Fragment::Text(range) => bpe.encode(vocab, &text[range], &mut scratch, &mut out),
                        Fragment::Token(id) => out.push(id),
                    }
                }
                if add_special && flags.add_eos {
                    out.extend(vocab.ids.eos);
                }
            }
            Model::Wpm => {
                if add_special {
                    out.extend(vocab.ids.bos);
                }
                for fragment in fragments {
                    match fragment {
                        Fragment::Text(range) => wpm::encode(vocab, &text[range], &mut out),
                        Fragment::Token(id) => out.push(id),
                    }
                }
                if add_special {
                    out.extend(vocab.ids.sep);
                }
            }
        }
        out
    }

    /// Ids -> bytes (not always valid UTF-8: a sequence may end inside a character).
    pub fn decode(&self, ids: &[u32], opts: DecodeOptions) -> Vec<u8> {
        decode::detokenize(&self.vocab, &self.pieces, ids, opts)
    }

    /// The bytes one token renders as; control/unknown tokens are empty unless
    /// `unparse_special`. Out-of-range ids are empty.
    pub fn token_to_piece(&self, id: u32, unparse_special: bool) -> &[u8] {
        decode::piece(&self.vocab, &self.pieces, id, unparse_special)
    }

    /// The token's text as stored in the vocabulary (`▁`/GPT-2 alphabet, not decoded).
    pub fn token_text(&self, id: u32) -> Option<&[u8]> {
        ((id as usize) < self.n_vocab()).then(|| self.vocab.text(id))
    }

    /// The id of a token text as stored in the vocabulary.
    pub fn token_id(&self, text: &[u8]) -> Option<u32> {
        self.vocab.token_id(text)
    }

    pub fn n_vocab(&self) -> usize {
        self.vocab.n_tokens()
    }

    /// Number of BPE merges (0 for other kinds).
    pub fn n_merges(&self) -> usize {
        match &self.model {
            Model::Bpe(bpe) => bpe.n_merges(),
            Model::Spm(_) | Model::Wpm => 0,
        }
    }

    pub fn model_kind(&self) -> ModelKind {
        self.vocab.kind
    }

    /// `tokenizer.ggml.pre` (empty when absent).
    pub fn pre_tokenizer(&self) -> &str {
        &self.vocab.pre
    }

    pub fn bos(&self) -> Option<u32> {
        self.vocab.ids.bos
    }

    pub fn eos(&self) -> Option<u32> {
        self.vocab.ids.eos
    }

    /// End of turn (from metadata, else detected by name as llama.cpp does).
    pub fn eot(&self) -> Option<u32> {
        self.vocab.ids.eot
    }

    /// The newline token (llama.cpp's `nl`).
    pub fn newline(&self) -> Option<u32> {
        self.newline
    }

    /// Every special id the vocabulary defines.
    pub fn special_ids(&self) -> SpecialIds {
        self.vocab.ids
    }

    /// Whether `encode(.., add_special = true, ..)` adds BOS / EOS.
    pub fn add_bos(&self) -> bool {
        self.vocab.flags.add_bos
    }

    pub fn add_eos(&self) -> bool {
        self.vocab.flags.add_eos
    }

    /// Whether the token ends generation (EOS, EOT, EOM and the tokens llama.cpp
    /// treats as such by name).
    pub fn is_eog(&self, id: u32) -> bool {
        self.vocab.is_eog(id)
    }

    /// All end-of-generation ids, sorted.
    pub fn eog_ids(&self) -> &[u32] {
        self.vocab.eog_ids()
    }

    /// Whether the token is a control token (hidden in output unless rendered).
    pub fn is_control(&self, id: u32) -> bool {
        (id as usize) < self.n_vocab() && self.vocab.attr(id) & vocab::attr::CONTROL != 0
    }
}
