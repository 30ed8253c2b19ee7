//! Debugging aid: `cargo run --release --example eval_model -- MODEL.gguf [--threads N]
//! [--greedy N] [--dequant] [--prefill N] tok tok ...` loads a model, evaluates the tokens as one batch,
//! prints a summary of the last logits (argmax, top 5, range), then optionally N greedy
//! tokens, with timings.

use llmplayer_core::model::{LoadOptions, Model};
use llmplayer_core::GgufFile;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: eval_model MODEL.gguf [--threads N] [--greedy N] [--dequant] tokens...");
    let mut opts = LoadOptions::default();
    let (mut tokens, mut greedy) = (Vec::new(), 0usize);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--threads" => opts.n_threads = Some(args.next().and_then(|v| v.parse().ok()).expect("--threads N")),
            "--greedy" => greedy = args.next().and_then(|v| v.parse().ok()).expect("--greedy N"),
            "--dequant" => opts.dequantize_to_f32 = true,
            // Synthetic prompt of N tokens (for timing).
            "--prefill" => {
                let n: u32 = args.next().and_then(|v| v.parse().ok()).expect("--prefill N");
                tokens.extend((0..n).map(|i| (i * 7 + 1) % 256));
            }
            t => tokens.push(t.parse::<u32>().expect("token ids are integers")),
        }
    }
    let bytes = std::fs::read(&path).expect("read model");
    let f = GgufFile::parse(&bytes).expect("parse gguf");
    let t0 = Instant::now();
    let model = Model::load_with(&f, &opts).unwrap_or_else(|e| panic!("load: {e}"));
    println!("{} loaded in {:?}; {:?}; threads {}", path, t0.elapsed(), model, model.pool().n_threads());
    if tokens.is_empty() {
        tokens.push(1);
    }
    let mut session = model.new_session(model.n_ctx_train().min(4096).max(tokens.len() + greedy));
    let t0 = Instant::now();
    let logits = session.eval(&tokens, false).unwrap_or_else(|e| panic!("eval: {e}")).to_vec();
    let dt = t0.elapsed();
    println!("prefill {} tokens in {:?} ({:.1} tok/s)", tokens.len(), dt, tokens.len() as f64 / dt.as_secs_f64());
    summarize(&logits);
    if greedy > 0 {
        let mut next = argmax(&logits);
        let t0 = Instant::now();
        let mut out = Vec::with_capacity(greedy);
        for _ in 0..greedy {
            out.push(next);
            tokens.push(next);
            let l = session.eval(&tokens, false).unwrap_or_else(|e| panic!("eval: {e}"));
            next = argmax(l);
        }
        let dt = t0.elapsed();
        println!("greedy {:?}", out);
        println!("decode {} tokens in {:?} ({:.1} tok/s)", greedy, dt, greedy as f64 / dt.as_secs_f64());
    }
}

fn argmax(l: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in l.iter().enumerate() {
        if v > l[best] {
            best = i;
        }
    }
    best as u32
}

fn summarize(l: &[f32]) {
    let mut idx: Vec<usize> = (0..l.len()).collect();
    idx.sort_by(|&a, &b| l[b].total_cmp(&l[a]));
    let top: Vec<String> = idx.iter().take(5).map(|&i| format!("{i}:{:.5}", l[i])).collect();
    let (min, max) = l.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    let mean = l.iter().map(|&v| v as f64).sum::<f64>() / l.len() as f64;
    // FNV-1a over the bits: equal for two builds only if every logit is.
    let bits = l.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, v| (h ^ v.to_bits() as u64).wrapping_mul(0x100_0000_01b3));
    println!("last logits: n {} argmax {} top5 [{}] min {min:.4} max {max:.4} mean {mean:.4} bits {bits:016x}", l.len(), idx[0], top.join(" "));
}
