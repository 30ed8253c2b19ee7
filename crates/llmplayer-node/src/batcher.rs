//! `NativeBatcher`: the continuous-batching scheduler (`llmplayer_core::batcher`). Steps run on
//! the libuv thread pool; requests and finishes arrive on the JS thread meanwhile, so they go
//! through an inbox the next step drains (a call never waits for a running step).

use crate::error::{keep, reject, throw, Failure};
use crate::session::NativeTokenLogprob;
use llmplayer_core::batcher::{BatchLimits, BatchStats, Batcher, Event, Request, RequestId};
use llmplayer_core::runtime::sampling_params_from_json;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Inbox {
    submit: Vec<Request>,
    finish: Vec<RequestId>,
}

#[napi]
pub struct NativeBatcher {
    /// None once freed (the KV cache and the model's reference go at once, not at GC).
    inner: Arc<Mutex<Option<Batcher>>>,
    inbox: Arc<Mutex<Inbox>>,
    /// Mirrors the scheduler's figures after every step.
    stats: Arc<Mutex<BatchStats>>,
    limits: BatchLimits,
    next_id: AtomicU32,
    freed: Arc<AtomicBool>,
}

impl NativeBatcher {
    pub fn new(b: Batcher) -> NativeBatcher {
        let (limits, stats) = (b.limits(), b.stats());
        NativeBatcher {
            inner: Arc::new(Mutex::new(Some(b))),
            inbox: Arc::new(Mutex::new(Inbox::default())),
            stats: Arc::new(Mutex::new(stats)),
            limits,
            next_id: AtomicU32::new(1),
            freed: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// One thing a step did for one request (see `llmplayer_core::batcher::Event`): `kind` is
/// `started` (with `nPrompt`, `nReused`), `token` (with `token`, and `logprob` /
/// `topLogprobs` when asked for), `full` (its `max_tokens` or the context used up) or `error`
/// (with `code`, `message`: its grammar failed; the request is gone).
#[napi(object)]
pub struct NativeBatchEvent {
    pub id: u32,
    pub kind: String,
    pub token: Option<u32>,
    pub logprob: Option<f64>,
    pub top_logprobs: Option<Vec<NativeTokenLogprob>>,
    pub n_prompt: Option<u32>,
    pub n_reused: Option<u32>,
    /// `error` events: the engine error's code and message (a grammar that failed mid-way).
    pub code: Option<String>,
    pub message: Option<String>,
}

/// The scheduler's figures (see `llmplayer_core::batcher::BatchStats`).
#[napi(object)]
pub struct NativeBatchStats {
    pub active: u32,
    pub waiting: u32,
    pub kv_size: u32,
    pub kv_active: u32,
    pub kv_allocated: u32,
    pub kv_bytes: f64,
}

fn event(e: &Event) -> NativeBatchEvent {
    let base = |id: RequestId, kind: &str| NativeBatchEvent { id: id as u32, kind: kind.into(), token: None, logprob: None, top_logprobs: None, n_prompt: None, n_reused: None, code: None, message: None };
    match e {
        Event::Started { id, n_prompt, n_reused } => NativeBatchEvent { n_prompt: Some(*n_prompt as u32), n_reused: Some(*n_reused as u32), ..base(*id, "started") },
        Event::Token { id, token, logprob, top_logprobs } => NativeBatchEvent {
            token: Some(*token),
            logprob: *logprob,
            top_logprobs: Some(top_logprobs.iter().map(|t| NativeTokenLogprob { id: t.id, logprob: t.logprob }).collect()),
            ..base(*id, "token")
        },
        Event::Full { id } => base(*id, "full"),
        Event::Failed { id, code, message } => NativeBatchEvent { code: Some(code.clone()), message: Some(message.clone()), ..base(*id, "error") },
    }
}

pub struct StepTask {
    inner: Arc<Mutex<Option<Batcher>>>,
    inbox: Arc<Mutex<Inbox>>,
    stats: Arc<Mutex<BatchStats>>,
    freed: Arc<AtomicBool>,
    failure: Option<Failure>,
}

impl Task for StepTask {
    type Output = Vec<NativeBatchEvent>;
    type JsValue = Vec<NativeBatchEvent>;

    fn compute(&mut self) -> Result<Vec<NativeBatchEvent>> {
        let mut guard = self.inner.lock().map_err(|_| Error::from_reason("batcher poisoned by an earlier panic"))?;
        let b = guard.as_mut().ok_or_else(|| Error::from_reason("the batcher was freed"))?;
        {
            let mut inbox = self.inbox.lock().map_err(|_| Error::from_reason("batcher inbox poisoned"))?;
            inbox.submit.drain(..).for_each(|r| b.submit(r));
            inbox.finish.drain(..).for_each(|id| b.finish(id));
        }
        let result = b.step().map(|events| events.iter().map(event).collect());
        if let Ok(mut s) = self.stats.lock() {
            *s = b.stats();
        }
        if self.freed.load(Ordering::Relaxed) {
            *guard = None; // freed while this step ran
        }
        result.map_err(|e| keep(&mut self.failure, e))
    }

    fn resolve(&mut self, _env: Env, events: Vec<NativeBatchEvent>) -> Result<Vec<NativeBatchEvent>> {
        Ok(events)
    }

    fn reject(&mut self, env: Env, err: Error) -> Result<Vec<NativeBatchEvent>> {
        reject(&mut self.failure, &env, err)
    }
}

#[napi]
impl NativeBatcher {
    /// Checks a request (the errors a session's `begin` gives, or `KV_BUDGET_EXCEEDED`) and
    /// queues it for the next step; returns its id.
    #[napi]
    pub fn add(&self, env: Env, tokens: &[u32], params: String, max_tokens: u32) -> Result<u32> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let params = sampling_params_from_json(&params).map_err(|e| throw(&env, e))?;
        let req = self.limits.request(id as RequestId, tokens.to_vec(), params, max_tokens as usize).map_err(|e| throw(&env, e))?;
        self.inbox.lock().map_err(|_| Error::from_reason("batcher inbox poisoned"))?.submit.push(req);
        Ok(id)
    }

    /// Ends a request, queued or running, at the next step (its sequence is free from then).
    #[napi]
    pub fn finish(&self, id: u32) -> Result<()> {
        self.inbox.lock().map_err(|_| Error::from_reason("batcher inbox poisoned"))?.finish.push(id as RequestId);
        Ok(())
    }

    /// Admits what fits, runs one forward pass over every running request, samples them.
    #[napi(ts_return_type = "Promise<NativeBatchEvent[]>")]
    pub fn step(&self) -> AsyncTask<StepTask> {
        AsyncTask::new(StepTask {
            inner: Arc::clone(&self.inner),
            inbox: Arc::clone(&self.inbox),
            stats: Arc::clone(&self.stats),
            freed: Arc::clone(&self.freed),
            failure: None,
        })
    }

    /// The figures after the last step (requests added since count as waiting).
    #[napi]
    pub fn stats(&self) -> NativeBatchStats {
        let s = self.stats.lock().map(|s| *s).unwrap_or_default();
        let queued = self.inbox.lock().map_or(0, |i| i.submit.len());
        NativeBatchStats {
            active: s.active as u32,
            waiting: (s.waiting + queued) as u32,
            kv_size: s.kv_size as u32,
            kv_active: s.kv_active as u32,
            kv_allocated: s.kv_allocated as u32,
            kv_bytes: s.kv_bytes as f64,
        }
    }

    /// Frees the scheduler (its KV cache): now, or when the step running ends (the JS thread
    /// never waits for one). Later steps fail.
    #[napi]
    pub fn free(&self) {
        self.freed.store(true, Ordering::Relaxed);
        if let Ok(mut b) = self.inner.try_lock() {
            *b = None;
        }
    }
}
