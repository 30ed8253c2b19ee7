//! Token sampling with llama.cpp semantics, reproducible bit-for-bit across targets.
//!
//! Chain (llama.cpp `common_sampler` default, see `common/sampling.cpp`): logit_bias →
//! penalties → top_k → top_p → min_p → temperature → dist. llama.cpp puts logit_bias first
//! (it is pushed before the configurable chain), so a biased logit is then penalized.
//! `temperature <= 0` is greedy, as in llama.cpp: bias and penalties still apply, then the
//! argmax (lowest id on ties) is returned and the RNG is not advanced.
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
//! No allocation per token: the candidate buffer (`n_vocab` entries), the penalty ring
//! buffer and the per-token counts are allocated once in [`Sampler::new`].

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

/// Total order as one integer, smaller = better: higher logit first, then lower id.
/// Logits are never NaN nor -0.0 here (see [`clean`]), so the bit trick is exact.
fn rank(c: &Candidate) -> u64 {
    let b = c.logit.to_bits();
    let ord = if b >> 31 == 1 { !b } else { b | 1 << 31 }; // monotone in the float value
    ((!ord as u64) << 32) | c.id as u64
}

/// NaN → -inf (never chosen), +inf → f32::MAX (keeps softmax finite), -0.0 → +0.0.
fn clean(x: f32) -> f32 {
    if x.is_nan() { f32::NEG_INFINITY } else { x.min(f32::MAX) + 0.0 }
}

/// Puts the `k` best candidates first, sorted; the rest in unspecified order.
fn sort_top(c: &mut [Candidate], k: usize) {
    let k = k.min(c.len());
    if k < c.len() && k > 0 {
        c.select_nth_unstable_by_key(k - 1, rank);
    }
    c[..k].sort_unstable_by_key(rank);
}

/// `e^x` from IEEE `+ - *` only, so identical on every target (unlike `f64::exp`).
/// Relative error ~1e-16 (Cody–Waite reduction, degree-13 Taylor). `x < -708` gives 0.
pub fn exp_det(x: f64) -> f64 {
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000); // fdlibm; k*LN2_HI is exact
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
    const C: [f64; 14] = {
        let mut c = [1.0; 14];
        let mut i = 1;
        while i < 14 {
            c[i] = c[i - 1] / i as f64;
            i += 1;
        }
        c
    };
    if x.is_nan() {
        return x;
    }
    if x < -708.0 {
        return 0.0;
    }
    if x > 709.0 {
        return f64::INFINITY;
    }
    const SHIFT: f64 = 6_755_399_441_055_744.0; // 1.5 * 2^52: (y + SHIFT) - SHIFT = round(y)
    let k = (x * std::f64::consts::LOG2_E + SHIFT) - SHIFT;
    let r = (x - k * LN2_HI) - k * LN2_LO; // |r| <= 0.3466
    let mut p = C[13];
    for &c in C[..13].iter().rev() {
        p = p * r + c;
    }
    p * f64::from_bits(((k as i64 + 1023) as u64) << 52) // k in [-1022, 1023]
}

/// `log p(id)` under softmax(logits), in f64; for perplexity. Uses `f64::ln`, so not
/// bit-identical across targets (it does not feed any draw). Panics if `id` is out of range.
pub fn log_softmax_at(logits: &[f32], id: u32) -> f64 {
    let m = logits.iter().fold(f32::NEG_INFINITY, |m, &l| m.max(l)) as f64;
    let sum: f64 = logits.iter().map(|&l| exp_det(l as f64 - m)).sum();
    logits[id as usize] as f64 - m - sum.ln()
}

/// xoshiro256** seeded by splitmix64: integer-only, identical on every target.
#[derive(Clone, Debug)]
struct Rng([u64; 4]);

impl Rng {
    fn new(seed: u64) -> Self {
        let mut z = seed;
        let mut next = || {
            z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut x = z;
            x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            x ^ (x >> 31)
        };
        Rng([next(), next(), next(), next()])
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let out = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        out
    }

    /// Uniform in [0, 1) with 53 random bits.
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// A stateful sampler: parameters, RNG, recent-token history and scratch buffers.
#[derive(Clone, Debug)]
pub struct Sampler {
    params: SamplingParams,
    n_vocab: usize,
    rng: Rng,
    cands: Vec<Candidate>,
    /// Ring buffer of the last `penalty_last_n` accepted tokens (empty when penalties are off).
    hist: Vec<u32>,
    hist_pos: usize,
    /// Occurrences of each token in `hist` (empty when penalties are off).
    counts: Vec<u32>,
}

impl Sampler {
    /// Validates `params` and preallocates every buffer `sample` uses.
    pub fn new(params: SamplingParams, n_vocab: usize) -> Result<Self, SamplingError> {
        params.validate(n_vocab)?;
        let pen = params.penalties_on();
        Ok(Self {
            rng: Rng::new(params.seed),
            n_vocab,
            cands: Vec::with_capacity(n_vocab),
            hist: Vec::with_capacity(if pen { params.penalty_last_n } else { 0 }),
            hist_pos: 0,
            counts: if pen { vec![0; n_vocab] } else { Vec::new() },
            params,
        })
    }

    pub fn params(&self) -> &SamplingParams {
        &self.params
    }

    pub fn n_vocab(&self) -> usize {
        self.n_vocab
    }

