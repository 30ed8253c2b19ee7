//! What both bindings load from a GGUF file, in one place: the tokenizer, the chat template,
//! the inspect summary and (when the file has weights) the engine. The bindings own the
//! bytes and threads; everything they call lives here.

use crate::gguf::{keys, GgufError, GgufFile};
use crate::grammar::{GrammarError, GrammarSpec, Grammars};
use crate::inspect::{inspect, InspectOptions};
use crate::model::perplexity::{self, Perplexity};
use crate::model::{KvType, LoadOptions, Model, ModelError, Pooling, Rounding, Session};
use crate::sampling::{Sampler, SamplingError, SamplingParams, Step};
use crate::tokenizer::{DecodeOptions, Tokenizer, TokenizerError};
use std::fmt;
use std::sync::Arc;

mod options_json;
pub use options_json::sampling_params_from_json;

/// Why a model could not be loaded, or a session could not run.
#[derive(Debug)]
pub enum RuntimeError {
    Gguf(GgufError),
    Tokenizer(TokenizerError),
    Model(ModelError),
    Sampling(SamplingError),
    /// A grammar that cannot be compiled (`GRAMMAR_INVALID`), a vocabulary that cannot end a
    /// constrained generation (`GRAMMAR_UNSUPPORTED`), or a grammar that failed while
    /// generating (`GRAMMAR_FAILED`).
    Grammar(GrammarError),
    /// The file has no weights (a vocab-only GGUF) or was loaded vocab-only.
    NoWeights,
    /// `next()` without `begin()`.
    NotGenerating,
    /// `begin()` with no prompt tokens.
    EmptyPrompt,
    /// `begin()` with a prompt that leaves no room for a generated token.
    PromptTooLong { n_prompt: usize, n_ctx: usize },
    /// A batch request needing more KV positions than the scheduler's whole budget.
    KvBudget { need: usize, kv_size: usize },
}

/// What the bindings hand to JavaScript: the error's fields, each its own property (no code
/// folded into the message for the SDK to parse back out).
impl RuntimeError {
    /// A stable code for the JS error (`GGUF_*`, `TOKENIZER_*`, `MODEL_*`, `SAMPLING_*`,
    /// `EMPTY_PROMPT`, `CONTEXT_LENGTH_EXCEEDED`).
    pub fn code(&self) -> String {
        match self {
            RuntimeError::Gguf(e) => format!("GGUF_{}", e.code().to_uppercase()),
            RuntimeError::Tokenizer(e) => e.code().to_string(),
            RuntimeError::Model(ModelError::Gguf(e)) => format!("GGUF_{}", e.code().to_uppercase()),
            RuntimeError::Model(e) => format!("MODEL_{}", e.code().to_uppercase()),
            RuntimeError::Sampling(e) => format!("SAMPLING_{}", e.param.to_uppercase()),
            RuntimeError::Grammar(e) => e.code.to_string(),
            RuntimeError::NoWeights => "MODEL_NO_WEIGHTS".into(),
            RuntimeError::NotGenerating => "MODEL_NOT_GENERATING".into(),
            RuntimeError::EmptyPrompt => "EMPTY_PROMPT".into(),
            RuntimeError::PromptTooLong { .. } => "CONTEXT_LENGTH_EXCEEDED".into(),
            RuntimeError::KvBudget { .. } => "KV_BUDGET_EXCEEDED".into(),
        }
    }

    /// The human-readable message (the `Display` text; it never repeats the code).
    pub fn message(&self) -> String {
        self.to_string()
    }

