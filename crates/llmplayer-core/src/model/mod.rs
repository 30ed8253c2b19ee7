//! Transformer engines over GGUF weights.
//!
//! * [`arch`]: the supported `general.architecture` names, one file each that reads its keys
//!   and composes its layers; [`names`]: every tensor name; [`hparams`]: hyperparameters.
//! * `blocks/`: the shared blocks layers are made of (GQA attention, gated FFN, norms);
//!   `forward.rs` runs a batch of tokens through them with the shared [`ops`].
//! * [`Session`] owns the KV cache (`kv.rs`: f32, f16 or q8_0, [`KvType`]) and all scratch
//!   (allocated once); `eval` reuses the cached prefix of a token list, prefills the rest in
//!   batches, and decodes one token with the mat-vec path.
//!
//! Ownership: a [`Model`] records byte ranges into the file, never slices, so it can either
//! borrow the bytes ([`Model::load`], lifetime `'a`) or own them behind an `Arc`
//! ([`Model::from_shared`], `Model<'static>`: an mmap natively, a `Vec<u8>` in wasm).
//! Sessions borrow a model or hold an `Arc` of it ([`Model::new_shared_session`]).

pub mod arch;
pub mod hparams;
pub mod names;
pub mod ops;
pub mod perplexity;

mod batch;
mod blocks;
mod device;
mod forward;
mod kv;
mod memory;
pub mod offload;
mod session;
mod weights;

pub use arch::Arch;
pub use hparams::HParams;
pub use batch::Batch;
pub use kv::{window_cells, KvType};
pub use memory::SeqId;
pub use ops::expf::Rounding;
pub use session::{Pooling, Session, DEFAULT_UBATCH};

use crate::gguf::{GgufError, GgufFile};
use crate::parallel::ThreadPool;
use crate::GgmlType;
use std::sync::Arc;
use weights::{Bytes, Loader};

/// Why a model could not be loaded or a session could not evaluate.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelError {
    Gguf(GgufError),
    /// `general.architecture` is missing.
    NoArchitecture,
    UnsupportedArch(String),
    MissingKey(String),
    BadKey { key: String, reason: String },
    MissingTensor(String),
    BadTensor { name: String, reason: String },
    UnsupportedType { name: String, ty: GgmlType },
    /// A token id outside the vocabulary.
    BadToken { token: u32, n_vocab: usize },
    /// More tokens than the session's context holds.
    ContextFull { n_tokens: usize, n_ctx: usize },
    EmptyInput,
    /// A KV cache type that is unknown or that this model's head sizes cannot use.
    KvTypeUnsupported { kv_type: String, reason: String },
    /// A `rounding` name other than `avx2` / `avx512`.
    RoundingUnknown(String),
    /// A sequence id outside the session's `0..n_seq`.
    BadSequence { seq: usize, n_seq: usize },
    /// A batch row whose position does not continue its sequence.
    BadPosition { seq: usize, pos: usize, expected: usize },
    /// A sequence cannot be cut at `n`: some layer's memory can only return to `keepable`.
    CannotTruncate { seq: usize, n: usize, keepable: usize },
    /// An embedding pooling that is unknown or that this engine cannot compute.
    PoolingUnsupported(String),
}

impl ModelError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ModelError::Gguf(_) => "gguf",
            ModelError::NoArchitecture => "no_architecture",
            ModelError::UnsupportedArch(_) => "unsupported_architecture",
            ModelError::MissingKey(_) => "missing_key",
            ModelError::BadKey { .. } => "bad_key",
            ModelError::MissingTensor(_) => "missing_tensor",
            ModelError::BadTensor { .. } => "bad_tensor",
            ModelError::UnsupportedType { .. } => "unsupported_tensor_type",
            ModelError::BadToken { .. } => "bad_token",
            ModelError::ContextFull { .. } => "context_full",
            ModelError::EmptyInput => "empty_input",
            ModelError::KvTypeUnsupported { .. } => "kv_type_unsupported",
            ModelError::RoundingUnknown(_) => "rounding_unknown",
            ModelError::BadSequence { .. } => "bad_sequence",
            ModelError::BadPosition { .. } => "bad_position",
            ModelError::CannotTruncate { .. } => "cannot_truncate",
            ModelError::PoolingUnsupported(_) => "pooling_unsupported",
        }
    }
}

