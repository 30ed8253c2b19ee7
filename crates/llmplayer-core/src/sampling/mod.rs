//! Token sampling with llama.cpp semantics, reproducible bit-for-bit across targets, as a
//! chain of logit processors ([`LogitProcessor`], in `chain.rs`) over one candidate buffer.
//!
//! Chain (llama.cpp `common_sampler` default, see `common/sampling.cpp`): logit_bias →
//! penalties → [masks] → top_k → top_p → min_p → temperature → dist. llama.cpp puts
//! logit_bias first (it is pushed before the configurable chain), so a biased logit is then
//! penalized. `temperature <= 0` is greedy, as in llama.cpp: bias, penalties and masks still
//! apply, then the argmax (lowest id on ties) is returned and the RNG is not advanced.
//! Temperature is folded into the final draw (`exp((l - max) / T)`), not a stage of its own,
//! which keeps the exact arithmetic the golden streams were recorded with.
//!
//! Masks (a grammar: `crate::grammar`) go where [`Sampler::push_mask`] puts them: after bias and
//! penalties, which rewrite logits while the buffer is still complete and in id order, and
//! before the filters, so top-k/top-p/min-p only ever keep tokens the mask allows and the
//! greedy path sees the mask too.
//!
//! [`Sampler::step`] also reports logprobs when asked (`logprobs.rs`): of the raw model
//! logits, not of the processed ones.
//!
//! Determinism: the same seed and the same logits give the same tokens on x86_64 and wasm32.
//! * Every ordering is total (logit descending, then id ascending), so `select_nth_unstable`
//!   and `sort_unstable` (whose internal order can differ with `usize` width) give one answer;
//!   sums are only taken over buffers in such a canonical order.
//! * Probabilities use [`exp_det`], an exp made of IEEE `+ - *` only (Rust never fuses
//!   them into FMA), not `f64::exp`, which is the system libm natively and a Rust libm on
//!   wasm32 and may differ in the last bit. The draw itself is xoshiro256** seeded with
//!   splitmix64: integer-only. (Same distribution as llama.cpp, not the same stream: its
//!   `dist` uses mt19937 and a u32 seed, with 0xFFFFFFFF meaning "random".)
//!
//! No allocation per token: the candidate buffer (`n_vocab` entries), the chain, the penalty
//! ring buffer, the per-token counts and the top-logprob list are allocated once in
//! [`Sampler::new`].

mod chain;
mod logprobs;
mod math;

pub use chain::{Candidates, LogitProcessor};
pub use logprobs::{LogSoftmax, Step, TokenLogprob, MAX_TOP_LOGPROBS};
pub use math::{exp_det, ln_det, log_softmax_at};

use crate::grammar::GrammarSpec;
use chain::{argmax, draw, LogitBias, MinP, Penalties, TopK, TopP};
use logprobs::Logprobs;
use math::Rng;
use std::fmt;

/// Largest accepted `penalty_last_n` (the ring buffer is preallocated).
pub const MAX_PENALTY_LAST_N: usize = 1 << 20;

/// Sampling parameters. Defaults are llama.cpp's (`common_params_sampling`).
#[derive(Clone, Debug, PartialEq)]
pub struct SamplingParams {
    /// Divides logits before the draw. `<= 0` means greedy (llama.cpp); must not be NaN/inf.
    pub temperature: f32,
    /// Keep the `top_k` most likely tokens; 0 = off.
    pub top_k: u32,
    /// Nucleus: smallest set whose probability mass is `>= top_p`; in (0, 1], 1 = off.
    pub top_p: f32,
    /// Drop tokens with `p < min_p * p_max`; in [0, 1], 0 = off.
    pub min_p: f32,
    /// Divides positive / multiplies non-positive logits of recent tokens; > 0, 1 = off.
    pub repeat_penalty: f32,
    /// Subtracted once from the logit of any recent token (OpenAI); finite, 0 = off.
    pub presence_penalty: f32,
    /// Subtracted `count` times from the logit of a recent token (OpenAI); finite, 0 = off.
    pub frequency_penalty: f32,
    /// How many accepted tokens the penalties look at; 0 = off.
    pub penalty_last_n: usize,
    /// Added to the logit of `token`; `f32::NEG_INFINITY` bans it. Repeated ids add up.
    pub logit_bias: Vec<(u32, f32)>,
    /// RNG seed. The core has no entropy source: bindings choose a random one if wanted.
    pub seed: u64,
    /// Report the sampled token's logprob at each step (see [`Step`]). Never changes the draw.
    pub logprobs: bool,
    /// Also report this many most likely tokens at each step, 0..=[`MAX_TOP_LOGPROBS`]
    /// (OpenAI's range); above 0 implies `logprobs`.
    pub top_logprobs: u32,
    /// A grammar the output must follow. `Sampler::new` does not read it: compiling needs the
    /// model's vocabulary, so the owner of the model (`RuntimeSession::begin`, the batcher's
    /// requests) compiles it and pushes the mask after the prompt (see `grammar`).
    pub grammar: Option<GrammarSpec>,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.0,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            penalty_last_n: 64,
            logit_bias: Vec::new(),
            seed: 0,
            logprobs: false,
            top_logprobs: 0,
            grammar: None,
        }
    }
}

