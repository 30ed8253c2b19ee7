//! Log-probabilities of a step: the chosen token's and the `n` most likely alternatives.
//!
//! Semantics (vLLM's default `raw_logprobs`; OpenAI does not pin it down): the log-softmax of
//! the model's raw logits at temperature 1, before logit bias, penalties, masks, filters and
//! temperature, so a logprob measures the model, not the sampling settings, and a token the
//! filters removed still has one. (llama.cpp's server reports post-sampling probabilities
//! instead.) NaN logits count as -inf, +inf as f32::MAX, as in the chain.
//!
//! Deterministic across targets: the normalizer is a sum of [`exp_det`] in id order and
//! [`ln_det`], never the system libm. Computed only when asked: a sampler without logprobs
//! never touches this code, and one with them allocates nothing per token (the top list has
//! its capacity from the start). The cost when asked is one `exp_det` per vocabulary entry
//! (about 0.35 ms per token at 32k entries, 3 ms at 152k, on a busy 2-core x86-64), plus a
//! compare per entry for the top list.

use super::math::{clean, exp_det, ln_det, rank};
use super::Candidate;

/// Largest `top_logprobs` (OpenAI's limit).
pub const MAX_TOP_LOGPROBS: u32 = 20;

/// A token and its log-probability (natural log) under the raw model distribution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TokenLogprob {
    pub id: u32,
    pub logprob: f64,
}

/// What one sampling step produced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step<'a> {
    pub token: u32,
    /// `log p(token)` when logprobs were asked for.
    pub logprob: Option<f64>,
    /// The `top_logprobs` most likely tokens, logprob descending then id ascending; empty
    /// unless asked for. Borrowed from the sampler until its next step.
    pub top_logprobs: &'a [TokenLogprob],
}

/// `log softmax(logits)` evaluated at any entry after one pass over the row: the max and the
/// log of the sum of `exp(l - max)`.
#[derive(Clone, Copy, Debug)]
pub struct LogSoftmax {
    max: f64,
    log_sum: f64,
}

impl LogSoftmax {
    pub fn new(logits: &[f32]) -> Self {
        let max = logits.iter().fold(f32::NEG_INFINITY, |m, &l| m.max(clean(l))) as f64;
        let sum: f64 = logits.iter().map(|&l| exp_det(clean(l) as f64 - max)).sum(); // id order
        LogSoftmax { max, log_sum: ln_det(sum) }
    }

    /// The logprob of a token whose raw logit is `logit` (every one -inf when all are).
    pub fn at(&self, logit: f32) -> f64 {
        if self.max == f64::NEG_INFINITY {
            return f64::NEG_INFINITY;
        }
        (clean(logit) as f64 - self.max) - self.log_sum
    }
}

/// The per-sampler state of the logprob path: the top list's buffers, sized once.
#[derive(Clone, Debug)]
pub(crate) struct Logprobs {
    n_top: usize,
    /// The best `n_top` candidates seen so far in the scan, in rank order.
    best: Vec<Candidate>,
    pub(crate) top: Vec<TokenLogprob>,
}

impl Logprobs {
    pub(crate) fn new(n_top: usize) -> Self {
        Logprobs { n_top, best: Vec::with_capacity(n_top + 1), top: Vec::with_capacity(n_top) }
    }

    /// The logprob of `token` under `logits`; fills `self.top`.
    pub(crate) fn compute(&mut self, logits: &[f32], token: u32) -> f64 {
        let norm = LogSoftmax::new(logits);
        self.best.clear();
        if self.n_top > 0 {
            // One pass keeping the n best (n <= 20): most entries lose to the worst kept one.
            for (i, &l) in logits.iter().enumerate() {
                let c = Candidate { id: i as u32, logit: clean(l) };
                if self.best.len() == self.n_top {
                    if rank(&c) >= rank(&self.best[self.n_top - 1]) {
                        continue;
                    }
                    self.best.pop();
                }
                let at = self.best.partition_point(|b| rank(b) < rank(&c));
                self.best.insert(at, c); // capacity n_top + 1: never reallocates
            }
        }
        self.top.clear();
        self.top.extend(self.best.iter().map(|c| TokenLogprob { id: c.id, logprob: norm.at(c.logit) }));
        // Already ranked by logit; f64 rounding can tie neighbours, and ties go to the lower id.
        self.top.sort_unstable_by(|a, b| b.logprob.total_cmp(&a.logprob).then(a.id.cmp(&b.id)));
        norm.at(logits[token as usize])
    }
}
