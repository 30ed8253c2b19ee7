//! The continuous-batching scheduler (`batcher.rs`) against generations run alone.
//!
//! For every `models*/` fixture the engine supports (found by listing): five greedy requests
//! through a scheduler of three sequences with 8-row steps (so prompts are prefilled in
//! chunks beside running decodes, and two requests wait for a free sequence) give each the
//! tokens a `RuntimeSession` gives it alone. One of them extends another's prompt and is
//! admitted after that one's prompt ran: it takes the cells by copy (KV-only models), and its
//! `n_reused` says so. Files with f32 matrices (the all-f32 ones and every MoE router) round
//! otherwise for several rows than for one (see multi_sequence.rs), so their tokens may part
//! at a near-tie: they are run (no crash, every request completes) but not compared.

use llmplayer_core::batcher::{BatchOptions, Event, RequestId};
use llmplayer_core::model::Arch;
use llmplayer_core::runtime::{RuntimeError, RuntimeModel, RuntimeOptions};
use llmplayer_core::sampling::SamplingParams;
use llmplayer_core::GgufFile;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod engine;
use engine::{fixtures_root, model_files};

const MAX_TOKENS: usize = 6;

fn prompt(path: &Path) -> Vec<u32> {
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(path.with_extension("gguf.ref.json")).unwrap()).unwrap();
    r["prompt_tokens"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect()
}

fn load(path: &Path) -> Option<(RuntimeModel, bool)> {
    let bytes = std::fs::read(path).unwrap();
    let f = GgufFile::parse(&bytes).unwrap();
    if f.architecture().is_none_or(|a| Arch::from_str(a).is_err()) {
        return None;
    }
    let f32_mats = f.tensors.iter().any(|t| t.dims.len() >= 2 && t.ty == llmplayer_core::GgmlType::F32);
    let rt = RuntimeModel::load(Arc::new(bytes), &RuntimeOptions { n_threads: Some(2), ..Default::default() }).unwrap();
    Some((rt, f32_mats))
}

fn alone(rt: &RuntimeModel, prompt: &[u32]) -> Vec<u32> {
    let mut s = rt.new_session(64, None).unwrap();
    s.begin(prompt, SamplingParams::greedy()).unwrap();
    (0..MAX_TOKENS).map(|_| s.next().unwrap().token).collect()
}

/// Runs steps until every request has its tokens; returns them and each one's `n_reused`.
fn drain(b: &mut llmplayer_core::batcher::Batcher, out: &mut HashMap<RequestId, (Vec<u32>, usize)>) {
    for _ in 0..200 {
        if !b.busy() {
            return;
        }
        let events = b.step().unwrap().to_vec();
        let s = b.stats();
        assert!(s.kv_allocated <= s.kv_size, "{s:?}");
        for e in events {
            match e {
                Event::Started { id, n_reused, .. } => out.entry(id).or_default().1 = n_reused,
                Event::Token { id, token, .. } => {
                    let toks = &mut out.entry(id).or_default().0;
                    toks.push(token);
                    if toks.len() == MAX_TOKENS {
                        b.finish(id);
                    }
                }
                Event::Full { id } => panic!("request {id}: room full"),
                Event::Failed { id, message, .. } => panic!("request {id}: {message}"),
            }
        }
    }
    panic!("the scheduler did not finish");
}

