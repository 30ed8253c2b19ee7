//! Sampling: llama.cpp semantics, hand-computed filters, determinism, no per-token allocation.

use llmplayer_core::sampling::{exp_det, log_softmax_at, Candidate, Sampler, SamplingParams};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts allocations made by the current thread (tests run on parallel threads).
struct Counting;
thread_local! { static ALLOCS: Cell<usize> = const { Cell::new(0) }; }
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.with(|a| a.set(a.get() + 1));
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.with(|a| a.set(a.get() + 1));
        unsafe { System.realloc(p, l, n) }
    }
}
#[global_allocator]
static GLOBAL: Counting = Counting;

/// Small deterministic pseudo-random logits (LCG), with some exact ties.
fn logits(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) % 64) as f32 / 8.0 - 4.0
        })
        .collect()
}

/// Temperature 1, no filters, no penalties.
fn plain(seed: u64) -> SamplingParams {
    SamplingParams { temperature: 1.0, top_k: 0, top_p: 1.0, min_p: 0.0, seed, ..Default::default() }
}

fn ids(c: &[Candidate]) -> Vec<u32> {
    c.iter().map(|c| c.id).collect()
}

fn ln(p: &[f64]) -> Vec<f32> {
    p.iter().map(|&p| p.ln() as f32).collect()
}

#[test]
fn defaults_match_llama_cpp() {
    let p = SamplingParams::default();
    assert_eq!((p.temperature, p.top_k, p.top_p, p.min_p), (0.8, 40, 0.95, 0.05));
    assert_eq!((p.repeat_penalty, p.presence_penalty, p.frequency_penalty, p.penalty_last_n), (1.0, 0.0, 0.0, 64));
    assert!(SamplingParams::greedy().is_greedy() && !p.is_greedy());
}

#[test]
fn greedy_is_argmax_lowest_index_on_ties() {
    let mut s = Sampler::new(SamplingParams::greedy(), 5).unwrap();
    assert_eq!(s.sample(&[0.1, 3.0, -1.0, 3.0, 2.9]), 1);
    assert_eq!(s.sample(&[f32::NAN, 0.0, 0.0, -0.0, f32::NAN]), 1);
    assert_eq!(s.sample(&[f32::NEG_INFINITY; 5]), 0);
    let mut neg = Sampler::new(SamplingParams { temperature: -1.0, ..Default::default() }, 5).unwrap();
    assert_eq!(neg.sample(&[0.1, 3.0, -1.0, 3.0, 2.9]), 1, "temperature < 0 is greedy");
}

#[test]
fn top_k_1_equals_greedy() {
    for seed in 0..20 {
        let l = logits(3000, seed); // many exact ties at the maximum
        let mut g = Sampler::new(SamplingParams::greedy(), l.len()).unwrap();
        let mut k1 = Sampler::new(SamplingParams { top_k: 1, seed, ..Default::default() }, l.len()).unwrap();
        assert_eq!(g.sample(&l), k1.sample(&l));
    }
}

#[test]
fn top_k_selects_the_k_best_in_rank_order() {
    let l = logits(5000, 7);
    let mut s = Sampler::new(SamplingParams { top_k: 50, top_p: 1.0, min_p: 0.0, ..Default::default() }, l.len()).unwrap();
    s.sample(&l);
    let mut all: Vec<u32> = (0..l.len() as u32).collect();
    all.sort_by(|&a, &b| l[b as usize].total_cmp(&l[a as usize]).then(a.cmp(&b)));
    assert_eq!(ids(s.candidates()), all[..50]);
}

