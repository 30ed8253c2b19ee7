//! `NativeSession`: evaluation and generation steps run on the libuv thread pool (the engine's
//! own pool does the math), so the JS event loop stays free while a model computes.

use crate::error::{keep, reject, Failure};
use llmplayer_core::runtime::{sampling_params_from_json, RuntimeError, RuntimeSession};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

#[napi]
pub struct NativeSession {
    inner: Arc<Mutex<RuntimeSession>>,
    /// Mirrors `n_past` after every task, so reading it never waits on a running task.
    n_past: Arc<AtomicU32>,
    n_ctx: u32,
    /// Fixed at creation, so reading them never waits on a running task either.
    kv_type: &'static str,
    kv_bytes_per_token: u32,
}

impl NativeSession {
    pub fn new(s: RuntimeSession) -> NativeSession {
        let n_ctx = s.n_ctx() as u32;
        let (kv_type, kv_bytes_per_token) = (s.kv_type(), s.kv_bytes_per_token() as u32);
        NativeSession {
            inner: Arc::new(Mutex::new(s)),
            n_past: Arc::new(AtomicU32::new(0)),
            n_ctx,
            kv_type,
            kv_bytes_per_token,
        }
    }
}

pub enum Op {
    Evaluate { tokens: Vec<u32>, all_logits: bool },
    Begin { tokens: Vec<u32>, params: String },
    Next,
    NextStep,
}

pub enum Done {
    Logits(Vec<f32>),
    Count(u32),
    Step(NativeStep),
    Prompt(NativePromptStats),
}

/// What `begin` did with the prompt (see `llmplayer_core::runtime::PromptStats`).
#[napi(object)]
pub struct NativePromptStats {
    pub n_prompt: u32,
    /// Prompt tokens the engine kept from the cache (at most `nPrompt - 1`).
    pub n_reused: u32,
}

/// A token and its logprob (see `llmplayer_core::sampling::TokenLogprob`).
#[napi(object)]
pub struct NativeTokenLogprob {
    pub id: u32,
    pub logprob: f64,
}

/// One sampling step (see `llmplayer_core::sampling::Step`): `logprob` absent and
/// `topLogprobs` empty unless `begin`'s params asked for them.
#[napi(object)]
pub struct NativeStep {
    pub token: u32,
    pub logprob: Option<f64>,
    pub top_logprobs: Vec<NativeTokenLogprob>,
}

pub struct SessionTask {
    inner: Arc<Mutex<RuntimeSession>>,
    n_past: Arc<AtomicU32>,
    op: Option<Op>,
    failure: Option<Failure>,
}

impl Task for SessionTask {
    type Output = Done;
    type JsValue = Either4<Float32Array, u32, NativeStep, NativePromptStats>;

    fn compute(&mut self) -> Result<Done> {
        let mut s = self
            .inner
            .lock()
            .map_err(|_| Error::from_reason("session poisoned by an earlier panic"))?;
        let op = self
            .op
            .take()
            .ok_or_else(|| Error::from_reason("session task ran twice"))?;
        let done = run(&mut s, op);
        self.n_past.store(s.n_past() as u32, Ordering::Relaxed);
        done.map_err(|e| keep(&mut self.failure, e))
    }

    fn resolve(&mut self, _env: Env, done: Done) -> Result<Self::JsValue> {
        Ok(match done {
            Done::Logits(v) => Either4::A(Float32Array::new(v)),
            Done::Count(n) => Either4::B(n),
            Done::Step(step) => Either4::C(step),
            Done::Prompt(stats) => Either4::D(stats),
        })
    }

    fn reject(&mut self, env: Env, err: Error) -> Result<Self::JsValue> {
        reject(&mut self.failure, &env, err)
    }
}

fn run(s: &mut RuntimeSession, op: Op) -> std::result::Result<Done, RuntimeError> {
    match op {
        Op::Evaluate { tokens, all_logits } => Ok(Done::Logits(s.evaluate(&tokens, all_logits)?.to_vec())),
        Op::Begin { tokens, params } => {
            let stats = s.begin(&tokens, sampling_params_from_json(&params)?)?;
            Ok(Done::Prompt(NativePromptStats { n_prompt: stats.n_prompt as u32, n_reused: stats.n_reused as u32 }))
        }
        Op::Next => Ok(Done::Count(s.next()?.token)),
        Op::NextStep => {
            let step = s.next()?;
            Ok(Done::Step(NativeStep {
                token: step.token,
                logprob: step.logprob,
                top_logprobs: step
                    .top_logprobs
                    .iter()
                    .map(|t| NativeTokenLogprob { id: t.id, logprob: t.logprob })
                    .collect(),
            }))
        }
    }
}

#[napi]
impl NativeSession {
    fn task(&self, op: Op) -> AsyncTask<SessionTask> {
        AsyncTask::new(SessionTask {
            inner: Arc::clone(&self.inner),
            n_past: Arc::clone(&self.n_past),
            op: Some(op),
            failure: None,
        })
    }

    /// Evaluates `tokens` as the whole context; resolves to the logits (last or every row).
    #[napi(ts_return_type = "Promise<Float32Array>")]
    pub fn evaluate(&self, tokens: &[u32], all_logits: bool) -> AsyncTask<SessionTask> {
        self.task(Op::Evaluate {
            tokens: tokens.to_vec(),
            all_logits,
        })
    }

    /// Evaluates a prompt and prepares sampling (`params`: the SDK's sampling JSON);
    /// resolves to what it did with the prompt (how many tokens the cache already held).
    #[napi(ts_return_type = "Promise<NativePromptStats>")]
    pub fn begin(&self, tokens: &[u32], params: String) -> AsyncTask<SessionTask> {
        self.task(Op::Begin {
            tokens: tokens.to_vec(),
            params,
        })
    }

    /// Samples the next token; resolves to its id.
    #[napi(ts_return_type = "Promise<number>")]
    pub fn next(&self) -> AsyncTask<SessionTask> {
        self.task(Op::Next)
    }

    /// Samples the next token; resolves to it with its logprobs (when `begin` asked for them).
    #[napi(ts_return_type = "Promise<NativeStep>")]
    pub fn next_step(&self) -> AsyncTask<SessionTask> {
        self.task(Op::NextStep)
    }

    #[napi]
    pub fn n_ctx(&self) -> u32 {
        self.n_ctx
    }

    #[napi]
    pub fn kv_type(&self) -> String {
        self.kv_type.to_string()
    }

    #[napi]
    pub fn kv_bytes_per_token(&self) -> u32 {
        self.kv_bytes_per_token
    }

    /// Prompt tokens a `begin` would reuse (0 while a task holds the session).
    #[napi]
    pub fn reusable(&self, tokens: Uint32Array) -> u32 {
        self.inner.try_lock().map_or(0, |s| s.reusable(&tokens) as u32)
    }

    #[napi]
    pub fn n_past(&self) -> u32 {
        self.n_past.load(Ordering::Relaxed)
    }

    #[napi]
    pub fn clear(&self) {
        if let Ok(mut s) = self.inner.lock() {
            s.clear();
            self.n_past.store(0, Ordering::Relaxed);
        }
    }
}
