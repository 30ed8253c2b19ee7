//! The processor chain against a plain reference of llama.cpp's sampler, masks, and the step
//! result's logprobs (raw-logit semantics, ordering, cost when not asked for).

mod engine;

use engine::allocs_on_this_thread;
use llmplayer_core::runtime::sampling_params_from_json;
use llmplayer_core::sampling::{
    ln_det, log_softmax_at, Candidates, LogSoftmax, LogitProcessor, Sampler, SamplingParams, MAX_TOP_LOGPROBS,
};

/// Continuous pseudo-random logits in [-6, 6) with a few exact ties (LCG).
fn logits(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|i| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            if i % 97 == 3 { 2.5 } else { (s >> 40) as f32 / (1u32 << 24) as f32 * 12.0 - 6.0 }
        })
        .collect()
}

/// llama.cpp's chain written the plain way: full sorts instead of partial selection, every
/// stage inline. Same RNG (xoshiro256** seeded by splitmix64), same summation order (rank
/// order once a filter sorted, else id order), same `exp` (the crate's `exp_det`).
struct Reference {
    p: SamplingParams,
    rng: [u64; 4],
    hist: Vec<u32>,
}

impl Reference {
    fn new(p: SamplingParams) -> Self {
        let mut z = p.seed;
        let mut next = || {
            z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut x = z;
            x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            x ^ (x >> 31)
        };
        let rng = [next(), next(), next(), next()];
        Reference { p, rng, hist: vec![] }
    }