#[test]
fn top_p_and_min_p_match_hand_computed_sets() {
    let l = ln(&[0.05, 0.5, 0.15, 0.3]); // ranks: 1 (.5), 3 (.3), 2 (.15), 0 (.05)
    let run = |p: SamplingParams| {
        let mut s = Sampler::new(p, 4).unwrap();
        s.sample(&l);
        ids(s.candidates())
    };
    let top_p = |top_p| run(SamplingParams { top_p, ..plain(1) });
    assert_eq!(top_p(0.4), [1]);
    assert_eq!(top_p(0.7), [1, 3]); // .5 < .7 <= .8
    assert_eq!(top_p(0.81), [1, 3, 2]);
    assert_eq!(top_p(0.96), [1, 3, 2, 0]);
    let min_p = |min_p| run(SamplingParams { min_p, ..plain(1) });
    assert_eq!(min_p(0.2), [1, 2, 3], "p >= .1 kept; unsorted input keeps id order");
    assert_eq!(min_p(0.35), [1, 3]);
    assert_eq!(min_p(1.0), [1]);
    // top_p renormalizes over the top_k survivors (.5,.3,.15)/.95: .526, .842 >= .83.
    assert_eq!(run(SamplingParams { top_k: 3, top_p: 0.83, ..plain(1) }), [1, 3]);
    assert_eq!(top_p(0.83), [1, 3, 2]);
    // min_p after top_p: .15 < .4 * .5 is dropped.
    assert_eq!(run(SamplingParams { top_p: 0.9, min_p: 0.4, ..plain(1) }), [1, 3]);
}

#[test]
fn top_p_on_large_vocab_falls_back_past_the_first_256() {
    let n = 2000;
    let mut s = Sampler::new(SamplingParams { top_p: 0.9, ..plain(3) }, n).unwrap();
    s.sample(&vec![0.0; n]); // flat: needs 1800 tokens, ties broken by lower id
    assert_eq!(ids(s.candidates()), (0..1800).collect::<Vec<u32>>());
    let mut l = vec![-20.0; n];
    l[1500] = 5.0;
    l[7] = 4.0;
    s.sample(&l);
    assert_eq!(ids(s.candidates()), [1500, 7]);
}

#[test]
fn penalties_follow_llama_cpp() {
    let p = SamplingParams {
        repeat_penalty: 2.0,
        frequency_penalty: 0.5,
        presence_penalty: 0.25,
        penalty_last_n: 4,
        ..plain(1)
    };
    let mut s = Sampler::new(p.clone(), 5).unwrap();
    for t in [2, 1, 0, 3, 3, 99] {
        s.accept(t); // window [1, 0, 3, 3]: 2 evicted, 99 out of range ignored
    }
    let l = [2.0, -2.0, 1.0, 0.5, -1.0];
    s.sample(&l);
    let got: Vec<f32> = s.candidates().iter().map(|c| c.logit).collect();
    // 2/2 - (.5+.25); -2*2 - .75; untouched; .5/2 - (2*.5+.25); untouched
    assert_eq!(got, [0.25, -4.75, 1.0, -1.0, -1.0]);
    let mut g = Sampler::new(SamplingParams { temperature: 0.0, ..p }, 5).unwrap();
    for t in [0, 0] {
        g.accept(t);
    }
    assert_eq!(g.sample(&l), 2, "greedy sees penalties: 2/2 - (1+.25) < 1");
    g.reset();
    assert_eq!(g.sample(&l), 0);
}

#[test]
fn logit_bias_adds_and_bans() {
    let l = [1.0, 3.0, 2.0, 0.0];
    let ban = SamplingParams { logit_bias: vec![(1, f32::NEG_INFINITY)], ..SamplingParams::greedy() };
    assert_eq!(Sampler::new(ban.clone(), 4).unwrap().sample(&l), 2);
    let boost = SamplingParams { logit_bias: vec![(3, 2.0), (3, 1.5)], ..SamplingParams::greedy() };
    assert_eq!(Sampler::new(boost, 4).unwrap().sample(&l), 3, "biases on one id add up");
    let mut s = Sampler::new(SamplingParams { temperature: 5.0, ..ban.clone() }, 4).unwrap();
    assert!((0..2000).all(|_| s.sample(&l) != 1));
    let all = SamplingParams { logit_bias: (0..4).map(|i| (i, f32::NEG_INFINITY)).collect(), ..plain(1) };
    assert_eq!(Sampler::new(all, 4).unwrap().sample(&l), 0, "everything banned: lowest id");
}