    /// The byte of the file a GGUF error was found at (None for every other error).
    pub fn offset(&self) -> Option<u64> {
        match self {
            RuntimeError::Gguf(e) | RuntimeError::Model(ModelError::Gguf(e)) => Some(e.offset),
            _ => None,
        }
    }
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuntimeError::Gguf(e) => e.fmt(f),
            RuntimeError::Tokenizer(e) => write!(f, "cannot build the tokenizer: {e}"),
            RuntimeError::Model(e) => e.fmt(f),
            RuntimeError::Sampling(e) => e.fmt(f),
            RuntimeError::Grammar(e) => e.fmt(f),
            RuntimeError::NoWeights => write!(f, "this model has no weights (vocab-only): it can tokenize but not generate"),
            RuntimeError::NotGenerating => write!(f, "next() called before begin()"),
            RuntimeError::EmptyPrompt => write!(f, "the prompt is empty"),
            RuntimeError::PromptTooLong { n_prompt, n_ctx } => {
                write!(f, "the prompt has {n_prompt} tokens; the context holds {n_ctx} (room for at least one more is needed)")
            }
            RuntimeError::KvBudget { need, kv_size } => {
                write!(f, "the request needs {need} KV positions (prompt plus max tokens); the whole KV budget is {kv_size}")
            }
        }
    }
}

impl From<ModelError> for RuntimeError {
    fn from(e: ModelError) -> Self {
        RuntimeError::Model(e)
    }
}
impl From<SamplingError> for RuntimeError {
    fn from(e: SamplingError) -> Self {
        RuntimeError::Sampling(e)
    }
}

impl From<GrammarError> for RuntimeError {
    fn from(e: GrammarError) -> Self {
        RuntimeError::Grammar(e)
    }
}

impl std::error::Error for RuntimeError {}

impl From<GgufError> for RuntimeError {
    fn from(e: GgufError) -> Self {
        RuntimeError::Gguf(e)
    }
}
impl From<TokenizerError> for RuntimeError {
    fn from(e: TokenizerError) -> Self {
        RuntimeError::Tokenizer(e)
    }
}

/// The text side of a model: everything but the weights. Owns its data.
pub struct TextModel {
    /// Shared with the model's grammar compiler ([`Grammars`]).
    pub tokenizer: Arc<Tokenizer>,
    /// `tokenizer.chat_template`, when the file has one.
    pub chat_template: Option<String>,
    /// The `inspect` summary (no tensor list, large arrays summarized) as JSON.
    pub info_json: String,
    /// Whether the file carries tensors (a vocab-only file has none).
    pub has_weights: bool,
}

impl TextModel {
    pub fn from_gguf(f: &GgufFile<'_>) -> Result<TextModel, RuntimeError> {
        Ok(TextModel {
            tokenizer: Arc::new(Tokenizer::from_gguf(f)?),
            chat_template: f.get_str(keys::TOKENIZER_CHAT_TEMPLATE).map(str::to_owned),
            info_json: inspect(f, InspectOptions::default()).to_string(),
            has_weights: !f.tensors.is_empty(),
        })
    }

    pub fn tokenize(&self, text: &str, add_special: bool, parse_special: bool) -> Vec<u32> {
        self.tokenizer.encode(text, add_special, parse_special)
    }