    /// The candidates the last non-greedy draw chose from, in rank order unless no filter
    /// sorted them (then in id order). Logits are before temperature. Not meaningful after a
    /// greedy sample.
    pub fn candidates(&self) -> &[Candidate] {
        &self.cands
    }

    /// Records a token (prompt or generated) for the penalties. Ignores ids >= n_vocab.
    pub fn accept(&mut self, token: u32) {
        let t = token as usize;
        if self.counts.is_empty() || t >= self.n_vocab {
            return;
        }
        if self.hist.len() < self.params.penalty_last_n {
            self.hist.push(token);
        } else {
            let old = std::mem::replace(&mut self.hist[self.hist_pos], token);
            self.counts[old as usize] -= 1;
            self.hist_pos = (self.hist_pos + 1) % self.hist.len();
        }
        self.counts[t] += 1;
    }

    /// Forgets the history and restarts the RNG from the seed.
    pub fn reset(&mut self) {
        for &t in &self.hist {
            self.counts[t as usize] = 0;
        }
        self.hist.clear();
        self.hist_pos = 0;
        self.rng = Rng::new(self.params.seed);
    }

    /// Picks the next token. Does not [`accept`](Self::accept) it. If every token is banned
    /// (-inf) returns the lowest id. Panics if `logits.len() != n_vocab`.
    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        assert_eq!(logits.len(), self.n_vocab, "sample: logits length must equal n_vocab");
        let p = &self.params;
        let c = &mut self.cands;
        c.clear(); // capacity n_vocab: the extend below never reallocates
        c.extend(logits.iter().enumerate().map(|(i, &l)| Candidate { id: i as u32, logit: clean(l) }));
        for &(id, b) in &p.logit_bias {
            let l = &mut c[id as usize].logit;
            *l = clean(*l + b);
        }
        if !self.counts.is_empty() {
            // Each distinct token once: zero its count as a "done" mark, then restore.
            for &t in &self.hist {
                let n = std::mem::take(&mut self.counts[t as usize]);
                if n > 0 {
                    let l = &mut c[t as usize].logit;
                    let r = if *l <= 0.0 { *l * p.repeat_penalty } else { *l / p.repeat_penalty };
                    *l = clean(r - (n as f32 * p.frequency_penalty + p.presence_penalty));
                }
            }
            for &t in &self.hist {
                self.counts[t as usize] += 1;
            }
        }
        if p.is_greedy() {
            let best = c.iter().fold(c[0], |b, x| if x.logit > b.logit { *x } else { b });
            return best.id;
        }

        let mut sorted = false;
        let k = p.top_k as usize;
        if k > 0 {
            sort_top(c, k);
            c.truncate(k);
            sorted = true;
        }
        if p.top_p < 1.0 {
            top_p(c, &mut sorted, p.top_p as f64);
        }
        if p.min_p > 0.0 {
            min_p(c, sorted, p.min_p as f64);
        }

        // dist: one draw per sample, whatever the candidate count, so streams stay aligned.
        let u = self.rng.next_f64();
        let m = max_logit(c, sorted);
        if m == f64::NEG_INFINITY {
            return c.iter().min_by_key(|x| rank(x)).map_or(0, |x| x.id);
        }
        let inv_t = 1.0 / p.temperature as f64;
        let w = |x: &Candidate| exp_det((x.logit as f64 - m) * inv_t);
        let total: f64 = c.iter().map(w).sum();
        let target = u * total;
        let mut cum = 0.0;
        let mut last = c[0].id;
        for x in c.iter() {
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
}

fn max_logit(c: &[Candidate], sorted: bool) -> f64 {
    if sorted {
        return c.first().map_or(f64::NEG_INFINITY, |x| x.logit as f64);
    }
    c.iter().fold(f32::NEG_INFINITY, |m, x| m.max(x.logit)) as f64
}

/// Keeps the smallest rank prefix with mass `>= p` (softmax over the current candidates,
/// temperature 1). Large unsorted lists rank only the top 256 first (like llama.cpp), then
/// 4x more each time the mass is not reached yet.
fn top_p(c: &mut Vec<Candidate>, sorted: &mut bool, p: f64) {
    let m = max_logit(c, *sorted);
    if m == f64::NEG_INFINITY {
        return;
    }
    let w = |x: &Candidate| exp_det(x.logit as f64 - m);
    let total: f64 = c.iter().map(w).sum(); // canonical order: id or rank
    let mut ready = c.len();
    if !*sorted {
        ready = if c.len() > 1024 { 256 } else { c.len() };
        sort_top(c, ready);
    }
    let mut cum = 0.0;
    for i in 0..c.len() {
        if i == ready {
            let next = (ready * 4).min(c.len()); // grow the ranked prefix geometrically
            sort_top(&mut c[ready..], next - ready);
            ready = next;
        }
        cum += w(&c[i]);
        if cum >= p * total {
            c.truncate(i + 1);
            break;
        }
    }
    *sorted = true; // the loop sorts everything it reaches; the kept prefix is ranked
}

/// Keeps tokens with `p_i >= p * p_max`, i.e. `exp(l_i - l_max) >= p`; order preserved.
fn min_p(c: &mut Vec<Candidate>, sorted: bool, p: f64) {
    let m = max_logit(c, sorted);
    if m == f64::NEG_INFINITY {
        return;
    }
    let mut n = 0;
    for i in 0..c.len() {
        if exp_det(c[i].logit as f64 - m) >= p {
            c[n] = c[i];
            n += 1;
        } else if sorted {
            break;
        }
    }
    c.truncate(n);
}
