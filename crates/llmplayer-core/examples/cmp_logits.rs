//! Debugging aid: `cargo run --release --example cmp_logits -- MODEL.gguf TOKENS.txt LOGITS.bin [--fa]
//! [--rounding avx2|avx512] [--out OURS.bin]`
//! evaluates the whitespace-separated token ids in one batch and compares every row of logits
//! with a raw little-endian f32 dump (n_tokens x n_vocab), e.g. from llama.cpp.

use llmplayer_core::runtime::{RuntimeModel, RuntimeOptions};
use std::sync::Arc;

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let flash_attn = a.iter().any(|x| x == "--fa");
    let rounding = a.iter().position(|x| x == "--rounding").map(|i| a[i + 1].clone());
    let bytes = std::fs::read(&a[0]).expect("read model");
    let m = RuntimeModel::load(Arc::new(bytes), &RuntimeOptions { flash_attn, rounding, ..RuntimeOptions::default() }).expect("load");
    let tokens: Vec<u32> = std::fs::read_to_string(&a[1]).expect("tokens").split_whitespace().map(|t| t.parse().expect("id")).collect();
    let want: Vec<f32> = std::fs::read(&a[2]).expect("logits").chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    let mut s = m.new_session(tokens.len(), None).expect("session");
    let got = s.evaluate(&tokens, true).expect("eval").to_vec();
    if let Some(i) = a.iter().position(|x| x == "--out") {
        let bytes: Vec<u8> = got.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(&a[i + 1], bytes).expect("write --out");
    }
    let nv = want.len() / tokens.len();
    let (mut worst, mut bad, mut first_bad) = (0f32, 0, None);
    for r in 0..tokens.len() {
        let d = (0..nv).map(|i| (got[r * nv + i] - want[r * nv + i]).abs()).fold(0f32, f32::max);
        worst = worst.max(d);
        if d > 1e-3 {
            bad += 1;
            first_bad.get_or_insert(r);
        }
    }
    println!("rows {} worst {worst:.3e} rows>1e-3 {bad} first {first_bad:?}", tokens.len());
}