    /// Tokenizes with control tokens parsed except where they overlap a `plain` byte range,
    /// given as flat `[start, end, start, end, …]` UTF-8 offsets (a chat message's content
    /// inside its rendered template). Ranges may come in any order; empty ones are ignored.
    pub fn tokenize_with_plain(&self, text: &str, add_special: bool, plain: &[u32]) -> Vec<u32> {
        let mut ranges: Vec<std::ops::Range<usize>> = plain
            .chunks_exact(2)
            .map(|p| (p[0] as usize).min(text.len())..(p[1] as usize).min(text.len()))
            .filter(|r| r.start < r.end)
            .collect();
        ranges.sort_unstable_by_key(|r| r.start);
        // Merge overlaps: the matcher's search needs disjoint, sorted ranges.
        let mut merged: Vec<std::ops::Range<usize>> = Vec::with_capacity(ranges.len());
        for r in ranges {
            match merged.last_mut() {
                Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
                _ => merged.push(r),
            }
        }
        self.tokenizer.encode_with_plain(text, add_special, &merged)
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

/// Bytes a loaded model keeps alive: an mmap natively, a `Vec<u8>` in WASM.
pub type SharedBytes = Arc<dyn AsRef<[u8]> + Send + Sync>;

#[derive(Clone, Debug, Default)]
pub struct RuntimeOptions {
    /// Compute threads (None: available parallelism; ignored on wasm32).
    pub n_threads: Option<usize>,
    /// Load only the text side even when the file has weights.
    pub vocab_only: bool,
    /// KV cache type of sessions and perplexity runs that do not name one (`f32`, `f16`,
    /// `q8_0`; None: [`KvType::default`]). Checked against the model at load.
    pub kv_type: Option<String>,
    /// Round attention as llama.cpp's flash attention (`-fa on`, its CPU default) in sessions
    /// and perplexity runs; f32 caches only (see `model::ops::flash`).
    pub flash_attn: bool,
    /// Which llama.cpp x86 build's rounding to reproduce: `avx2` or `avx512` (None: `avx2`;
    /// see `model::ops::expf`). Checked at load.
    pub rounding: Option<String>,
    /// A device that takes the products of the weights it holds (`model::offload`).
    pub offload: Option<crate::model::offload::SharedOffload>,
}

/// `name` as a cache type, or `default` when absent (the bindings pass the SDK's string
/// through untouched: this is where it is validated).
fn kv_type_or(name: Option<&str>, default: KvType) -> Result<KvType, RuntimeError> {
    Ok(name.map(KvType::parse).transpose()?.unwrap_or(default))
}

/// A loaded GGUF: the text side always, the engine when the file has weights.
pub struct RuntimeModel {
    pub text: TextModel,
    pub engine: Option<Arc<Model<'static>>>,
    /// The KV cache type when a call names none.
    pub kv_type: KvType,
    /// Attention rounded as llama.cpp's flash attention ([`RuntimeOptions::flash_attn`]).
    pub flash_attn: bool,
    /// Compiles generation grammars against this model's vocabulary (built on first use).
    pub grammars: Arc<Grammars>,
}

impl RuntimeModel {
    pub fn load(bytes: SharedBytes, opts: &RuntimeOptions) -> Result<RuntimeModel, RuntimeError> {
        let text = {
            let f = GgufFile::parse((*bytes).as_ref())?;
            TextModel::from_gguf(&f)?
        };
        let kv_type = kv_type_or(opts.kv_type.as_deref(), KvType::default())?;
        let rounding = match opts.rounding.as_deref() {
            Some(r) => Rounding::from_name(r).ok_or_else(|| ModelError::RoundingUnknown(r.to_string()))?,
            None => Rounding::default(),
        };
        let engine = if text.has_weights && !opts.vocab_only {
            let load = LoadOptions { n_threads: opts.n_threads, rounding, offload: opts.offload.clone(), ..LoadOptions::default() };
            let m = Model::from_shared(bytes, &load)?;
            kv_type.check(m.hparams())?;
            Some(Arc::new(m))
        } else {
            None
        };
        let n_vocab = engine.as_ref().map_or(text.tokenizer.n_vocab(), |m| m.n_vocab());
        let grammars = Arc::new(Grammars::new(text.tokenizer.clone(), n_vocab));
        Ok(RuntimeModel { text, engine, kv_type, flash_attn: opts.flash_attn, grammars })
    }

    /// Compiles a grammar (the `grammar` value of the sampling JSON) against this model's
    /// vocabulary and drops it: a server checks a request's grammar before it answers, so a bad
    /// one is a clean error rather than one raised after a stream has started.
    pub fn check_grammar(&self, grammar_json: &str) -> Result<(), RuntimeError> {
        let v: serde_json::Value = serde_json::from_str(grammar_json).map_err(|e| GrammarError::invalid(format!("not JSON: {e}")))?;
        self.grammars.compile(&GrammarSpec::from_json(&v)?)?;
        Ok(())
    }

    pub fn n_ctx_train(&self) -> Option<usize> {
        self.engine.as_ref().map(|m| m.n_ctx_train())
    }

    /// Perplexity of `tokens`: in one context, or with `n_ctx` llama.cpp's chunked protocol
    /// (each chunk starts with BOS when the vocabulary adds one); `kv_type` as in `new_session`.
    pub fn perplexity(&self, tokens: &[u32], n_ctx: Option<usize>, kv_type: Option<&str>) -> Result<Perplexity, RuntimeError> {
        let engine = self.engine.as_ref().ok_or(RuntimeError::NoWeights)?;
        let kv = kv_type_or(kv_type, self.kv_type)?;
        if let Some(&t) = tokens.iter().find(|&&t| t as usize >= engine.n_vocab()) {
            return Err(ModelError::BadToken { token: t, n_vocab: engine.n_vocab() }.into());
        }
        Ok(match n_ctx {
            None => perplexity::full_context(engine, tokens, kv, self.flash_attn)?,
            Some(n) => {
                let bos = self.text.tokenizer.add_bos().then(|| self.text.tokenizer.bos()).flatten();
                perplexity::chunked(engine, tokens, n, bos, kv, self.flash_attn)?
            }
        })
    }

    /// The pooled embedding of `tokens` ((n_embd,), not normalized: the caller's choice), with
    /// `pooling` (`mean`, `cls`, `last`; None: the model's own, see [`Pooling::for_model`]).
    /// Runs in a session of its own sized to the input (KV of the model's default type),
    /// dropped afterwards, so no other session's cache is touched and concurrent calls are
    /// independent. `tokens` must be non-empty, within the vocabulary and at most `n_ctx`.
    pub fn embed(&self, tokens: &[u32], pooling: Option<&str>, n_ctx: usize) -> Result<Vec<f32>, RuntimeError> {
        let engine = self.engine.as_ref().ok_or(RuntimeError::NoWeights)?;
        let pooling = match pooling {
            Some(name) => Pooling::parse(name)?,
            None => Pooling::for_model(engine.hparams())?,
        };
        if tokens.is_empty() {
            return Err(RuntimeError::EmptyPrompt);
        }
        if tokens.len() > n_ctx {
            return Err(ModelError::ContextFull { n_tokens: tokens.len(), n_ctx }.into());
        }
        let mut session = Model::new_shared_session(engine, tokens.len(), self.kv_type)?;
        session.set_flash_attn(self.flash_attn);
        Ok(session.embed(tokens, pooling)?.to_vec())
    }

    /// The pooling `embed` uses when given none (`mean`, `cls`, `last`), or why it has none.
    pub fn default_pooling(&self) -> Result<&'static str, RuntimeError> {
        let engine = self.engine.as_ref().ok_or(RuntimeError::NoWeights)?;
        Ok(Pooling::for_model(engine.hparams())?.name())
    }

    /// A session with a KV cache of `n_ctx` positions of type `kv_type` (a name; None: the
    /// model's default from [`RuntimeOptions::kv_type`]).
    pub fn new_session(&self, n_ctx: usize, kv_type: Option<&str>) -> Result<RuntimeSession, RuntimeError> {
        let engine = self.engine.as_ref().ok_or(RuntimeError::NoWeights)?;
        let kv = kv_type_or(kv_type, self.kv_type)?;
        if n_ctx == 0 {
            return Err(RuntimeError::Model(ModelError::ContextFull { n_tokens: 1, n_ctx }));
        }
        let mut session = Model::new_shared_session(engine, n_ctx, kv)?;
        session.set_flash_attn(self.flash_attn);
        Ok(RuntimeSession {
            session,
            history: Vec::with_capacity(n_ctx),
            sampler: None,
            pending: None,
            n_vocab: engine.n_vocab(),
            grammars: self.grammars.clone(),
        })
    }
}

/// One sequence: the engine session, the tokens it holds, and the sampler of the
/// generation in progress. Generation is `begin(prompt)` then `next()` per token.
pub struct RuntimeSession {
    session: Session<'static>,
    /// (≤ n_ctx,) the tokens evaluated so far, then the sampled ones.
    history: Vec<u32>,
    sampler: Option<Sampler>,
    /// The last sampled token, not yet evaluated (evaluated lazily by the next `next()`).
    pending: Option<u32>,
    n_vocab: usize,
    grammars: Arc<Grammars>,
}

/// What `begin` did with the prompt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PromptStats {
    pub n_prompt: usize,
    /// Prompt tokens whose KV entries the engine kept from the cache instead of computing them
    /// ([`Session::n_reused`]: at most `n_prompt - 1`, the last one is always evaluated again
    /// for its logits). The server's `cached_tokens`.
    pub n_reused: usize,
}