impl SamplingParams {
    /// Argmax decoding: temperature 0, every filter and penalty off.
    pub fn greedy() -> Self {
        Self { temperature: 0.0, top_k: 0, top_p: 1.0, min_p: 0.0, ..Self::default() }
    }

    pub fn is_greedy(&self) -> bool {
        self.temperature <= 0.0
    }

    /// Whether steps report logprobs (`logprobs`, or any `top_logprobs`).
    pub fn wants_logprobs(&self) -> bool {
        self.logprobs || self.top_logprobs > 0
    }

    fn penalties_on(&self) -> bool {
        self.penalty_last_n > 0
            && (self.repeat_penalty != 1.0 || self.frequency_penalty != 0.0 || self.presence_penalty != 0.0)
    }

    /// Checks every field against `n_vocab` and returns the first problem found.
    pub fn validate(&self, n_vocab: usize) -> Result<(), SamplingError> {
        let err = |param: &'static str, message: String| Err(SamplingError { param, message });
        let t = self.temperature;
        if !t.is_finite() {
            return err("temperature", format!("must be finite (<= 0 means greedy), got {t}"));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return err("top_p", format!("must be in (0, 1] (1 = off), got {}", self.top_p));
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return err("min_p", format!("must be in [0, 1] (0 = off), got {}", self.min_p));
        }
        let rp = self.repeat_penalty;
        if !(rp.is_finite() && rp > 0.0) {
            return err("repeat_penalty", format!("must be finite and > 0 (1 = off), got {rp}"));
        }
        if !self.presence_penalty.is_finite() {
            return err("presence_penalty", format!("must be finite, got {}", self.presence_penalty));
        }
        if !self.frequency_penalty.is_finite() {
            return err("frequency_penalty", format!("must be finite, got {}", self.frequency_penalty));
        }
        if self.penalty_last_n > MAX_PENALTY_LAST_N {
            let n = self.penalty_last_n;
            return err("penalty_last_n", format!("must be <= {MAX_PENALTY_LAST_N}, got {n}"));
        }
        if self.top_logprobs > MAX_TOP_LOGPROBS {
            let n = self.top_logprobs;
            return err("top_logprobs", format!("must be in 0..={MAX_TOP_LOGPROBS}, got {n}"));
        }
        if n_vocab == 0 || n_vocab > u32::MAX as usize {
            return err("n_vocab", format!("must be in 1..=u32::MAX, got {n_vocab}"));
        }
        for &(id, b) in &self.logit_bias {
            if id as usize >= n_vocab {
                return err("logit_bias", format!("token {id} out of range (n_vocab {n_vocab})"));
            }
            if b.is_nan() || b == f32::INFINITY {
                return err("logit_bias", format!("bias for token {id} must be finite or -inf, got {b}"));
            }
        }
        Ok(())
    }
}

/// An out-of-range sampling parameter: which one, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SamplingError {
    pub param: &'static str,
    pub message: String,
}

impl fmt::Display for SamplingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid sampling parameter {}: {}", self.param, self.message)
    }
}

impl std::error::Error for SamplingError {}

/// One entry of the candidate list.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Candidate {
    pub id: u32,
    pub logit: f32,
}

/// A stateful sampler: parameters, RNG, the processor chain (which holds the recent-token
/// history) and scratch buffers.
#[derive(Debug)]
pub struct Sampler {
    params: SamplingParams,
    n_vocab: usize,
    rng: Rng,
    cands: Candidates,
    /// Applied in order; the first `n_rewrite` rewrite logits (bias, penalties, masks), the
    /// rest are the filters, absent when greedy.
    chain: Vec<Box<dyn LogitProcessor>>,
    n_rewrite: usize,
    /// Present only when the params ask for logprobs.
    logprobs: Option<Logprobs>,
}

