//! Continuous batching (llama-server's slots, vLLM's scheduler): many generations share one
//! session of `n_seq` sequences, and every [`Batcher::step`] runs one forward pass holding the
//! next token of each decoding sequence plus chunks of prompts being prefilled, then samples
//! each sequence with its own sampler. Decode is memory-bound, so reading the weights once for
//! eight rows costs about what it costs for one.
//!
//! * **KV budget.** The session's cache starts empty; a request is admitted when a sequence
//!   is free and its rows (prompt plus `max_tokens`, at most `n_ctx`) fit in `kv_size`
//!   positions over all sequences. Rows are allocated at admission, so a running request
//!   never runs out. A finished request's sequence keeps its cells as a prefix cache until a
//!   new request needs the room (least recently used first). Requests wait in arrival order.
//! * **Prefix reuse.** A request takes the free sequence whose cells share the longest
//!   prefix with its prompt (as far as its memory can return there); when another sequence,
//!   running or not, holds a longer one, its cells are copied (KV-only models whose layers
//!   have dropped nothing). Either way the request's `n_reused` is what the engine kept.
//! * **Chunked prefill.** Decode rows go first; prompts fill the rest of the `n_batch` rows,
//!   and while any sequence decodes, at most [`PREFILL_BESIDE_DECODE`] of them per step, so a
//!   long new prompt delays the running streams by one short chunk per step, not its length.
//!
//! Every row's result is independent of the rows beside it, so a batched generation is the
//! one it would have been alone (the tests check greedy outputs token for token).

use crate::model::{Batch, KvType, SeqId, Session, DEFAULT_UBATCH};
use crate::grammar::Grammars;
use crate::runtime::{RuntimeError, RuntimeModel};
use std::sync::Arc;
use crate::sampling::{Sampler, SamplingParams, TokenLogprob};
use std::collections::VecDeque;

/// Prompt rows a step takes while other sequences decode. A step's time grows with its rows
/// (on a CPU the matmuls are compute-bound well before 512 rows): 64 keeps the running streams'
/// token gaps within a few decode steps' time while a long prompt is prefilled, and is enough
/// rows for the mat-mat kernels to run at full speed. With nothing decoding, prompts take the
/// whole step.
pub const PREFILL_BESIDE_DECODE: usize = 64;

/// The caller's name for a request (the bindings number them).
pub type RequestId = u64;

/// How a scheduler is sized.
#[derive(Clone, Debug, Default)]
pub struct BatchOptions {
    /// Sequences decoded together (at least 1).
    pub n_seq: usize,
    /// Positions each sequence can hold.
    pub n_ctx: usize,
    /// Positions of KV cache over all sequences (None: `n_ctx * n_seq`).
    pub kv_size: Option<usize>,
    /// Cache type name (None: the model's default).
    pub kv_type: Option<String>,
    /// Rows per step (None: 512).
    pub n_batch: Option<usize>,
}

/// What a request is checked against (and its grammar compiled with); cheap to clone, so a
/// binding can check requests on its own thread while a step runs.
#[derive(Clone, Debug)]
pub struct BatchLimits {
    pub n_ctx: usize,
    pub n_vocab: usize,
    pub kv_size: usize,
    pub grammars: Arc<Grammars>,
}

/// A checked request, ready for [`Batcher::submit`].
pub struct Request {
    id: RequestId,
    prompt: Vec<u32>,
    sampler: Sampler,
    /// positions to reserve: prompt plus `max_tokens`, at most `n_ctx`
    need: usize,
    /// positions it may evaluate: prompt plus all but the last of `max_tokens` (the last
    /// sampled token is never evaluated), at most `n_ctx`
    end: usize,
}

impl BatchLimits {
    /// Checks a prompt, its sampling parameters and its room: the same errors a session's
    /// `begin` gives, plus `KV_BUDGET_EXCEEDED` when even an empty cache could not hold it.
    pub fn request(&self, id: RequestId, prompt: Vec<u32>, params: SamplingParams, max_tokens: usize) -> Result<Request, RuntimeError> {
        if prompt.is_empty() {
            return Err(RuntimeError::EmptyPrompt);
        }
        if prompt.len() >= self.n_ctx {
            return Err(RuntimeError::PromptTooLong { n_prompt: prompt.len(), n_ctx: self.n_ctx });
        }
        if let Some(&t) = prompt.iter().find(|&&t| t as usize >= self.n_vocab) {
            return Err(crate::model::ModelError::BadToken { token: t, n_vocab: self.n_vocab }.into());
        }
        let max_tokens = max_tokens.max(1);
        let need = (prompt.len() + max_tokens).min(self.n_ctx);
        let end = (prompt.len() + max_tokens - 1).min(self.n_ctx);
        if need > self.kv_size {
            return Err(RuntimeError::KvBudget { need, kv_size: self.kv_size });
        }
        let mask = params.grammar.as_ref().map(|g| self.grammars.compile(g)).transpose()?;
        let mut sampler = Sampler::new(params, self.n_vocab)?;
        prompt.iter().for_each(|&t| sampler.accept(t));
        // After the prompt: the grammar sees the generated tokens only.
        if let Some(mask) = mask {
            sampler.push_mask(Box::new(mask));
        }
        Ok(Request { id, prompt, sampler, need, end })
    }
}

