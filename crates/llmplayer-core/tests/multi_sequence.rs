//! Several sequences in one forward pass (`Session::decode` with a `Batch`): for every
//! `models*/` fixture this engine supports (found by listing), two different prompts run
//! together give, for each, exactly the logits (bit for bit) of running it alone, and so do
//! three decode steps taken together afterwards; with both attention modes.
//!
//! One exception, by design: f32 weight matrices round as llama.cpp's do for the number of
//! rows in the pass (`ggml_vec_dot_f32` for one, tinyBLAS for more), so in the all-f32 files
//! and in MoE files (whose routers are f32) two sequences together round otherwise than one
//! alone; those are held to the models
//! README's f32 tolerance (|a - b| <= 1e-3 + 1e-4 |b|) instead, with two-pass attention only
//! (flash attention rounds K and V to f16, which turns those ulps into f16 steps of 1e-3).
//! Quantized files are exact in both modes.

use llmplayer_core::model::{Arch, Batch, KvType, LoadOptions, Model, ModelError};
use llmplayer_core::parallel::ThreadPool;
use llmplayer_core::GgufFile;
use std::path::PathBuf;
use std::sync::Arc;

mod engine;
use engine::{argmax, fixtures_root, model_files};

fn prompt(path: &PathBuf) -> Vec<u32> {
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(path.with_extension("gguf.ref.json")).unwrap()).unwrap();
    r["prompt_tokens"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect()
}

#[test]
fn two_sequences_in_one_pass_match_each_alone() {
    let pool = Arc::new(ThreadPool::new(2));
    let mut checked = 0;
    for path in fixtures_root().map(|r| model_files(&r)).unwrap_or_default() {
        let bytes = std::fs::read(&path).unwrap();
        let f = GgufFile::parse(&bytes).unwrap();
        if f.architecture().is_none_or(|a| Arch::from_str(a).is_err()) {
            continue;
        }
        let model = Model::load_with(&f, &LoadOptions { pool: Some(Arc::clone(&pool)), ..Default::default() }).unwrap();
        // f32 matrices: the all-f32 files, and every MoE router.
        let f32_mats = f.tensors.iter().any(|t| t.dims.len() >= 2 && t.ty == llmplayer_core::GgmlType::F32);
        let same = |got: &[f32], want: &[f32]| {
            if !f32_mats {
                return got == want;
            }
            got.iter().zip(want).all(|(g, w)| (g - w).abs() <= 1e-3 + 1e-4 * w.abs())
        };
        let a = prompt(&path);
        // Another prompt of another length: the first one's tail, reversed.
        let b: Vec<u32> = a.iter().rev().take(a.len() * 2 / 3).copied().collect();
        for flash in [false, true] {
            if flash && f32_mats {
                continue;
            }
            // Each prompt alone: its logits and the greedy tokens the steps feed back (the
            // combined run feeds the same ones, so a near-tie cannot make them part).
            let alone = |toks: &[u32], steps: usize| -> (Vec<Vec<f32>>, Vec<u32>) {
                let mut s = model.new_session_kv(64, KvType::F32).unwrap();
                s.set_flash_attn(flash);
                let mut ctx = toks.to_vec();
                let mut rows = vec![s.eval(&ctx, false).unwrap().to_vec()];
                let mut fed = vec![];
                for _ in 0..steps {
                    fed.push(argmax(rows.last().unwrap()));
                    ctx.push(*fed.last().unwrap());
                    rows.push(s.eval(&ctx, false).unwrap().to_vec());
                }
                (rows, fed)
            };
            let ((want_a, fed_a), (want_b, fed_b)) = (alone(&a, 3), alone(&b, 3));

            let mut s = model.new_session_seqs(64, 2, KvType::F32).unwrap();
            s.set_flash_attn(flash);
            let mut batch = Batch::new();
            for (seq, toks) in [(0, &a), (1, &b)] {
                for (i, &t) in toks.iter().enumerate() {
                    batch.push(t, i, seq, i + 1 == toks.len());
                }
            }
            let n_vocab = model.n_vocab();
            let name = format!("{} (flash {flash})", path.display());
            for step in 0..4 {
                let got = s.decode(&batch).unwrap().to_vec();
                assert_eq!(got.len(), 2 * n_vocab);
                assert!(same(&got[..n_vocab], &want_a[step]), "{name}: sequence 0, step {step}");
                assert!(same(&got[n_vocab..], &want_b[step]), "{name}: sequence 1, step {step}");
                if step == 3 {
                    break;
                }
                batch.clear();
                for (seq, t) in [fed_a[step], fed_b[step]].into_iter().enumerate() {
                    batch.push(t, s.seq_len(seq), seq, true);
                }
            }
            checked += 1;
        }
    }
    println!("{checked} file × attention-mode pairs checked");
    if fixtures_root().is_some() {
        assert!(checked >= 2, "no supported fixture found");
    }
}

#[test]
fn batches_that_do_not_continue_their_sequence_are_refused() {
    let Some(root) = fixtures_root() else { return };
    let bytes = std::fs::read(root.join("models/llama.gguf")).unwrap();
    let f = GgufFile::parse(&bytes).unwrap();
    let model = Model::load(&f).unwrap();
    let mut s = model.new_session_seqs(8, 2, KvType::F32).unwrap();
    let mut b = Batch::new();
    b.push(1, 1, 0, true);
    assert_eq!(s.decode(&b).unwrap_err(), ModelError::BadPosition { seq: 0, pos: 1, expected: 0 });
    b.clear();
    b.push(1, 0, 2, true);
    assert_eq!(s.decode(&b).unwrap_err(), ModelError::BadSequence { seq: 2, n_seq: 2 });
    b.clear();
    for p in 0..9 {
        b.push(1, p, 1, p == 8);
    }
    assert_eq!(s.decode(&b).unwrap_err(), ModelError::ContextFull { n_tokens: 9, n_ctx: 8 });
    assert_eq!(s.seq_len(1), 0, "a refused batch changes nothing");
    assert!(s.decode(&Batch::new()).is_err());
}