impl Sampler {
    /// Validates `params`, builds the chain (only the stages that are on) and preallocates
    /// every buffer `sample` and `step` use.
    pub fn new(params: SamplingParams, n_vocab: usize) -> Result<Self, SamplingError> {
        params.validate(n_vocab)?;
        let p = &params;
        let mut chain: Vec<Box<dyn LogitProcessor>> = Vec::with_capacity(8);
        if !p.logit_bias.is_empty() {
            chain.push(Box::new(LogitBias(p.logit_bias.clone())));
        }
        if p.penalties_on() {
            let pen = Penalties::new(p.repeat_penalty, p.frequency_penalty, p.presence_penalty, p.penalty_last_n, n_vocab);
            chain.push(Box::new(pen));
        }
        let n_rewrite = chain.len();
        if !p.is_greedy() {
            if p.top_k > 0 {
                chain.push(Box::new(TopK(p.top_k as usize)));
            }
            if p.top_p < 1.0 {
                chain.push(Box::new(TopP(p.top_p as f64)));
            }
            if p.min_p > 0.0 {
                chain.push(Box::new(MinP(p.min_p as f64)));
            }
        }
        Ok(Self {
            rng: Rng::new(params.seed),
            n_vocab,
            cands: Candidates::with_capacity(n_vocab),
            chain,
            n_rewrite,
            logprobs: params.wants_logprobs().then(|| Logprobs::new(params.top_logprobs as usize)),
            params,
        })
    }

    pub fn params(&self) -> &SamplingParams {
        &self.params
    }

    pub fn n_vocab(&self) -> usize {
        self.n_vocab
    }

    /// Adds a mask (a grammar, a tool-call constraint) after the earlier masks: it runs after
    /// bias and penalties and before the filters (see the module docs for why there).
    pub fn push_mask(&mut self, mask: Box<dyn LogitProcessor>) {
        self.chain.insert(self.n_rewrite, mask);
        self.n_rewrite += 1;
    }

    /// Why a mask cannot go on (a grammar that could not take the last token or compute its
    /// next mask), if one cannot.
    pub fn mask_failure(&self) -> Option<String> {
        self.chain[..self.n_rewrite].iter().find_map(|p| p.failure())
    }

    /// The candidates the last non-greedy draw chose from, in rank order unless no filter
    /// sorted them (then in id order). Logits are before temperature. Not meaningful after a
    /// greedy sample.
    pub fn candidates(&self) -> &[Candidate] {
        self.cands.as_slice()
    }

    /// Records a token (prompt or generated) for the stages with history. Ignores ids >= n_vocab.
    pub fn accept(&mut self, token: u32) {
        for p in &mut self.chain {
            p.accept(token);
        }
    }

    /// Forgets the history and restarts the RNG from the seed.
    pub fn reset(&mut self) {
        for p in &mut self.chain {
            p.reset();
        }
        self.rng = Rng::new(self.params.seed);
    }

    /// Picks the next token. Does not [`accept`](Self::accept) it. If every token is banned
    /// (-inf) returns the lowest id. Panics if `logits.len() != n_vocab`.
    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        assert_eq!(logits.len(), self.n_vocab, "sample: logits length must equal n_vocab");
        self.cands.fill(logits);
        for p in &mut self.chain {
            p.apply(&mut self.cands);
        }
        if self.params.is_greedy() {
            return argmax(&self.cands);
        }
        // One draw per sample, whatever the candidate count, so streams stay aligned.
        let u = self.rng.next_f64();
        draw(&self.cands, self.params.temperature, u)
    }

    /// [`sample`](Self::sample), plus the logprobs the params ask for (none: no extra work).
    pub fn step(&mut self, logits: &[f32]) -> Step<'_> {
        let token = self.sample(logits);
        self.step_for(logits, token)
    }

    /// The step result for `token` drawn from `logits` (for callers that
    /// [`accept`](Self::accept) between sampling and reporting). Panics if `token` is out of range.
    pub fn step_for(&mut self, logits: &[f32], token: u32) -> Step<'_> {
        match &mut self.logprobs {
            None => Step { token, logprob: None, top_logprobs: &[] },
            Some(lp) => {
                let logprob = lp.compute(logits, token);
                Step { token, logprob: Some(logprob), top_logprobs: &lp.top }
            }
        }
    }
}
