//! Constrained decoding: a grammar (JSON Schema, any JSON object, Lark, a regex) compiled by
//! llguidance into a token mask that the sampler applies before its filters, so that every
//! generated token keeps the output inside the grammar.
//!
//! * [`GrammarSpec`]: what a request asks for (the SDK's `grammar` option, parsed from the
//!   sampling JSON by [`GrammarSpec::from_json`]).
//! * [`Grammars`]: one per model. It builds llguidance's token environment (the vocabulary as
//!   byte strings, see `vocab.rs`) on the first grammar request and compiles each request's
//!   grammar; compile errors (bad syntax, unsupported JSON Schema keywords, limits) come back at
//!   request time as a [`GrammarError`].
//! * [`GrammarMask`] (`mask.rs`): the per-generation [`LogitProcessor`](crate::sampling::LogitProcessor)
//!   that bans what the grammar forbids and, once the grammar can take no more tokens, leaves
//!   only the end-of-generation tokens, so the generation ends with finish reason `stop`.
//!
//! Hostile input stays bounded: grammar text is capped at [`MAX_GRAMMAR_BYTES`] before it is
//! parsed, and llguidance's own limits (grammar size, lexer fuel at compile time and per token,
//! Earley items per token) turn pathological grammars into errors instead of long stalls.

mod mask;
mod vocab;

pub use mask::GrammarMask;

use llguidance::api::{ParserLimits, TopLevelGrammar};
use llguidance::{Matcher, ParserFactory};
use std::fmt;
use std::sync::{Arc, OnceLock};

use crate::tokenizer::Tokenizer;

/// Largest grammar text (a Lark grammar, a regex, a serialized JSON Schema) a request may send.
/// Real tool and response schemas are a few KiB; 256 KiB leaves room for large tool sets while a
/// megabyte of hostile schema is refused before any parsing.
pub const MAX_GRAMMAR_BYTES: usize = 256 * 1024;

/// A grammar a generation must follow.
#[derive(Clone, Debug, PartialEq)]
pub enum GrammarSpec {
    /// Output is JSON valid under `schema` (JSON text). `strict`: unsupported keywords are an
    /// error; not strict, llguidance ignores them (a looser constraint, with the same output
    /// shape for every keyword it knows).
    JsonSchema { schema: String, strict: bool },
    /// Any JSON object.
    JsonObject,
    /// llguidance's Lark dialect (`start: ...`; `%json { schema }` embeds a JSON Schema).
    Lark { grammar: String },
    /// The whole output matches the regex (Rust `regex` syntax, implicitly anchored).
    Regex { pattern: String },
}

/// What went wrong with a grammar. `code` is stable for the SDK: `GRAMMAR_INVALID` (refused at
/// request time: malformed spec, syntax, unsupported feature, too large),
/// `GRAMMAR_UNSUPPORTED` (this model's vocabulary cannot end a constrained generation),
/// `GRAMMAR_FAILED` (the mask could not be computed during generation, e.g. a limit hit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrammarError {
    pub code: &'static str,
    pub message: String,
}

impl GrammarError {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        GrammarError { code: "GRAMMAR_INVALID", message: message.into() }
    }
    pub(crate) fn failed(message: impl Into<String>) -> Self {
        GrammarError { code: "GRAMMAR_FAILED", message: message.into() }
    }
}

