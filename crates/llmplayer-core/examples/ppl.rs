//! Debugging aid: `cargo run --release --example ppl -- MODEL.gguf TEXT.txt CTX CHUNKS [--fa]
//! [--kv f32|f16|q8_0] [--rounding avx2|avx512]` prints `llama-perplexity -c CTX -b CTX --chunks CHUNKS` for the text.

use llmplayer_core::runtime::{RuntimeModel, RuntimeOptions};
use std::sync::Arc;

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let (model, text) = (&a[0], &a[1]);
    let (ctx, chunks): (usize, usize) = (a[2].parse().expect("CTX"), a[3].parse().expect("CHUNKS"));
    let flash_attn = a.iter().any(|x| x == "--fa");
    let kv = a.iter().position(|x| x == "--kv").map(|i| a[i + 1].clone());
    let rounding = a.iter().position(|x| x == "--rounding").map(|i| a[i + 1].clone());
    let bytes = std::fs::read(model).expect("read model");
    let opts = RuntimeOptions { flash_attn, kv_type: kv, rounding, ..RuntimeOptions::default() };
    let m = RuntimeModel::load(Arc::new(bytes), &opts).expect("load");
    let text = std::fs::read_to_string(text).expect("read text");
    let mut tokens = m.text.tokenize(&text, true, false);
    if let Ok(p) = std::env::var("PPL_DUMP_TOKENS") {
        let s: Vec<String> = tokens[..ctx].iter().map(|t| t.to_string()).collect();
        std::fs::write(p, s.join(" ")).expect("write tokens");
    }
    tokens.truncate(ctx * chunks);
    let t0 = std::time::Instant::now();
    let p = m.perplexity(&tokens, Some(ctx), None).expect("perplexity");
    println!("ppl {:.4} over {} predictions in {:.1} s", p.ppl, p.n_predictions, t0.elapsed().as_secs_f64());
}