#[test]
fn batched_greedy_generations_equal_each_alone() {
    let mut checked = 0;
    for path in fixtures_root().map(|r| model_files(&r)).unwrap_or_default() {
        let Some((rt, f32_mats)) = load(&path) else { continue };
        let a = prompt(&path);
        let prompts: Vec<Vec<u32>> = vec![
            a.clone(),
            a.iter().rev().take(a.len() * 2 / 3).copied().collect(),
            a[..a.len() / 2].iter().chain(&a[..3]).copied().collect(),
            a.iter().chain(&a[1..4]).copied().collect(), // extends the first
            a.iter().skip(2).copied().collect(),
        ];
        let recurrent = rt.engine.as_ref().unwrap().hparams().state_len.iter().any(|&n| n > 0);
        let mut b = rt.new_batcher(&BatchOptions { n_seq: 3, n_ctx: 64, n_batch: Some(8), ..Default::default() }).unwrap();
        let lim = b.limits();
        let mut out = HashMap::new();
        // The first prompt runs alone for a step, so the fourth finds its cells.
        b.submit(lim.request(0, prompts[0].clone(), SamplingParams::greedy(), MAX_TOKENS).unwrap());
        let first = b.step().unwrap().to_vec();
        assert!(matches!(first[0], Event::Started { id: 0, n_reused: 0, .. }));
        for e in first {
            if let Event::Token { id, token, .. } = e {
                out.entry(id).or_insert((vec![], 0)).0.push(token);
            }
        }
        for (id, p) in prompts.iter().enumerate().skip(1) {
            b.submit(lim.request(id as u64, p.clone(), SamplingParams::greedy(), MAX_TOKENS).unwrap());
        }
        drain(&mut b, &mut out);
        assert_eq!(b.stats().active, 0);
        assert_eq!(b.stats().kv_active, 0);
        let name = path.display();
        // The fourth waits for a free sequence, then reuses the first's prompt: by copy, or
        // on the first's own sequence (a recurrent state only there, from its checkpoint).
        let reused = out[&3].1;
        assert!(reused <= a.len(), "{name}: {reused}");
        if !recurrent {
            assert_eq!(reused, a.len(), "{name}: {reused} reused");
        }
        for (id, p) in prompts.iter().enumerate() {
            let got = &out[&(id as u64)].0;
            assert_eq!(got.len(), MAX_TOKENS, "{name}: request {id}");
            if !f32_mats {
                assert_eq!(got, &alone(&rt, p), "{name}: request {id}");
            }
        }
        checked += 1;
    }
    println!("{checked} files checked");
    if fixtures_root().is_some() {
        assert!(checked >= 20, "only {checked} supported fixtures");
    }
}

fn llama() -> Option<RuntimeModel> {
    let root: PathBuf = fixtures_root()?;
    load(&root.join("models/llama.gguf")).map(|(rt, _)| rt)
}

/// A request's cells are copied from a sequence that holds its prefix, and it then generates
/// what it would alone.
#[test]
fn a_shared_prefix_is_copied_from_another_sequence() {
    let Some(rt) = llama() else { return };
    let mut b = rt.new_batcher(&BatchOptions { n_seq: 2, n_ctx: 64, ..Default::default() }).unwrap();
    let lim = b.limits();
    let system: Vec<u32> = (1..=20).collect();
    let first: Vec<u32> = system.iter().copied().chain([40, 41]).collect();
    let second: Vec<u32> = system.iter().copied().chain([50, 51, 52]).collect();
    let mut out = HashMap::new();
    b.submit(lim.request(0, first.clone(), SamplingParams::greedy(), MAX_TOKENS).unwrap());
    b.step().unwrap();
    b.submit(lim.request(1, second.clone(), SamplingParams::greedy(), MAX_TOKENS).unwrap());
    let events = b.step().unwrap().to_vec();
    assert!(events.contains(&Event::Started { id: 1, n_prompt: 23, n_reused: 20 }), "{events:?}");
    out.insert(0, (vec![0; 2], 0)); // the first's tokens are not checked
    for e in events {
        if let Event::Token { id: 1, token, .. } = e {
            out.entry(1).or_default().0.push(token);
        }
    }
    drain(&mut b, &mut out);
    assert_eq!(out[&1].0, alone(&rt, &second));
}