impl std::fmt::Display for ModelError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelError::Gguf(e) => write!(f, "{e}"),
            ModelError::NoArchitecture => write!(f, "general.architecture is missing"),
            ModelError::UnsupportedArch(a) => write!(f, "architecture {a} is not supported yet"),
            ModelError::MissingKey(k) => write!(f, "required metadata key {k} is missing"),
            ModelError::BadKey { key, reason } => write!(f, "metadata key {key}: {reason}"),
            ModelError::MissingTensor(t) => write!(f, "required tensor {t} is missing"),
            ModelError::BadTensor { name, reason } => write!(f, "tensor {name}: {reason}"),
            ModelError::UnsupportedType { name, ty } => write!(f, "tensor {name}: type {ty} has no kernels"),
            ModelError::BadToken { token, n_vocab } => write!(f, "token id {token} is outside the vocabulary ({n_vocab})"),
            ModelError::ContextFull { n_tokens, n_ctx } => {
                write!(f, "{n_tokens} tokens do not fit the session context of {n_ctx}")
            }
            ModelError::EmptyInput => write!(f, "no tokens to evaluate"),
            ModelError::KvTypeUnsupported { kv_type, reason } => write!(f, "KV cache type \"{kv_type}\": {reason}"),
            ModelError::RoundingUnknown(r) => write!(f, "rounding \"{r}\": expected avx2 or avx512"),
            ModelError::BadSequence { seq, n_seq } => write!(f, "sequence {seq} is outside this session's {n_seq}"),
            ModelError::BadPosition { seq, pos, expected } => {
                write!(f, "sequence {seq}: position {pos} does not continue it (next is {expected})")
            }
            ModelError::CannotTruncate { seq, n, keepable } => {
                write!(f, "sequence {seq} cannot be cut at {n} positions: its memory can return to {keepable}")
            }
            ModelError::PoolingUnsupported(why) => write!(f, "pooling {why}"),
        }
    }
}

impl std::error::Error for ModelError {}

impl From<GgufError> for ModelError {
    fn from(e: GgufError) -> Self {
        ModelError::Gguf(e)
    }
}

/// Load-time choices.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Threads for matmuls and attention (None: the machine's available parallelism; wasm32
    /// always runs on the calling thread).
    pub n_threads: Option<usize>,
    /// Share an existing pool instead of spawning one (takes precedence over `n_threads`).
    pub pool: Option<Arc<ThreadPool>>,
    /// Dequantize every quantized matrix to f32 at load and multiply in f32 (no activation
    /// quantization): the reference path llama.cpp's `logits_prefill_dequantized_f32` uses.
    pub dequantize_to_f32: bool,
    /// Which llama.cpp x86 build's rounding to reproduce where builds differ (the vector exp
    /// of softmax and SiLU; see `ops::expf`). Default AVX2.
    pub rounding: Rounding,
    /// A device that computes the products of the weights it holds ([`offload`]).
    pub offload: Option<offload::SharedOffload>,
}

/// A loaded model: hyperparameters, tensor bindings and the file bytes.
pub struct Model<'a> {
    bytes: Bytes<'a>,
    pub(crate) hp: HParams,
    pub(crate) net: blocks::Net,
    pool: Arc<ThreadPool>,
    pub(crate) rounding: Rounding,
    offload: Option<offload::SharedOffload>,
}

struct Parts {
    hp: HParams,
    net: blocks::Net,
}

fn build(f: &GgufFile<'_>, opts: &LoadOptions) -> Result<Parts, ModelError> {
    let name = f.architecture().ok_or(ModelError::NoArchitecture)?;
    let arch = Arch::from_str(name)?;
    // n_vocab is the embedding's row count (llama.cpp checks it against the vocabulary).
    let embd = names::Global::TokenEmbd.name(names::Suffix::Weight);
    let te = f.tensor(&embd).ok_or_else(|| ModelError::MissingTensor(embd.clone()))?;
    let n_vocab = te.ne(1) as usize;
    let hp = HParams::from_gguf(f, arch, n_vocab)?;
    let loader = Loader { f, dequantize: opts.dequantize_to_f32 };
    let net = (arch.def().load)(&loader, &hp)?;
    Ok(Parts { hp, net })
}

fn make_pool(opts: &LoadOptions) -> Arc<ThreadPool> {
    if let Some(p) = &opts.pool {
        return Arc::clone(p);
    }
    Arc::new(match opts.n_threads {
        Some(n) => ThreadPool::new(n),
        None => ThreadPool::with_available_parallelism(),
    })
}