/// What a step did for one request.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// Admitted: its prompt starts evaluating; `n_reused` positions came from the cache.
    Started { id: RequestId, n_prompt: usize, n_reused: usize },
    /// A sampled token (evaluated by the next step unless the request is finished first), with
    /// its logprobs when the params asked for them.
    Token { id: RequestId, token: u32, logprob: Option<f64>, top_logprobs: Vec<TokenLogprob> },
    /// The request's room is used up (`max_tokens`, or the context): the last sampled token is
    /// not evaluated and the request is gone. The engine enforces it, so a request never
    /// outgrows the rows it reserved.
    Full { id: RequestId },
    /// The request's grammar failed (it could not compute its next mask): the request is gone,
    /// with this error (`code`, `message` as [`RuntimeError`] gives them).
    Failed { id: RequestId, code: String, message: String },
}

enum Phase {
    /// `fed` prompt tokens are in memory
    Prefill { fed: usize },
    /// the last sampled token, not yet evaluated
    Decode { pending: u32 },
}

struct Active {
    id: RequestId,
    prompt: Vec<u32>,
    sampler: Sampler,
    phase: Phase,
    /// admission order (prefill chunks go oldest first)
    order: u64,
    /// see [`Request`]
    end: usize,
}

struct Slot {
    active: Option<Active>,
    last_used: u64,
}

/// Usage figures (`/metrics`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchStats {
    /// Requests running (admitted, not finished).
    pub active: usize,
    /// Requests waiting for a sequence or KV room.
    pub waiting: usize,
    /// The budget, in positions.
    pub kv_size: usize,
    /// Positions allocated to running requests.
    pub kv_active: usize,
    /// Positions allocated over all sequences (running, and idle ones kept as prefix cache).
    pub kv_allocated: usize,
    /// Bytes the KV cache holds.
    pub kv_bytes: usize,
}

pub struct Batcher {
    session: Session<'static>,
    limits: BatchLimits,
    n_batch: usize,
    /// (n_seq,) sequence `i`'s request
    slots: Vec<Slot>,
    queue: VecDeque<Request>,
    clock: u64,
    batch: Batch,
    /// (rows wanting logits,) the sequence of each logits row of the step
    outputs: Vec<SeqId>,
    events: Vec<Event>,
    /// (≤ n_seq,) (admission order, sequence) of the prompts being prefilled
    prefilling: Vec<(u64, SeqId)>,
}

impl RuntimeModel {
    /// A scheduler of `opts.n_seq` sequences sharing a KV budget (see [`Batcher`]).
    pub fn new_batcher(&self, opts: &BatchOptions) -> Result<Batcher, RuntimeError> {
        let engine = self.engine.as_ref().ok_or(RuntimeError::NoWeights)?;
        let kv = match opts.kv_type.as_deref() {
            Some(name) => KvType::parse(name)?,
            None => self.kv_type,
        };
        let (n_seq, n_ctx) = (opts.n_seq.max(1), opts.n_ctx);
        if n_ctx == 0 {
            return Err(RuntimeError::Model(crate::model::ModelError::ContextFull { n_tokens: 1, n_ctx }));
        }
        let mut session = crate::model::Model::new_shared_batch_session(engine, n_ctx, n_seq, kv)?;
        session.set_flash_attn(self.flash_attn);
        let kv_size = opts.kv_size.unwrap_or(n_ctx * n_seq).max(1);
        // A step holds a row per decoding sequence, and prompts need some room beside them.
        let n_batch = opts.n_batch.unwrap_or(DEFAULT_UBATCH).clamp(n_seq + 1, DEFAULT_UBATCH.max(n_seq + 1));
        Ok(Batcher {
            session,
            limits: BatchLimits { n_ctx, n_vocab: engine.n_vocab(), kv_size, grammars: self.grammars.clone() },
            n_batch,
            slots: (0..n_seq).map(|_| Slot { active: None, last_used: 0 }).collect(),
            queue: VecDeque::new(),
            clock: 0,
            batch: Batch::with_capacity(n_batch),
            outputs: Vec::with_capacity(n_seq),
            events: Vec::with_capacity(2 * n_seq),
            prefilling: Vec::with_capacity(n_seq),
        })
    }
}

