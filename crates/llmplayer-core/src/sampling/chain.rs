//! The logit processors: each stage of the chain rewrites or filters one shared candidate
//! buffer in place. [`Sampler`](super::Sampler) builds the chain from `SamplingParams`; the
//! stages keep llama.cpp's order and arithmetic exactly (see the module docs of `sampling`).
//!
//! A stage either rewrites logits (bias, penalties, a grammar mask) or drops candidates
//! (top-k, top-p, min-p). Rewriting stages come first, while the buffer still holds every
//! token in id order, so they find a token by indexing; filters may reorder it.

use super::math::{clean, exp_det, max_logit, sort_top};
use super::Candidate;
use std::fmt;

/// The candidate buffer the chain works on: `n_vocab` entries allocated once, shrunk and
/// reordered by the filters, refilled from the logits at every step.
#[derive(Clone, Debug)]
pub struct Candidates {
    list: Vec<Candidate>,
    /// In rank order (logit descending, id ascending). Stages that sum probabilities rely on
    /// it to sum in one canonical order: rank order when sorted, else id order.
    sorted: bool,
    /// Every token present, entry `i` has id `i` (true until a filter runs).
    dense: bool,
}

impl Candidates {
    pub(crate) fn with_capacity(n_vocab: usize) -> Self {
        Candidates { list: Vec::with_capacity(n_vocab), sorted: false, dense: false }
    }

    /// Refills from `logits` in id order (capacity `n_vocab`: never reallocates).
    pub(crate) fn fill(&mut self, logits: &[f32]) {
        self.list.clear();
        self.list.extend(logits.iter().enumerate().map(|(i, &l)| Candidate { id: i as u32, logit: clean(l) }));
        self.sorted = false;
        self.dense = true;
    }

    pub fn as_slice(&self) -> &[Candidate] {
        &self.list
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Whether the entries are in rank order (logit descending, then id ascending).
    pub fn is_sorted(&self) -> bool {
        self.sorted
    }

    /// Sets the logit of `id` to `f(old)` (NaN becomes -inf). Indexes directly while the
    /// buffer is dense; afterwards searches, and the rank order no longer holds.
    pub fn update(&mut self, id: u32, f: impl FnOnce(f32) -> f32) {
        let i = if self.dense { Some(id as usize) } else { self.list.iter().position(|c| c.id == id) };
        if let Some(c) = i.and_then(|i| self.list.get_mut(i)) {
            c.logit = clean(f(c.logit));
            self.sorted = false;
        }
    }

    /// Bans (-inf) every token for which `allowed` is false: a mask. Walks the buffer in its
    /// current order, so it works dense or not; the rank order no longer holds.
    pub fn ban_unless(&mut self, allowed: impl Fn(u32) -> bool) {
        for c in &mut self.list {
            if !allowed(c.id) {
                c.logit = f32::NEG_INFINITY;
            }
        }
        self.sorted = false;
    }

    /// Keeps the first `n` entries (the buffer must be in rank order for that to mean "best").
    fn truncate(&mut self, n: usize) {
        if n < self.list.len() {
            self.list.truncate(n);
            self.dense = false;
        }
    }
}

/// One stage of the chain. A stage must leave at least one candidate (a mask bans with
/// `-inf` through [`Candidates::update`] rather than removing entries).
pub trait LogitProcessor: fmt::Debug + Send {
    fn apply(&mut self, c: &mut Candidates);
    /// Sees every token accepted after the stage joined the chain (for stages with history):
    /// the prompt's and the generated ones for the stages `Sampler::new` builds; only the
    /// generated ones for a grammar mask, pushed once the prompt is accepted.
    fn accept(&mut self, _token: u32) {}
    /// Forgets the history (a new generation).
    fn reset(&mut self) {}
    /// Why the stage cannot go on (a grammar that refused a token), for the owner to report.
    fn failure(&self) -> Option<String> {
        None
    }
}

/// `logit_bias`: added to a token's logit; repeated ids add up; `-inf` bans.
#[derive(Debug)]
pub(crate) struct LogitBias(pub Vec<(u32, f32)>);

impl LogitProcessor for LogitBias {
    fn apply(&mut self, c: &mut Candidates) {
        for &(id, b) in &self.0 {
            c.update(id, |l| l + b);
        }
    }
}

/// llama.cpp's penalties over the last `last_n` accepted tokens: repeat (divide positive,
/// multiply non-positive logits), then frequency (per occurrence) and presence (once).
#[derive(Debug)]
pub(crate) struct Penalties {
    repeat: f32,
    frequency: f32,
    presence: f32,
    last_n: usize,
    /// Ring buffer of the last `last_n` accepted tokens.
    hist: Vec<u32>,
    hist_pos: usize,
    /// Occurrences of each token in `hist` (`n_vocab` entries).
    counts: Vec<u32>,
}

impl Penalties {
    pub(crate) fn new(repeat: f32, frequency: f32, presence: f32, last_n: usize, n_vocab: usize) -> Self {
        Penalties {
            repeat,
            frequency,
            presence,
            last_n,
            hist: Vec::with_capacity(last_n),
            hist_pos: 0,
            counts: vec![0; n_vocab],
        }
    }
}

impl LogitProcessor for Penalties {
    fn apply(&mut self, c: &mut Candidates) {
        // Each distinct token once: zero its count as a "done" mark, then restore.
        for &t in &self.hist {
            let n = std::mem::take(&mut self.counts[t as usize]);
            if n > 0 {
                let (rp, pen) = (self.repeat, n as f32 * self.frequency + self.presence);
                c.update(t, |l| (if l <= 0.0 { l * rp } else { l / rp }) - pen);
            }
        }
        for &t in &self.hist {
            self.counts[t as usize] += 1;
        }
    }

