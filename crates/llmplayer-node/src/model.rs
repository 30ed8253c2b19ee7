//! `NativeModel`: a loaded GGUF (tokenizer, template, summary; the engine when present).
//! Loading runs on the libuv thread pool so the event loop stays free.

use crate::bytes::{map_file, ModelBytes};
use crate::error::{keep, reject, throw, Failure};
use crate::batcher::NativeBatcher;
use crate::session::NativeSession;
use llmplayer_core::batcher::BatchOptions;
use llmplayer_core::runtime::{RuntimeModel, RuntimeOptions};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::sync::Arc;

#[napi]
pub struct NativeModel {
    rt: Arc<RuntimeModel>,
    offload: Option<NativeOffload>,
}

/// What `gpuLayers` got (`llmplayer_opencl::OffloadReport`), or why the model runs on the CPU.
#[napi(object)]
#[derive(Clone)]
pub struct NativeOffload {
    pub device: Option<String>,
    pub layers: u32,
    pub output: bool,
    pub tensors: u32,
    /// Bytes of weights on the device (a JS number).
    pub bytes: f64,
    pub cpu_tensors: u32,
    pub cpu_types: Vec<String>,
    pub error: Option<String>,
}

#[napi(object)]
pub struct NativeLoadOptions {
    pub threads: Option<u32>,
    pub vocab_only: Option<bool>,
    /// Default KV cache type of sessions (validated by the core).
    pub kv_type: Option<String>,
    /// Attention rounded as llama.cpp's flash attention (`-fa on`).
    pub flash_attn: Option<bool>,
    /// Which llama.cpp x86 build's rounding to reproduce (`avx2` / `avx512`; validated by the core).
    pub rounding: Option<String>,
    /// Layers whose matrix products run on the OpenCL device (llama.cpp's `-ngl`; 0 or absent: none).
    pub gpu_layers: Option<u32>,
    /// Which OpenCL device (index or part of its name; see `listDevices`).
    pub device: Option<String>,
}

pub enum Source {
    Path(String),
    Bytes(Vec<u8>),
}

/// The OpenCL offload a load asked for: layers and device selector.
type OffloadAsk = Option<(usize, Option<String>)>;

pub struct LoadTask {
    job: Option<(Source, RuntimeOptions, OffloadAsk)>,
    failure: Option<Failure>,
}

impl Task for LoadTask {
    type Output = NativeModel;
    type JsValue = NativeModel;
    fn compute(&mut self) -> Result<NativeModel> {
        let (source, mut opts, ask) = self.job.take().ok_or_else(|| Error::from_reason("model load task ran twice"))?;
        let bytes = match source {
            Source::Path(p) => map_file(&p)?,
            Source::Bytes(b) => ModelBytes::Owned(b),
        };
        let offload = ask.filter(|(n, _)| *n > 0 && !opts.vocab_only).map(|(n, device)| {
            let o = llmplayer_opencl::offload_or_cpu(bytes.as_ref(), n, device.as_deref());
            opts.offload = o.offload;
            let r = o.report.unwrap_or_default();
            NativeOffload {
                device: (!r.device.is_empty()).then_some(r.device),
                layers: r.layers as u32,
                output: r.output,
                tensors: r.tensors as u32,
                bytes: r.bytes as f64,
                cpu_tensors: r.cpu_tensors as u32,
                cpu_types: r.cpu_types.iter().map(|t| t.name().to_string()).collect(),
                error: o.error,
            }
        });
        let rt = RuntimeModel::load(Arc::new(bytes), &opts).map_err(|e| keep(&mut self.failure, e))?;
        Ok(NativeModel { rt: Arc::new(rt), offload })
    }
    fn resolve(&mut self, _env: Env, model: NativeModel) -> Result<NativeModel> {
        Ok(model)
    }
    fn reject(&mut self, env: Env, err: Error) -> Result<NativeModel> {
        reject(&mut self.failure, &env, err)
    }
}