impl RuntimeSession {
    pub fn n_ctx(&self) -> usize {
        self.session.n_ctx()
    }
    /// The KV cache's type name (`f32`, `f16`, `q8_0`).
    pub fn kv_type(&self) -> &'static str {
        self.session.kv_type().name()
    }
    /// Bytes of KV cache per context position (all layers, K and V).
    pub fn kv_bytes_per_token(&self) -> usize {
        self.session.kv_bytes_per_token()
    }
    /// Prompt tokens a `begin` with `tokens` would reuse (see `Session::reusable`).
    pub fn reusable(&self, tokens: &[u32]) -> usize {
        self.session.reusable(tokens)
    }
    /// Tokens in the KV cache (a just-sampled token is added by the next `next()`).
    pub fn n_past(&self) -> usize {
        self.history.len()
    }
    pub fn clear(&mut self) {
        self.session.clear();
        self.history.clear();
        self.sampler = None;
        self.pending = None;
    }

    /// Evaluates `tokens` as the whole context (reusing the cached common prefix) and returns
    /// the last position's logits, or every position's with `all_logits`.
    pub fn evaluate(&mut self, tokens: &[u32], all_logits: bool) -> Result<&[f32], RuntimeError> {
        self.sampler = None;
        self.pending = None;
        self.history.clear();
        let logits = self.session.eval(tokens, all_logits)?;
        self.history.extend_from_slice(tokens);
        Ok(logits)
    }

    /// Evaluates the prompt (reusing the cached common prefix) and prepares sampling. The
    /// prompt must leave room for at least one generated token.
    pub fn begin(&mut self, prompt: &[u32], params: SamplingParams) -> Result<PromptStats, RuntimeError> {
        if prompt.is_empty() {
            return Err(RuntimeError::EmptyPrompt);
        }
        let n_ctx = self.session.n_ctx();
        if prompt.len() >= n_ctx {
            return Err(RuntimeError::PromptTooLong { n_prompt: prompt.len(), n_ctx });
        }
        // Compiled before the prompt is evaluated: a bad grammar costs no forward pass.
        let mask = params.grammar.as_ref().map(|g| self.grammars.compile(g)).transpose()?;
        let mut sampler = Sampler::new(params, self.n_vocab)?;
        self.pending = None;
        self.history.clear();
        self.session.eval(prompt, false)?;
        self.history.extend_from_slice(prompt);
        for &t in prompt {
            sampler.accept(t);
        }
        // After the prompt: the grammar sees the generated tokens only.
        if let Some(mask) = mask {
            sampler.push_mask(Box::new(mask));
        }
        self.sampler = Some(sampler);
        Ok(PromptStats { n_prompt: prompt.len(), n_reused: self.session.n_reused() })
    }

    /// Samples the next token (evaluating the previously sampled one first), with its logprobs
    /// when `begin`'s params asked for them. Fails with `ContextFull` once prompt plus
    /// generated tokens fill the context.
    pub fn next(&mut self) -> Result<Step<'_>, RuntimeError> {
        if self.sampler.is_none() {
            return Err(RuntimeError::NotGenerating);
        }
        if let Some(t) = self.pending.take() {
            if self.history.len() >= self.session.n_ctx() {
                self.pending = Some(t);
                let n_ctx = self.session.n_ctx();
                return Err(RuntimeError::Model(ModelError::ContextFull { n_tokens: n_ctx + 1, n_ctx }));
            }
            self.history.push(t);
            if let Err(e) = self.session.eval(&self.history, false) {
                self.history.pop();
                self.pending = Some(t);
                return Err(e.into());
            }
        }
        // Prompt plus generated tokens never exceed the context, the last one included.
        if self.history.len() >= self.session.n_ctx() {
            let n_ctx = self.session.n_ctx();
            return Err(RuntimeError::Model(ModelError::ContextFull { n_tokens: n_ctx + 1, n_ctx }));
        }
        let sampler = self.sampler.as_mut().expect("checked above");
        let logits = self.session.logits();
        let token = sampler.sample(logits);
        sampler.accept(token);
        if let Some(why) = sampler.mask_failure() {
            // The token is dropped; later calls fail the same way (the failure stays).
            return Err(GrammarError::failed(why).into());
        }
        self.pending = Some(token);
        Ok(sampler.step_for(logits, token))
    }
}