#[test]
fn same_seed_same_tokens_different_seed_different_tokens() {
    let flat = vec![0.0f32; 1000];
    let seq = |seed| {
        let mut s = Sampler::new(plain(seed), 1000).unwrap();
        (0..100).map(|_| s.sample(&flat)).collect::<Vec<_>>()
    };
    assert_eq!(seq(42), seq(42));
    assert_ne!(seq(42), seq(43));
    let mut s = Sampler::new(plain(42), 1000).unwrap();
    s.sample(&flat);
    s.reset();
    assert_eq!(s.sample(&flat), seq(42)[0], "reset restarts the RNG");
}

/// Fixed expected tokens and bits, the same on every target: recorded on x86_64 and checked
/// on wasm32-wasip1 (`cargo test --target wasm32-wasip1` with a node `WASI` runner).
#[test]
fn golden_sequence() {
    let l = logits(32000, 1);
    let mut s = Sampler::new(SamplingParams { seed: 1234, ..Default::default() }, l.len()).unwrap();
    let mut got = vec![];
    for _ in 0..16 {
        let t = s.sample(&l);
        s.accept(t);
        got.push(t);
    }
    let mut h = Sampler::new(SamplingParams { temperature: 1.5, seed: 99, top_k: 0, ..Default::default() }, 32000).unwrap();
    got.extend((0..8).map(|_| h.sample(&l)));
    assert_eq!(got, GOLDEN);
    // Continuous logits through every filter combination: FNV-1a of 4 x 300 tokens.
    let mut r = 0x1234_5678u64;
    let cont: Vec<f32> = (0..20_000)
        .map(|_| {
            r = r.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (r >> 40) as f32 / (1u32 << 24) as f32 * 12.0 - 6.0
        })
        .collect();
    let configs = [
        SamplingParams { seed: 5, ..Default::default() },
        SamplingParams { top_k: 0, top_p: 0.9, min_p: 0.0, temperature: 1.3, seed: 6, ..Default::default() },
        SamplingParams { top_k: 0, top_p: 1.0, min_p: 0.02, temperature: 0.7, seed: 7, ..Default::default() },
        SamplingParams { repeat_penalty: 1.1, presence_penalty: 0.3, frequency_penalty: 0.2, ..plain(8) },
    ];
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for p in configs {
        let mut s = Sampler::new(p, cont.len()).unwrap();
        for _ in 0..300 {
            let t = s.sample(&cont);
            s.accept(t);
            hash = (hash ^ t as u64).wrapping_mul(0x100_0000_01b3);
        }
    }
    assert_eq!(hash, HASH_GOLDEN);
    assert_eq!(exp_det(-1.0).to_bits(), 0x3fd7_8b56_362c_ef38);
    assert_eq!(exp_det(-0.123_456_789).to_bits(), EXP_GOLDEN);
}
const GOLDEN: [u32; 24] = [
    205, 2083, 1645, 2185, 361, 2185, 985, 759, 1253, 1377, 1055, 779, 499, 1377, 893, 1931, 8849, 1784, 23957, 2507,
    20778, 13993, 9473, 20228,
];
const HASH_GOLDEN: u64 = 0x6f59_d54f_f6a2_ef62;
const EXP_GOLDEN: u64 = 0x3fec_4894_6a8f_cf96;

#[test]
fn exp_det_is_accurate() {
    let mut x = -745.0f64;
    while x < 709.0 {
        let (a, b) = (exp_det(x), x.exp());
        assert!((a - b).abs() <= 4e-16 * b || (x < -708.0 && a == 0.0), "{x}: {a} vs {b}");
        x += 0.0137;
    }
    assert_eq!(exp_det(0.0), 1.0);
    assert_eq!(exp_det(f64::NEG_INFINITY), 0.0);
}

#[test]
fn log_softmax_at_matches_direct_formula() {
    let l = [1.0f32, 2.0, 3.0, -1.0];
    let z: f64 = l.iter().map(|&x| (x as f64).exp()).sum();
    for i in 0..4 {
        assert!((log_softmax_at(&l, i) - ((l[i as usize] as f64).exp() / z).ln()).abs() < 1e-12);
    }
}