/// Requests wait while the KV budget is short, idle prefix caches give their rows back, and
/// a request larger than the whole budget is refused up front.
#[test]
fn the_kv_budget_makes_requests_wait_and_is_never_exceeded() {
    let Some(rt) = llama() else { return };
    let mut b = rt.new_batcher(&BatchOptions { n_seq: 4, n_ctx: 64, kv_size: Some(40), ..Default::default() }).unwrap();
    let lim = b.limits();
    let p: Vec<u32> = (1..=20).collect();
    let q: Vec<u32> = (30..=45).collect();
    b.submit(lim.request(0, p.clone(), SamplingParams::greedy(), 4).unwrap()); // 24 positions
    b.submit(lim.request(1, q.clone(), SamplingParams::greedy(), 4).unwrap()); // 20: waits
    let events = b.step().unwrap().to_vec();
    assert!(events.iter().any(|e| matches!(e, Event::Started { id: 0, .. })));
    assert!(!events.iter().any(|e| matches!(e, Event::Started { id: 1, .. })));
    let s = b.stats();
    assert_eq!((s.active, s.waiting, s.kv_active, s.kv_allocated), (1, 1, 24, 24));
    b.finish(0);
    // The finished request's 24 rows stay as a prefix cache until the second needs them.
    assert_eq!(b.stats().kv_allocated, 24);
    let events = b.step().unwrap().to_vec();
    assert!(events.iter().any(|e| matches!(e, Event::Started { id: 1, n_reused: 0, .. })), "{events:?}");
    let s = b.stats();
    assert_eq!((s.active, s.waiting, s.kv_active, s.kv_allocated), (1, 0, 20, 20));
    b.finish(1);
    b.finish(1); // twice is harmless
    assert_eq!(b.stats().kv_active, 0);
    assert!(matches!(lim.request(2, p.clone(), SamplingParams::greedy(), 30), Err(RuntimeError::KvBudget { need: 50, kv_size: 40 })));
    assert!(matches!(lim.request(3, vec![], SamplingParams::greedy(), 3), Err(RuntimeError::EmptyPrompt)));
    assert!(matches!(lim.request(4, (0..64).collect(), SamplingParams::greedy(), 3), Err(RuntimeError::PromptTooLong { .. })));
    // A queued request can be finished before it starts.
    b.submit(lim.request(5, p, SamplingParams::greedy(), 4).unwrap());
    b.finish(5);
    assert!(!b.busy());
}

/// A request that reaches the context ends with `Full` (its last token unevaluated); so does
/// one that reaches its `max_tokens` without being finished by the caller.
#[test]
fn a_full_context_ends_the_request() {
    let Some(rt) = llama() else { return };
    let mut b = rt.new_batcher(&BatchOptions { n_seq: 1, n_ctx: 8, ..Default::default() }).unwrap();
    let lim = b.limits();
    b.submit(lim.request(0, vec![1, 2, 3, 4, 5], SamplingParams::greedy(), 100).unwrap());
    let mut tokens = 0;
    for _ in 0..10 {
        for e in b.step().unwrap().to_vec() {
            match e {
                Event::Token { .. } => tokens += 1,
                Event::Full { id } => {
                    assert_eq!((id, tokens), (0, 4));
                    assert!(!b.busy());
                    // max_tokens 2 of a context of 64: two tokens, then Full.
                    let mut b = rt.new_batcher(&BatchOptions { n_seq: 1, n_ctx: 64, ..Default::default() }).unwrap();
                    b.submit(lim.request(1, vec![1, 2, 3], SamplingParams::greedy(), 2).unwrap());
                    let mut got = vec![];
                    for _ in 0..5 {
                        got.extend(b.step().unwrap().iter().filter(|e| !matches!(e, Event::Started { .. })).cloned());
                    }
                    assert!(matches!(got[..], [Event::Token { .. }, Event::Token { .. }, Event::Full { id: 1 }]), "{got:?}");
                    assert_eq!(b.stats().kv_allocated, 5);
                    return;
                }
                Event::Started { .. } => {}
                Event::Failed { message, .. } => panic!("{message}"),
            }
        }
    }
    panic!("no Full");
}

/// While a sequence decodes, a long new prompt is prefilled in chunks of
/// `PREFILL_BESIDE_DECODE` rows: the running one gets a token every step meanwhile.
#[test]
fn a_long_prompt_beside_a_running_stream_goes_in_short_chunks() {
    use llmplayer_core::batcher::PREFILL_BESIDE_DECODE;
    let Some(rt) = llama() else { return };
    let mut b = rt.new_batcher(&BatchOptions { n_seq: 2, n_ctx: 512, ..Default::default() }).unwrap();
    let lim = b.limits();
    b.submit(lim.request(0, vec![1, 2, 3], SamplingParams::greedy(), 100).unwrap());
    b.step().unwrap();
    let long: Vec<u32> = (0..300).map(|i| 5 + i % 200).collect();
    b.submit(lim.request(1, long.clone(), SamplingParams::greedy(), 4).unwrap());
    let mut steps = 0;
    loop {
        let events = b.step().unwrap().to_vec();
        steps += 1;
        assert!(events.iter().any(|e| matches!(e, Event::Token { id: 0, .. })), "step {steps}: the running stream waited");
        if events.iter().any(|e| matches!(e, Event::Token { id: 1, .. })) {
            break;
        }
        assert!(steps < 20);
    }
    assert_eq!(steps, long.len().div_ceil(PREFILL_BESIDE_DECODE));
}