impl fmt::Display for GrammarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            "GRAMMAR_INVALID" => write!(f, "invalid grammar: {}", self.message),
            "GRAMMAR_FAILED" => write!(f, "the grammar failed: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for GrammarError {}

/// llguidance's error text without the marker it appends when verbose errors are off.
pub(crate) fn llg_message(e: impl fmt::Display) -> String {
    let s = e.to_string();
    s.trim_end_matches("<non-verbose/>").trim_end().to_string()
}

fn check_size(what: &str, text: &str) -> Result<(), GrammarError> {
    if text.len() > MAX_GRAMMAR_BYTES {
        return Err(GrammarError::invalid(format!(
            "the {what} is {} bytes; at most {MAX_GRAMMAR_BYTES} are accepted",
            text.len()
        )));
    }
    Ok(())
}

impl GrammarSpec {
    /// The SDK's `grammar` option: `{ type: 'json_schema', schema: object | string, strict? }`,
    /// `{ type: 'json_object' }`, `{ type: 'lark', grammar }`, `{ type: 'regex', pattern }`.
    pub fn from_json(v: &serde_json::Value) -> Result<GrammarSpec, GrammarError> {
        let obj = v.as_object().ok_or_else(|| GrammarError::invalid(format!("grammar must be an object, got {v}")))?;
        let kind = obj.get("type").and_then(|t| t.as_str()).unwrap_or("");
        let text = |key: &str| -> Result<String, GrammarError> {
            match obj.get(key) {
                Some(serde_json::Value::String(s)) => Ok(s.clone()),
                _ => Err(GrammarError::invalid(format!("grammar of type '{kind}' needs a string '{key}'"))),
            }
        };
        Ok(match kind {
            "json_schema" => {
                let schema = match obj.get("schema") {
                    Some(serde_json::Value::String(s)) => s.clone(),
                    Some(s @ serde_json::Value::Object(_)) | Some(s @ serde_json::Value::Bool(_)) => s.to_string(),
                    _ => return Err(GrammarError::invalid("grammar of type 'json_schema' needs a 'schema' (an object)")),
                };
                let strict = match obj.get("strict") {
                    None | Some(serde_json::Value::Null) => true,
                    Some(serde_json::Value::Bool(b)) => *b,
                    Some(x) => return Err(GrammarError::invalid(format!("grammar 'strict' must be a boolean, got {x}"))),
                };
                GrammarSpec::JsonSchema { schema, strict }
            }
            "json_object" => GrammarSpec::JsonObject,
            "lark" => GrammarSpec::Lark { grammar: text("grammar")? },
            "regex" => GrammarSpec::Regex { pattern: text("pattern")? },
            _ => {
                return Err(GrammarError::invalid(format!(
                    "grammar type must be 'json_schema', 'json_object', 'lark' or 'regex', got {}",
                    obj.get("type").map_or("nothing".to_string(), |t| t.to_string())
                )))
            }
        })
    }

    /// llguidance's grammar for this spec (sizes checked, JSON parsed; not yet compiled).
    fn to_llguidance(&self) -> Result<TopLevelGrammar, GrammarError> {
        // JSON output is compact with one space after ',' and ':' (what chat models write):
        // llguidance's default flexible whitespace would let a model spend its whole budget
        // on blanks between tokens.
        let json_options = |lenient: bool| {
            serde_json::json!({ "whitespace_flexible": false, "item_separator": ", ", "key_separator": ": ", "lenient": lenient })
        };
        Ok(match self {
            GrammarSpec::JsonSchema { schema, strict } => {
                check_size("JSON schema", schema)?;
                let mut v: serde_json::Value =
                    serde_json::from_str(schema).map_err(|e| GrammarError::invalid(format!("the JSON schema is not valid JSON: {e}")))?;
                match &mut v {
                    // Our options replace any the schema carries (its `x-guidance` key).
                    serde_json::Value::Object(m) => {
                        m.insert("x-guidance".into(), json_options(!strict));
                    }
                    serde_json::Value::Bool(_) => {}
                    _ => return Err(GrammarError::invalid("the JSON schema must be an object (or a boolean)")),
                }
                TopLevelGrammar::from_json_schema(v)
            }
            GrammarSpec::JsonObject => {
                let mut v = serde_json::json!({ "type": "object" });
                v["x-guidance"] = json_options(false);
                TopLevelGrammar::from_json_schema(v)
            }
            GrammarSpec::Lark { grammar } => {
                check_size("Lark grammar", grammar)?;
                TopLevelGrammar::from_lark(grammar.clone())
            }
            GrammarSpec::Regex { pattern } => {
                check_size("regex", pattern)?;
                TopLevelGrammar::from_regex(pattern)
            }
        })
    }
}

/// llguidance's limits, with errors kept short (they reach HTTP clients: no grammar dump).
fn limits() -> ParserLimits {
    ParserLimits { verbose_errors: false, ..ParserLimits::default() }
}

/// A model's grammar compiler: the tokenizer, and llguidance's token environment built from it
/// on first use (a trie of the vocabulary and its slices: tens of milliseconds for 128k
/// tokens, so only models that are asked for a grammar pay it). Shared by every session and
/// batcher of the model.
pub struct Grammars {
    tokenizer: Arc<Tokenizer>,
    n_vocab: usize,
    factory: OnceLock<Result<ParserFactory, GrammarError>>,
}

impl fmt::Debug for Grammars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Grammars").field("n_vocab", &self.n_vocab).field("built", &self.factory.get().is_some()).finish()
    }
}

impl Grammars {
    /// For a model whose output layer has `n_vocab` logits (at least the tokenizer's vocabulary;
    /// extra rows are never allowed).
    pub fn new(tokenizer: Arc<Tokenizer>, n_vocab: usize) -> Self {
        Grammars { tokenizer, n_vocab, factory: OnceLock::new() }
    }

    fn factory(&self) -> Result<&ParserFactory, GrammarError> {
        let built = self.factory.get_or_init(|| {
            let env = vocab::token_env(&self.tokenizer, self.n_vocab).ok_or_else(|| GrammarError {
                code: "GRAMMAR_UNSUPPORTED",
                message: "this model's vocabulary has no end-of-generation token, so a grammar could never end its output".into(),
            })?;
            let mut f = ParserFactory::new_simple(&env).map_err(|e| GrammarError::failed(format!("cannot index the vocabulary: {e}")))?;
            f.quiet();
            *f.limits_mut() = limits();
            Ok(f)
        });
        built.as_ref().map_err(Clone::clone)
    }

    /// Compiles `spec` into a fresh mask for one generation. The first mask is computed here,
    /// so a grammar that cannot even start (or exceeds a limit at once) fails at request time.
    pub fn compile(&self, spec: &GrammarSpec) -> Result<GrammarMask, GrammarError> {
        let grammar = spec.to_llguidance()?;
        let factory = self.factory()?;
        let parser = factory.create_parser(grammar).map_err(|e| GrammarError::invalid(llg_message(format!("{e:#}"))))?;
        let mut matcher = Matcher::new(Ok(parser));
        let first = matcher.compute_mask().map_err(|e| GrammarError::invalid(llg_message(e)))?;
        if first.is_zero() {
            return Err(GrammarError::invalid("the grammar allows no token at all"));
        }
        Ok(GrammarMask::new(matcher, first, factory.tok_env().tok_trie().eos_tokens().to_vec()))
    }
}