impl<'a> Model<'a> {
    /// Loads a model whose weights stay in `f`'s bytes (borrowed for `'a`).
    pub fn load(f: &GgufFile<'a>) -> Result<Model<'a>, ModelError> {
        Model::load_with(f, &LoadOptions::default())
    }

    pub fn load_with(f: &GgufFile<'a>, opts: &LoadOptions) -> Result<Model<'a>, ModelError> {
        let p = build(f, opts)?;
        Ok(Model { bytes: Bytes::Borrowed(f.bytes()), hp: p.hp, net: p.net, pool: make_pool(opts), rounding: opts.rounding, offload: opts.offload.clone() })
    }

    pub fn arch(&self) -> Arch {
        self.hp.arch
    }
    pub fn hparams(&self) -> &HParams {
        &self.hp
    }
    pub fn n_vocab(&self) -> usize {
        self.hp.n_vocab
    }
    pub fn n_ctx_train(&self) -> usize {
        self.hp.n_ctx_train
    }
    /// Which llama.cpp build's rounding this model reproduces ([`LoadOptions::rounding`]).
    pub fn rounding(&self) -> Rounding {
        self.rounding
    }
    pub fn pool(&self) -> &Arc<ThreadPool> {
        &self.pool
    }
    /// Replaces the pool new sessions use.
    pub fn set_pool(&mut self, pool: Arc<ThreadPool>) {
        self.pool = pool;
    }

    pub(crate) fn file(&self) -> &[u8] {
        self.bytes.get()
    }

    /// The device that takes this model's offloaded products, if any.
    pub(crate) fn offload(&self) -> Option<&dyn offload::Offload> {
        self.offload.as_ref().map(|o| &*o.0)
    }

    /// A session with an f32 KV cache of `n_ctx` positions, borrowing this model.
    pub fn new_session(&self, n_ctx: usize) -> Session<'_> {
        Session::new(session::ModelRef::Borrowed(self), n_ctx, 1, KvType::F32, false)
    }

    /// A session with a KV cache of `n_ctx` positions of type `kv`; fails when the model's
    /// head sizes cannot use that type ([`KvType::check`]).
    pub fn new_session_kv(&self, n_ctx: usize, kv: KvType) -> Result<Session<'_>, ModelError> {
        kv.check(&self.hp)?;
        Ok(Session::new(session::ModelRef::Borrowed(self), n_ctx, 1, kv, false))
    }

    /// A session holding `n_seq` sequences of up to `n_ctx` positions each, which
    /// [`Session::decode`] runs together in one forward pass ([`Batch`]).
    pub fn new_session_seqs(&self, n_ctx: usize, n_seq: usize, kv: KvType) -> Result<Session<'_>, ModelError> {
        kv.check(&self.hp)?;
        Ok(Session::new(session::ModelRef::Borrowed(self), n_ctx, n_seq, kv, false))
    }
}

impl Model<'static> {
    /// Loads a model that owns its bytes (an mmap, a `Vec<u8>`...).
    pub fn from_shared(bytes: Arc<dyn AsRef<[u8]> + Send + Sync>, opts: &LoadOptions) -> Result<Model<'static>, ModelError> {
        let p = {
            let f = GgufFile::parse((*bytes).as_ref())?;
            build(&f, opts)?
        };
        Ok(Model { bytes: Bytes::Shared(bytes), hp: p.hp, net: p.net, pool: make_pool(opts), rounding: opts.rounding, offload: opts.offload.clone() })
    }

    /// A session that keeps the model alive (for bindings that hand sessions out), with a
    /// KV cache of type `kv` (checked as in [`Model::new_session_kv`]).
    pub fn new_shared_session(model: &Arc<Model<'static>>, n_ctx: usize, kv: KvType) -> Result<Session<'static>, ModelError> {
        kv.check(&model.hp)?;
        Ok(Session::new(session::ModelRef::Shared(Arc::clone(model)), n_ctx, 1, kv, false))
    }

    /// A session of `n_seq` sequences whose KV cache starts empty and grows per sequence with
    /// what it holds or reserves ([`Session::reserve`]): the batch scheduler's.
    pub fn new_shared_batch_session(model: &Arc<Model<'static>>, n_ctx: usize, n_seq: usize, kv: KvType) -> Result<Session<'static>, ModelError> {
        kv.check(&model.hp)?;
        Ok(Session::new(session::ModelRef::Shared(Arc::clone(model)), n_ctx, n_seq, kv, true))
    }
}

impl std::fmt::Debug for Model<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model").field("arch", &self.hp.arch).field("n_layer", &self.hp.n_layer).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_can_share_models_and_move_sessions() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>() {}
        send_sync::<Model<'static>>();
        send_sync::<Arc<Model<'static>>>();
        send::<Session<'static>>();
    }
}