/// Chi-square of `n` draws against `p`; loose bound so a fixed seed never flakes.
fn chi2(s: &mut Sampler, l: &[f32], p: &[f64], n: usize) -> f64 {
    let mut hist = vec![0usize; p.len()];
    for _ in 0..n {
        hist[s.sample(l) as usize] += 1;
    }
    hist.iter().zip(p).map(|(&o, &p)| (o as f64 - n as f64 * p).powi(2) / (n as f64 * p)).sum()
}

#[test]
fn empirical_distribution_matches_softmax() {
    let l = [0.0f32, 1.0, 2.0, -1.0, 0.5, 1.5, -0.5, 0.25];
    for t in [1.0f32, 0.5] {
        let z: f64 = l.iter().map(|&x| (x as f64 / t as f64).exp()).sum();
        let p: Vec<f64> = l.iter().map(|&x| (x as f64 / t as f64).exp() / z).collect();
        let mut s = Sampler::new(SamplingParams { temperature: t, ..plain(7) }, l.len()).unwrap();
        let c = chi2(&mut s, &l, &p, 200_000);
        assert!(c < 30.0, "t={t}: chi2 {c} (7 dof; p<0.0001 at 29)");
    }
}

#[test]
fn no_allocation_per_sample() {
    let n = 5000;
    let p = SamplingParams {
        top_k: 0,
        top_p: 0.99,
        repeat_penalty: 1.3,
        frequency_penalty: 0.1,
        presence_penalty: 0.2,
        logit_bias: vec![(5, f32::NEG_INFINITY)],
        ..Default::default()
    };
    let mut samplers: Vec<Sampler> = [p.clone(), SamplingParams { top_k: 40, ..p }, SamplingParams::greedy()]
        .into_iter()
        .map(|p| Sampler::new(p, n).unwrap())
        .collect();
    let inputs: Vec<Vec<f32>> = (0..4).map(|i| logits(n, i)).collect();
    let before = ALLOCS.with(|a| a.get());
    for s in &mut samplers {
        let ptr = s.candidates().as_ptr();
        for i in 0..200 {
            let t = s.sample(&inputs[i % 4]);
            s.accept(t);
        }
        assert_eq!(s.candidates().as_ptr(), ptr);
    }
    assert_eq!(ALLOCS.with(|a| a.get()) - before, 0, "sample/accept must not allocate");
}

#[test]
fn validation_names_the_bad_parameter() {
    let d = SamplingParams::default;
    let bad = [
        (SamplingParams { temperature: f32::NAN, ..d() }, "temperature"),
        (SamplingParams { temperature: f32::INFINITY, ..d() }, "temperature"),
        (SamplingParams { top_p: 0.0, ..d() }, "top_p"),
        (SamplingParams { top_p: 1.5, ..d() }, "top_p"),
        (SamplingParams { top_p: f32::NAN, ..d() }, "top_p"),
        (SamplingParams { min_p: -0.1, ..d() }, "min_p"),
        (SamplingParams { min_p: f32::NAN, ..d() }, "min_p"),
        (SamplingParams { repeat_penalty: 0.0, ..d() }, "repeat_penalty"),
        (SamplingParams { presence_penalty: f32::NAN, ..d() }, "presence_penalty"),
        (SamplingParams { frequency_penalty: f32::INFINITY, ..d() }, "frequency_penalty"),
        (SamplingParams { penalty_last_n: usize::MAX, ..d() }, "penalty_last_n"),
        (SamplingParams { logit_bias: vec![(10, 1.0)], ..d() }, "logit_bias"),
        (SamplingParams { logit_bias: vec![(1, f32::INFINITY)], ..d() }, "logit_bias"),
    ];
    for (p, name) in bad {
        let e = Sampler::new(p, 10).unwrap_err();
        assert_eq!(e.param, name);
        assert!(e.to_string().contains(name), "{e}");
    }
    assert_eq!(Sampler::new(d(), 0).unwrap_err().param, "n_vocab");
    assert!(Sampler::new(SamplingParams { temperature: -2.0, min_p: 1.0, ..d() }, 10).is_ok());
}

