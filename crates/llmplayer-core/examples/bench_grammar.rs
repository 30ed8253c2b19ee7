//! Grammar mask cost against a decode step, on a real model's vocabulary (bench/grammar.mjs
//! runs it on the generated Llama-3.2-1B Q4_K_M, whose tokenizer is Llama 3's 128k vocabulary).
//!
//! ```sh
//! cargo run --release -p llmplayer-core --example bench_grammar -- MODEL.gguf [STEPS] [THREADS]
//! ```
//!
//! Prints one JSON object. The generation is driven by hand so that the two costs are timed
//! apart on the same tokens: each step evaluates the last token (`RuntimeSession::evaluate`
//! reuses the cached prefix, so that is one decode step) and draws the next with a sampler
//! whose grammar mask is wrapped in a timer (mask computation, applying it, and advancing the
//! grammar by the drawn token). Temperature 1 over the masked logits, so the random-weight
//! model walks all over the schema (keys, numbers, enums, strings) instead of one path.

use llmplayer_core::grammar::{GrammarMask, GrammarSpec};
use llmplayer_core::runtime::{RuntimeModel, RuntimeOptions};
use llmplayer_core::sampling::{Candidates, LogitProcessor, Sampler, SamplingParams};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// A list of records that does not end early (minItems), so every step is constrained.
const SCHEMA: &str = r#"{
  "type": "array", "minItems": 200,
  "items": {
    "type": "object",
    "properties": {
      "id": { "type": "integer", "minimum": 0, "maximum": 100000 },
      "name": { "type": "string", "maxLength": 24 },
      "email": { "type": "string", "pattern": "^[a-z]{1,12}@[a-z]{1,12}\\.(com|org)$" },
      "score": { "type": "number", "minimum": 0, "maximum": 100 },
      "active": { "type": "boolean" },
      "role": { "enum": ["admin", "user", "guest"] },
      "tags": { "type": "array", "items": { "type": "string", "maxLength": 10 }, "maxItems": 4 }
    },
    "required": ["id", "name", "email", "score", "active", "role", "tags"],
    "additionalProperties": false
  }
}"#;

#[derive(Debug)]
struct Timed {
    inner: GrammarMask,
    /// nanoseconds spent in apply + accept, per step
    spent: Arc<AtomicU64>,
}

impl LogitProcessor for Timed {
    fn apply(&mut self, c: &mut Candidates) {
        let t = Instant::now();
        self.inner.apply(c);
        self.spent.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }
    fn accept(&mut self, token: u32) {
        let t = Instant::now();
        self.inner.accept(token);
        self.spent.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }
    fn failure(&self) -> Option<String> {
        self.inner.failure()
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).expect("usage: bench_grammar MODEL.gguf [STEPS] [THREADS]");
    let steps: usize = args.get(2).map_or(64, |s| s.parse().unwrap());
    let threads: usize = args.get(3).map_or(2, |s| s.parse().unwrap());
    let bytes = std::fs::read(path).unwrap();
    let rt = RuntimeModel::load(Arc::new(bytes), &RuntimeOptions { n_threads: Some(threads), ..Default::default() }).unwrap();
    let n_vocab = rt.engine.as_ref().unwrap().n_vocab();
    let spec = GrammarSpec::JsonSchema { schema: SCHEMA.into(), strict: true };

    // The first compile builds the vocabulary's token environment (once per model).
    let t = Instant::now();
    rt.grammars.compile(&spec).unwrap();
    let first_compile_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let mask = rt.grammars.compile(&spec).unwrap();
    let compile_ms = t.elapsed().as_secs_f64() * 1e3;

    let spent = Arc::new(AtomicU64::new(0));
    let params = SamplingParams { temperature: 1.0, top_k: 0, top_p: 1.0, min_p: 0.0, seed: 1, ..SamplingParams::default() };
    let mut sampler = Sampler::new(params, n_vocab).unwrap();
    sampler.push_mask(Box::new(Timed { inner: mask, spent: spent.clone() }));

    let mut session = rt.new_session(steps + 64, None).unwrap();
    let mut history = rt.text.tokenize("Here are the users as JSON:", true, false);
    let (mut decode, mut masks, mut out) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..steps {
        let t = Instant::now();
        let logits = session.evaluate(&history, false).unwrap().to_vec();
        decode.push(t.elapsed().as_secs_f64() * 1e3);
        let before = spent.load(Ordering::Relaxed);
        let token = sampler.sample(&logits);
        sampler.accept(token);
        masks.push((spent.load(Ordering::Relaxed) - before) as f64 / 1e6);
        assert!(sampler.mask_failure().is_none(), "{:?}", sampler.mask_failure());
        assert!(!rt.text.tokenizer.is_eog(token), "the schema cannot end within {steps} steps");
        history.push(token);
        out.push(token);
    }
    // The first decode also evaluates the prompt: leave it out of the step time.
    let decode = &decode[1..];
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let mut sorted = masks.clone();
    sorted.sort_by(f64::total_cmp);
    let decode_ms = mean(decode);
    let mask_ms = mean(&masks);
    let text = String::from_utf8_lossy(&rt.text.detokenize(&out, false)).into_owned();
    let result = serde_json::json!({
        "model": path,
        "n_vocab": n_vocab,
        "threads": threads,
        "steps": steps,
        "first_compile_ms": first_compile_ms,
        "compile_ms": compile_ms,
        "decode_step_ms": decode_ms,
        "mask_ms_mean": mask_ms,
        "mask_ms_p50": percentile(&sorted, 0.5),
        "mask_ms_p90": percentile(&sorted, 0.9),
        "mask_ms_max": percentile(&sorted, 1.0),
        "mask_share_of_decode_step": mask_ms / decode_ms,
        "output_head": text.chars().take(200).collect::<String>(),
    });
    println!("{result}");
}