    fn uniform(&mut self) -> f64 {
        let s = &mut self.rng;
        let out = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        (out >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    fn accept(&mut self, t: u32) {
        self.hist.push(t);
    }

    fn sample(&mut self, raw: &[f32]) -> u32 {
        let exp = llmplayer_core::sampling::exp_det;
        let clean = |x: f32| if x.is_nan() { f32::NEG_INFINITY } else { x.min(f32::MAX) + 0.0 };
        let p = self.p.clone();
        let mut c: Vec<(u32, f32)> = raw.iter().enumerate().map(|(i, &l)| (i as u32, clean(l))).collect();
        for &(id, b) in &p.logit_bias {
            c[id as usize].1 = clean(c[id as usize].1 + b);
        }
        let on = p.penalty_last_n > 0 && (p.repeat_penalty != 1.0 || p.frequency_penalty != 0.0 || p.presence_penalty != 0.0);
        if on {
            let window = &self.hist[self.hist.len().saturating_sub(p.penalty_last_n)..];
            for id in 0..c.len() as u32 {
                let n = window.iter().filter(|&&t| t == id).count();
                if n > 0 {
                    let l = c[id as usize].1;
                    let r = if l <= 0.0 { l * p.repeat_penalty } else { l / p.repeat_penalty };
                    c[id as usize].1 = clean(r - (n as f32 * p.frequency_penalty + p.presence_penalty));
                }
            }
        }
        let best_first = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if p.temperature <= 0.0 {
            return c.iter().copied().min_by(best_first).unwrap().0;
        }
        let mut sorted = false;
        let max = |c: &[(u32, f32)]| c.iter().fold(f32::NEG_INFINITY, |m, x| m.max(x.1)) as f64;
        if p.top_k > 0 {
            c.sort_by(best_first);
            c.truncate(p.top_k as usize);
            sorted = true;
        }
        if p.top_p < 1.0 && max(&c) > f64::NEG_INFINITY {
            let m = max(&c);
            let total: f64 = c.iter().map(|x| exp(x.1 as f64 - m)).sum();
            c.sort_by(best_first);
            sorted = true;
            let mut cum = 0.0;
            for i in 0..c.len() {
                cum += exp(c[i].1 as f64 - m);
                if cum >= p.top_p as f64 * total {
                    c.truncate(i + 1);
                    break;
                }
            }
        }
        if p.min_p > 0.0 && max(&c) > f64::NEG_INFINITY {
            let m = max(&c);
            c.retain(|x| exp(x.1 as f64 - m) >= p.min_p as f64);
        }
        let _ = sorted; // the order c is in is the order sums are taken in
        let u = self.uniform();
        let m = max(&c);
        if m == f64::NEG_INFINITY {
            return c.iter().copied().min_by(best_first).unwrap().0;
        }
        let w: Vec<f64> = c.iter().map(|x| exp((x.1 as f64 - m) / p.temperature as f64)).collect();
        let total: f64 = w.iter().sum();
        let mut cum = 0.0;
        let mut last = c[0].0;
        for (x, &wx) in c.iter().zip(&w) {
            if wx > 0.0 {
                cum += wx;
                last = x.0;
                if u * total < cum {
                    return x.0;
                }
            }
        }
        last
    }
}

#[test]
fn chain_reproduces_the_reference_sampler() {
    let n = 3000;
    let rows: Vec<Vec<f32>> = (0..5).map(|s| logits(n, s)).collect();
    let base = |seed| SamplingParams { seed, ..Default::default() };
    let configs = [
        base(1),
        SamplingParams { temperature: 0.0, repeat_penalty: 1.3, ..base(2) },
        SamplingParams { top_k: 0, top_p: 0.9, min_p: 0.0, temperature: 1.3, ..base(3) },
        SamplingParams { top_k: 0, top_p: 1.0, min_p: 0.02, temperature: 0.7, ..base(4) },
        SamplingParams { top_k: 0, top_p: 1.0, min_p: 0.0, temperature: 1.0, ..base(5) },
        SamplingParams { top_k: 5, top_p: 0.5, min_p: 0.3, ..base(6) },
        SamplingParams {
            repeat_penalty: 1.1,
            presence_penalty: 0.3,
            frequency_penalty: 0.2,
            penalty_last_n: 16,
            logit_bias: vec![(7, 3.0), (9, f32::NEG_INFINITY), (7, -0.5)],
            ..base(7)
        },
        SamplingParams { top_k: 0, top_p: 0.97, min_p: 0.0, temperature: 2.0, presence_penalty: 1.0, ..base(8) },
    ];
    for p in configs {
        let mut s = Sampler::new(p.clone(), n).unwrap();
        let mut r = Reference::new(p.clone());
        for i in 0..150 {
            let (a, b) = (s.sample(&rows[i % 5]), r.sample(&rows[i % 5]));
            assert_eq!(a, b, "step {i} of {p:?}");
            s.accept(a);
            r.accept(b);
        }
    }
}

/// Bans every odd id, as a grammar mask would ban what the grammar cannot accept.
#[derive(Debug)]
struct EvenOnly;

impl LogitProcessor for EvenOnly {
    fn apply(&mut self, c: &mut Candidates) {
        for id in (1..c.len() as u32).step_by(2) {
            c.update(id, |_| f32::NEG_INFINITY);
        }
    }
}

#[test]
fn a_mask_runs_before_the_filters_and_in_greedy_mode() {
    let l = logits(1000, 3);
    let mut greedy = Sampler::new(SamplingParams::greedy(), l.len()).unwrap();
    greedy.push_mask(Box::new(EvenOnly));
    let t = greedy.sample(&l);
    let best_even = (0..1000u32).step_by(2).max_by(|&a, &b| l[a as usize].total_cmp(&l[b as usize]).then(b.cmp(&a))).unwrap();
    assert_eq!(t, best_even);
    // top_k = 3 after the mask keeps three even tokens, never an odd one.
    let p = SamplingParams { top_k: 3, temperature: 5.0, penalty_last_n: 8, repeat_penalty: 1.5, ..Default::default() };
    let mut s = Sampler::new(p, l.len()).unwrap();
    s.push_mask(Box::new(EvenOnly));
    for _ in 0..200 {
        let t = s.sample(&l);
        assert_eq!(t % 2, 0);
        assert!(s.candidates().iter().all(|c| c.id % 2 == 0) && s.candidates().len() == 3);
        s.accept(t);
    }
}

#[test]
fn logprob_is_the_log_softmax_of_the_raw_logits() {
    let l = logits(5000, 11);
    // Bias, penalties, filters and temperature change the draw, not the reported logprob.
    let p = SamplingParams {
        logprobs: true,
        temperature: 1.7,
        top_k: 100,
        logit_bias: vec![(42, 5.0)],
        repeat_penalty: 1.4,
        ..Default::default()
    };
    let mut s = Sampler::new(p, l.len()).unwrap();
    for _ in 0..50 {
        let step = s.step(&l);
        let (t, lp) = (step.token, step.logprob.unwrap());
        assert!((lp - log_softmax_at(&l, t)).abs() < 1e-12, "{t}: {lp}");
        assert!(step.top_logprobs.is_empty(), "top_logprobs 0: none");
        s.accept(t);
    }
    let g = Sampler::new(SamplingParams { logprobs: true, ..SamplingParams::greedy() }, 4).unwrap().step(&[1.0, 3.0, 2.0, f32::NAN]).logprob;
    let z = 1f64.exp() + 3f64.exp() + 2f64.exp();
    assert!((g.unwrap() - (3f64.exp() / z).ln()).abs() < 1e-15);
    let banned = Sampler::new(SamplingParams { logprobs: true, ..SamplingParams::greedy() }, 2).unwrap().step(&[f32::NAN; 2]).logprob;
    assert_eq!(banned, Some(f64::NEG_INFINITY));
}

#[test]
fn top_logprobs_are_the_best_n_by_logprob_then_id() {
    let mut l = logits(4000, 5); // 2.5 at every i % 97 == 3: ties across the cut
    l[100] = 7.0;
    l[3999] = 7.0;
    for n in [1u32, 3, 20] {
        let mut s = Sampler::new(SamplingParams { top_logprobs: n, ..SamplingParams::greedy() }, l.len()).unwrap();
        let step = s.step(&l);
        assert_eq!(step.token, 100);
        let norm = LogSoftmax::new(&l);
        assert_eq!(step.logprob, Some(norm.at(7.0)), "top_logprobs implies logprobs");
        let mut all: Vec<u32> = (0..l.len() as u32).collect();
        all.sort_by(|&a, &b| l[b as usize].total_cmp(&l[a as usize]).then(a.cmp(&b)));
        let got: Vec<u32> = step.top_logprobs.iter().map(|t| t.id).collect();
        assert_eq!(got, all[..n as usize]);
        for w in step.top_logprobs.windows(2) {
            assert!(w[0].logprob > w[1].logprob || (w[0].logprob == w[1].logprob && w[0].id < w[1].id));
        }
        for t in step.top_logprobs {
            assert!((t.logprob - log_softmax_at(&l, t.id)).abs() < 1e-12);
        }
    }
    assert_eq!(Sampler::new(SamplingParams { top_logprobs: MAX_TOP_LOGPROBS + 1, ..Default::default() }, 10).unwrap_err().param, "top_logprobs");
}

#[test]
fn logprobs_never_change_the_draw_and_cost_nothing_when_off() {
    let n = 5000;
    let rows: Vec<Vec<f32>> = (0..4).map(|i| logits(n, i)).collect();
    let p = SamplingParams { seed: 9, repeat_penalty: 1.2, top_k: 0, top_p: 0.95, ..Default::default() };
    let mut plain = Sampler::new(p.clone(), n).unwrap();
    let mut with = Sampler::new(SamplingParams { top_logprobs: 20, ..p }, n).unwrap();
    let before = allocs_on_this_thread();
    for i in 0..200 {
        let a = plain.step(&rows[i % 4]);
        assert_eq!((a.logprob, a.top_logprobs.len()), (None, 0));
        let a = a.token;
        let b = with.step(&rows[i % 4]);
        assert_eq!(b.top_logprobs.len(), 20);
        assert_eq!(a, b.token, "step {i}");
        plain.accept(a);
        with.accept(a);
    }
    assert_eq!(allocs_on_this_thread() - before, 0, "step must not allocate, with or without logprobs");
}

#[test]
fn ln_det_is_accurate() {
    let mut x = 1e-300f64;
    while x < 1e300 {
        let (a, b) = (ln_det(x), x.ln());
        assert!((a - b).abs() <= 4e-16 * b.abs().max(1e-300), "{x}: {a} vs {b}");
        x *= 1.0137;
    }
    for x in [1.0 - 1e-9, 1.0 + 1e-12, 1.5, 0.75, f64::MIN_POSITIVE / 8.0] {
        assert!((ln_det(x) - x.ln()).abs() <= 4e-16 * x.ln().abs(), "{x}");
    }
    assert_eq!(ln_det(1.0), 0.0);
    assert_eq!(ln_det(0.0), f64::NEG_INFINITY);
    assert!(ln_det(-1.0).is_nan() && ln_det(f64::NAN).is_nan());
    assert_eq!(ln_det(f64::INFINITY), f64::INFINITY);
    // Fixed bits, the same on every target (checked on wasm32 like sampling.rs's goldens).
    assert_eq!(ln_det(31999.123).to_bits(), LN_GOLDEN);
}
const LN_GOLDEN: u64 = 0x4024_bf36_a4d9_12f5;

#[test]
fn the_sdk_json_carries_logprobs() {
    let p = sampling_params_from_json(r#"{"logprobs":true,"topLogprobs":5}"#).unwrap();
    assert!(p.logprobs && p.top_logprobs == 5);
    let d = sampling_params_from_json("{}").unwrap();
    assert!(!d.logprobs && d.top_logprobs == 0 && !d.wants_logprobs());
    assert_eq!(sampling_params_from_json(r#"{"logprobs":1}"#).unwrap_err().code(), "SAMPLING_LOGPROBS");
    assert_eq!(sampling_params_from_json(r#"{"topLogprobs":-1}"#).unwrap_err().code(), "SAMPLING_TOPLOGPROBS");
    let big = sampling_params_from_json(r#"{"topLogprobs":21}"#).unwrap();
    assert_eq!(big.validate(10).unwrap_err().param, "top_logprobs");
}