fn runtime_options(o: Option<NativeLoadOptions>) -> (RuntimeOptions, OffloadAsk) {
    let o = o.unwrap_or(NativeLoadOptions { threads: None, vocab_only: None, kv_type: None, flash_attn: None, rounding: None, gpu_layers: None, device: None });
    let threads = o.threads.map_or_else(default_threads, |t| t.max(1) as usize);
    let opts = RuntimeOptions { n_threads: Some(threads), vocab_only: o.vocab_only.unwrap_or(false), kv_type: o.kv_type, flash_attn: o.flash_attn.unwrap_or(false), rounding: o.rounding, offload: None };
    (opts, o.gpu_layers.map(|n| (n as usize, o.device)))
}

/// Physical cores (as llama.cpp defaults: SMT siblings share the vector units and the memory
/// bandwidth that decode is bound by), capped by what this process may use (affinity, cgroup
/// quota), which the physical count alone ignores in containers.
fn default_threads() -> usize {
    let allowed = std::thread::available_parallelism().map_or(1, |n| n.get());
    num_cpus::get_physical().clamp(1, allowed)
}

/// Loads the GGUF at `path` (memory-mapped) off the JS thread.
#[napi(ts_return_type = "Promise<NativeModel>")]
pub fn load_model_file(path: String, options: Option<NativeLoadOptions>) -> AsyncTask<LoadTask> {
    let (opts, ask) = runtime_options(options);
    AsyncTask::new(LoadTask { job: Some((Source::Path(path), opts, ask)), failure: None })
}

/// Loads GGUF bytes (copied out of the JS buffer) off the JS thread.
#[napi(ts_return_type = "Promise<NativeModel>")]
pub fn load_model_bytes(bytes: &[u8], options: Option<NativeLoadOptions>) -> AsyncTask<LoadTask> {
    let (opts, ask) = runtime_options(options);
    AsyncTask::new(LoadTask { job: Some((Source::Bytes(bytes.to_vec()), opts, ask)), failure: None })
}

/// The perplexity of a token list (see `RuntimeModel::perplexity`).
#[napi(object)]
pub struct NativePerplexity {
    pub ppl: f64,
    pub nll: f64,
    pub n_predictions: u32,
}

pub struct PerplexityTask {
    rt: Arc<RuntimeModel>,
    tokens: Vec<u32>,
    n_ctx: Option<u32>,
    kv_type: Option<String>,
    failure: Option<Failure>,
}

impl Task for PerplexityTask {
    type Output = NativePerplexity;
    type JsValue = NativePerplexity;
    fn compute(&mut self) -> Result<NativePerplexity> {
        let p = self
            .rt
            .perplexity(&self.tokens, self.n_ctx.map(|n| n as usize), self.kv_type.as_deref())
            .map_err(|e| keep(&mut self.failure, e))?;
        Ok(NativePerplexity { ppl: p.ppl, nll: p.nll, n_predictions: p.n_predictions as u32 })
    }
    fn resolve(&mut self, _env: Env, p: NativePerplexity) -> Result<NativePerplexity> {
        Ok(p)
    }
    fn reject(&mut self, env: Env, err: Error) -> Result<NativePerplexity> {
        reject(&mut self.failure, &env, err)
    }
}

pub struct EmbedTask {
    rt: Arc<RuntimeModel>,
    tokens: Vec<u32>,
    pooling: Option<String>,
    n_ctx: u32,
    failure: Option<Failure>,
}

impl Task for EmbedTask {
    type Output = Vec<f32>;
    type JsValue = Float32Array;
    fn compute(&mut self) -> Result<Vec<f32>> {
        self.rt
            .embed(&self.tokens, self.pooling.as_deref(), self.n_ctx as usize)
            .map_err(|e| keep(&mut self.failure, e))
    }
    fn resolve(&mut self, _env: Env, v: Vec<f32>) -> Result<Float32Array> {
        Ok(Float32Array::new(v))
    }
    fn reject(&mut self, env: Env, err: Error) -> Result<Float32Array> {
        reject(&mut self.failure, &env, err)
    }
}