impl Batcher {
    pub fn limits(&self) -> BatchLimits {
        self.limits.clone()
    }

    /// Queues a checked request (admitted by a later step, in arrival order).
    pub fn submit(&mut self, req: Request) {
        self.queue.push_back(req);
    }

    /// Ends a request, queued or running (finished, stopped or aborted): its sequence is free at
    /// once and keeps what it evaluated as a prefix cache. Unknown ids are ignored.
    pub fn finish(&mut self, id: RequestId) {
        self.queue.retain(|r| r.id != id);
        if let Some(slot) = self.slots.iter_mut().find(|s| s.active.as_ref().is_some_and(|a| a.id == id)) {
            slot.active = None;
            self.clock += 1;
            slot.last_used = self.clock;
        }
    }

    /// Whether any request is running or waiting.
    pub fn busy(&self) -> bool {
        !self.queue.is_empty() || self.slots.iter().any(|s| s.active.is_some())
    }

    pub fn stats(&self) -> BatchStats {
        let seqs = 0..self.slots.len();
        BatchStats {
            active: self.slots.iter().filter(|s| s.active.is_some()).count(),
            waiting: self.queue.len(),
            kv_size: self.limits.kv_size,
            kv_active: seqs.clone().filter(|&q| self.slots[q].active.is_some()).map(|q| self.session.reserved(q)).sum(),
            kv_allocated: seqs.clone().map(|q| self.session.reserved(q)).sum(),
            kv_bytes: seqs.map(|q| self.session.kv_bytes(q)).sum(),
        }
    }

    /// Admits what fits, runs one forward pass over every running request and samples them.
    /// Returns what happened, per request; empty when nothing runs.
    pub fn step(&mut self) -> Result<&[Event], RuntimeError> {
        self.events.clear();
        while let Some(req) = self.queue.pop_front() {
            if let Err(req) = self.admit(req) {
                self.queue.push_front(req);
                break;
            }
        }
        self.build_batch();
        if self.batch.is_empty() {
            return Ok(&self.events);
        }
        let batch = std::mem::take(&mut self.batch);
        let result = self.session.decode(&batch).map(|_| ());
        self.batch = batch;
        if let Err(e) = result {
            // Memory no longer matches what the requests think they hold: end them all.
            for slot in &mut self.slots {
                if slot.active.take().is_some() {
                    self.clock += 1;
                    slot.last_used = self.clock;
                }
            }
            (0..self.slots.len()).for_each(|q| self.session.release(q));
            return Err(e.into());
        }
        self.sample();
        Ok(&self.events)
    }

    /// Places a request on a free sequence when its rows fit the budget; gives it back when not.
    fn admit(&mut self, req: Request) -> Result<(), Request> {
        let Some(seq) = self.pick(&req.prompt) else { return Err(req) };
        let free_rows = |b: &Batcher| b.limits.kv_size.saturating_sub((0..b.slots.len()).map(|q| b.session.reserved(q)).sum::<usize>());
        let grow = req.need.saturating_sub(self.session.reserved(seq));
        // Idle sequences' rows (prefix caches) can be taken back; running ones' cannot.
        let idle: usize = (0..self.slots.len()).filter(|&q| q != seq && self.slots[q].active.is_none()).map(|q| self.session.reserved(q)).sum();
        if grow > free_rows(self) + idle {
            return Err(req);
        }
        while grow > free_rows(self) {
            let lru = (0..self.slots.len())
                .filter(|&q| q != seq && self.slots[q].active.is_none() && self.session.reserved(q) > 0)
                .min_by_key(|&q| self.slots[q].last_used)
                .expect("the idle rows counted above");
            self.session.release(lru);
        }
        let prompt = &req.prompt;
        let last = prompt.len() - 1;
        let own = self.session.keepable(seq, common_prefix(self.session.seq_tokens(seq), prompt).min(last));
        self.session.truncate(seq, own).expect("keepable() allows it");
        self.session.reserve(seq, req.need);
        // Another sequence holding more of the prompt lends its cells.
        let donor = (0..self.slots.len())
            .filter(|&q| q != seq)
            .map(|q| (common_prefix(self.session.seq_tokens(q), prompt).min(last), q))
            .filter(|&(n, _)| n > own)
            .max();
        let n_reused = match donor {
            Some((n, q)) if self.session.copy_prefix(q, seq, n) => n,
            _ => own,
        };
        self.clock += 1;
        self.slots[seq].last_used = self.clock;
        self.events.push(Event::Started { id: req.id, n_prompt: prompt.len(), n_reused });
        self.slots[seq].active = Some(Active { id: req.id, prompt: req.prompt, sampler: req.sampler, phase: Phase::Prefill { fed: n_reused }, order: self.clock, end: req.end });
        Ok(())
    }