    /// Ids >= n_vocab are ignored.
    fn accept(&mut self, token: u32) {
        let t = token as usize;
        if t >= self.counts.len() {
            return;
        }
        if self.hist.len() < self.last_n {
            self.hist.push(token);
        } else {
            let old = std::mem::replace(&mut self.hist[self.hist_pos], token);
            self.counts[old as usize] -= 1;
            self.hist_pos = (self.hist_pos + 1) % self.hist.len();
        }
        self.counts[t] += 1;
    }

    fn reset(&mut self) {
        for &t in &self.hist {
            self.counts[t as usize] = 0;
        }
        self.hist.clear();
        self.hist_pos = 0;
    }
}

/// Keeps the `k` most likely tokens, in rank order.
#[derive(Debug)]
pub(crate) struct TopK(pub usize);

impl LogitProcessor for TopK {
    fn apply(&mut self, c: &mut Candidates) {
        sort_top(&mut c.list, self.0);
        c.truncate(self.0);
        c.sorted = true;
        c.dense = false;
    }
}

/// Nucleus: keeps the smallest rank prefix with mass `>= p` (softmax over the current
/// candidates, temperature 1, as llama.cpp). Large unsorted lists rank only the top 256 first
/// (like llama.cpp), then 4x more each time the mass is not reached yet.
#[derive(Debug)]
pub(crate) struct TopP(pub f64);

impl LogitProcessor for TopP {
    fn apply(&mut self, c: &mut Candidates) {
        let m = max_logit(&c.list, c.sorted);
        if m == f64::NEG_INFINITY {
            return;
        }
        let w = |x: &Candidate| exp_det(x.logit as f64 - m);
        let total: f64 = c.list.iter().map(w).sum(); // canonical order: id or rank
        let n = c.list.len();
        let mut ready = n;
        if !c.sorted {
            ready = if n > 1024 { 256 } else { n };
            sort_top(&mut c.list, ready);
        }
        let mut cum = 0.0;
        for i in 0..n {
            if i == ready {
                let next = (ready * 4).min(n); // grow the ranked prefix geometrically
                sort_top(&mut c.list[ready..], next - ready);
                ready = next;
            }
            cum += w(&c.list[i]);
            if cum >= self.0 * total {
                c.truncate(i + 1);
                break;
            }
        }
        c.sorted = true; // the loop sorts everything it reaches; the kept prefix is ranked
        c.dense = false;
    }
}

/// Keeps tokens with `p_i >= p * p_max`, i.e. `exp(l_i - l_max) >= p`; order preserved.
#[derive(Debug)]
pub(crate) struct MinP(pub f64);

impl LogitProcessor for MinP {
    fn apply(&mut self, c: &mut Candidates) {
        let m = max_logit(&c.list, c.sorted);
        if m == f64::NEG_INFINITY {
            return;
        }
        let l = &mut c.list;
        let mut n = 0;
        for i in 0..l.len() {
            if exp_det(l[i].logit as f64 - m) >= self.0 {
                l[n] = l[i];
                n += 1;
            } else if c.sorted {
                break;
            }
        }
        c.truncate(n);
    }
}

/// Greedy pick: the highest logit, lowest id on ties (any buffer order).
pub(crate) fn argmax(c: &Candidates) -> u32 {
    let l = &c.list;
    let first = l.first().copied().unwrap_or(Candidate { id: 0, logit: f32::NEG_INFINITY });
    let better = |x: &Candidate, b: &Candidate| x.logit > b.logit || (x.logit == b.logit && x.id < b.id);
    l.iter().fold(first, |b, x| if better(x, &b) { *x } else { b }).id
}

/// `dist` with the temperature folded in: weights `exp((l - l_max) / T)`, summed in the
/// buffer's canonical order, and one uniform draw `u` (taken by the caller every step, so
/// streams stay aligned whatever the candidate count). All banned: the best-ranked id.
pub(crate) fn draw(c: &Candidates, temperature: f32, u: f64) -> u32 {
    let l = &c.list;
    let m = max_logit(l, c.sorted);
    if m == f64::NEG_INFINITY {
        return argmax(c);
    }
    let inv_t = 1.0 / temperature as f64;
    let w = |x: &Candidate| exp_det((x.logit as f64 - m) * inv_t);
    let total: f64 = l.iter().map(w).sum();
    let target = u * total;
    let mut cum = 0.0;
    let mut last = l[0].id;
    for x in l {
        let wx = w(x);
        if wx > 0.0 {
            cum += wx;
            last = x.id;
            if target < cum {
                return x.id;
            }
        }
    }
    last // rounding: target landed at the very end
}