#[napi]
impl NativeModel {
    /// What `gpuLayers` got: `null` when none were asked for.
    #[napi(getter)]
    pub fn offload(&self) -> Option<NativeOffload> {
        self.offload.clone()
    }
    /// The pooled embedding of a token list, off the JS thread (see `RuntimeModel::embed`;
    /// not normalized).
    #[napi(ts_return_type = "Promise<Float32Array>")]
    pub fn embed(&self, tokens: &[u32], pooling: Option<String>, n_ctx: u32) -> AsyncTask<EmbedTask> {
        AsyncTask::new(EmbedTask { rt: Arc::clone(&self.rt), tokens: tokens.to_vec(), pooling, n_ctx, failure: None })
    }
    /// Compiles a grammar (JSON) and drops it; throws `GRAMMAR_*` (see `RuntimeModel::check_grammar`).
    #[napi]
    pub fn check_grammar(&self, env: Env, grammar_json: String) -> Result<()> {
        self.rt.check_grammar(&grammar_json).map_err(|e| throw(&env, e))
    }
    /// The pooling `embed` uses when given none (throws when the model's own is unsupported).
    #[napi]
    pub fn default_pooling(&self, env: Env) -> Result<String> {
        Ok(self.rt.default_pooling().map_err(|e| throw(&env, e))?.to_string())
    }
    #[napi(ts_return_type = "Promise<NativePerplexity>")]
    pub fn perplexity(&self, tokens: &[u32], n_ctx: Option<u32>, kv_type: Option<String>) -> AsyncTask<PerplexityTask> {
        AsyncTask::new(PerplexityTask { rt: Arc::clone(&self.rt), tokens: tokens.to_vec(), n_ctx, kv_type, failure: None })
    }

    #[napi]
    pub fn create_session(&self, env: Env, n_ctx: u32, kv_type: Option<String>) -> Result<NativeSession> {
        let s = self.rt.new_session(n_ctx as usize, kv_type.as_deref()).map_err(|e| throw(&env, e))?;
        Ok(NativeSession::new(s))
    }
    /// A continuous-batching scheduler of `nSeq` sequences of up to `nCtx` positions sharing
    /// `kvSize` KV positions (default `nCtx * nSeq`).
    #[napi]
    pub fn create_batcher(&self, env: Env, n_seq: u32, n_ctx: u32, kv_size: Option<u32>, kv_type: Option<String>, n_batch: Option<u32>) -> Result<NativeBatcher> {
        let opts = BatchOptions { n_seq: n_seq as usize, n_ctx: n_ctx as usize, kv_size: kv_size.map(|n| n as usize), kv_type, n_batch: n_batch.map(|n| n as usize) };
        let b = self.rt.new_batcher(&opts).map_err(|e| throw(&env, e))?;
        Ok(NativeBatcher::new(b))
    }
    #[napi]
    pub fn n_ctx_train(&self) -> Option<u32> {
        self.rt.n_ctx_train().map(|n| n as u32)
    }
    #[napi]
    pub fn info_json(&self) -> String {
        self.rt.text.info_json.clone()
    }
    #[napi]
    pub fn chat_template(&self) -> Option<String> {
        self.rt.text.chat_template.clone()
    }
    #[napi]
    pub fn has_weights(&self) -> bool {
        self.rt.text.has_weights
    }
    #[napi]
    pub fn n_vocab(&self) -> u32 {
        self.rt.text.tokenizer.n_vocab() as u32
    }
    #[napi]
    pub fn bos(&self) -> Option<u32> {
        self.rt.text.tokenizer.bos()
    }
    #[napi]
    pub fn eos(&self) -> Option<u32> {
        self.rt.text.tokenizer.eos()
    }
    #[napi]
    pub fn eog_ids(&self) -> Uint32Array {
        Uint32Array::new(self.rt.text.tokenizer.eog_ids().to_vec())
    }
    #[napi]
    pub fn tokenize(&self, text: String, add_special: bool, parse_special: bool) -> Uint32Array {
        Uint32Array::new(self.rt.text.tokenize(&text, add_special, parse_special))
    }
    /// `plain`: flat UTF-8 byte ranges where control tokens are not parsed.
    #[napi]
    pub fn tokenize_with_plain(&self, text: String, add_special: bool, plain: &[u32]) -> Uint32Array {
        Uint32Array::new(self.rt.text.tokenize_with_plain(&text, add_special, plain))
    }
    #[napi]
    pub fn detokenize(&self, ids: &[u32], special: bool) -> Buffer {
        self.rt.text.detokenize(ids, special).into()
    }
    #[napi]
    pub fn token_piece(&self, id: u32, special: bool) -> Buffer {
        self.rt.text.tokenizer.token_to_piece(id, special).to_vec().into()
    }
}