    /// The free sequence for `prompt`: the longest reusable shared prefix (at least a tenth of
    /// the prompt: a BOS or a short system prompt is not worth evicting another conversation
    /// for, llama.cpp's slot-prompt-similarity), then an empty one, then the least recently used.
    fn pick(&self, prompt: &[u32]) -> Option<SeqId> {
        let min_useful = prompt.len().div_ceil(10).max(1);
        (0..self.slots.len()).filter(|&q| self.slots[q].active.is_none()).max_by_key(|&q| {
            let held = self.session.seq_tokens(q);
            let n = self.session.keepable(q, common_prefix(held, prompt).min(prompt.len() - 1));
            let empty = self.session.reserved(q) == 0 && held.is_empty();
            (if n >= min_useful { n } else { 0 }, empty, std::cmp::Reverse(self.slots[q].last_used))
        })
    }

    /// One row per decoding sequence, then prompt chunks (oldest request first) in the rest.
    fn build_batch(&mut self) {
        self.batch.clear();
        self.outputs.clear();
        for seq in 0..self.slots.len() {
            let Some(a) = &self.slots[seq].active else { continue };
            let Phase::Decode { pending } = a.phase else { continue };
            let pos = self.session.seq_len(seq);
            if pos >= a.end {
                let id = a.id;
                self.events.push(Event::Full { id });
                self.finish(id);
                continue;
            }
            self.batch.push(pending, pos, seq, true);
            self.outputs.push(seq);
        }
        let mut prefilling = std::mem::take(&mut self.prefilling);
        prefilling.clear();
        for (seq, slot) in self.slots.iter().enumerate() {
            if let Some(a @ Active { phase: Phase::Prefill { .. }, .. }) = &slot.active {
                prefilling.push((a.order, seq));
            }
        }
        prefilling.sort_unstable();
        let limit = if self.batch.is_empty() { self.n_batch } else { (self.batch.len() + PREFILL_BESIDE_DECODE).min(self.n_batch) };
        for &(_, seq) in &prefilling {
            let room = limit - self.batch.len();
            if room == 0 {
                break;
            }
            let a = self.slots[seq].active.as_mut().expect("collected above");
            let Phase::Prefill { fed } = &mut a.phase else { unreachable!() };
            let end = (*fed + room).min(a.prompt.len());
            for (pos, &t) in a.prompt.iter().enumerate().take(end).skip(*fed) {
                self.batch.push(t, pos, seq, pos + 1 == a.prompt.len());
            }
            if end == a.prompt.len() {
                self.outputs.push(seq);
            }
            *fed = end;
        }
        self.prefilling = prefilling;
    }

    /// Samples every row that has logits, in row order.
    fn sample(&mut self) {
        let n_vocab = self.limits.n_vocab;
        let logits = self.session.logits();
        let mut failed = Vec::new();
        for (row, &seq) in self.outputs.iter().enumerate() {
            let a = self.slots[seq].active.as_mut().expect("a row's request runs");
            let lg = &logits[row * n_vocab..(row + 1) * n_vocab];
            let token = a.sampler.sample(lg);
            a.sampler.accept(token);
            if let Some(why) = a.sampler.mask_failure() {
                let e = RuntimeError::from(crate::grammar::GrammarError::failed(why));
                self.events.push(Event::Failed { id: a.id, code: e.code(), message: e.message() });
                failed.push(a.id);
                continue;
            }
            let step = a.sampler.step_for(lg, token);
            self.events.push(Event::Token { id: a.id, token, logprob: step.logprob, top_logprobs: step.top_logprobs.to_vec() });
            a.phase = Phase::Decode { pending: token };
        }
        failed.into_iter().for_each(|id| self.finish(id));
    }
}

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}
