//! What both bindings get from the runtime: errors as fields (code, message, byte offset),
//! the generation prompt's checks (made here once, not again in TypeScript), and the engine's
//! own count of reused cache positions (the server's `cached_tokens`).

use llmplayer_core::runtime::{RuntimeError, RuntimeModel, RuntimeOptions};
use llmplayer_core::sampling::SamplingParams;
use std::sync::Arc;

mod engine;
use engine::fixtures_root;

fn load(bytes: Vec<u8>) -> Result<RuntimeModel, RuntimeError> {
    RuntimeModel::load(Arc::new(bytes), &RuntimeOptions { n_threads: Some(1), ..Default::default() })
}

fn greedy() -> SamplingParams {
    SamplingParams { temperature: 0.0, ..SamplingParams::default() }
}

#[test]
fn gguf_errors_carry_their_byte_offset() {
    let e = load(vec![0x47, 0x47, 0x55, 0x46, 1, 0, 0, 0]).err().unwrap();
    assert_eq!(e.code(), "GGUF_UNSUPPORTED_VERSION");
    assert_eq!(e.offset(), Some(4));
    assert!(!e.message().starts_with('['), "{}", e.message());
    assert!(e.message().contains("unsupported GGUF version 1"), "{}", e.message());

    let e = load(vec![0x47, 0x47]).err().unwrap();
    assert_eq!(e.code(), "GGUF_TRUNCATED");
    assert_eq!(e.offset(), Some(0));
    assert_eq!(RuntimeError::NoWeights.offset(), None);
}

#[test]
fn begin_checks_the_prompt_and_reports_the_engines_reuse() {
    let Some(root) = fixtures_root() else { return };
    let rt = load(std::fs::read(root.join("real/stories260K.gguf")).unwrap()).unwrap();
    let n_vocab = rt.text.tokenizer.n_vocab() as u32;
    let mut s = rt.new_session(16, None).unwrap();

    let e = s.begin(&[], greedy()).err().unwrap();
    assert_eq!((e.code().as_str(), e.offset()), ("EMPTY_PROMPT", None));
    let e = s.begin(&[1; 16], greedy()).err().unwrap();
    assert_eq!(e.code(), "CONTEXT_LENGTH_EXCEEDED");
    assert!(e.message().contains("16 tokens"), "{}", e.message());
    let e = s.begin(&[1, n_vocab], greedy()).err().unwrap();
    assert_eq!((e.code().as_str(), e.offset()), ("MODEL_BAD_TOKEN", None));

    let prompt = [1, 400, 401, 402];
    let first = s.begin(&prompt, greedy()).unwrap();
    assert_eq!((first.n_prompt, first.n_reused), (4, 0));
    // The same prompt again: everything but the last token, whose logits are needed.
    assert_eq!(s.begin(&prompt, greedy()).unwrap().n_reused, 3);

    // Three steps evaluate the first two sampled tokens; the third is sampled, not evaluated.
    let sampled: Vec<u32> = (0..3).map(|_| s.next().unwrap().token).collect();
    let next: Vec<u32> = prompt.iter().chain(&sampled).copied().chain([5]).collect();
    let stats = s.begin(&next, greedy()).unwrap();
    assert_eq!((stats.n_prompt, stats.n_reused), (8, 6));

    // A different first token shares nothing.
    assert_eq!(s.begin(&[2, 400], greedy()).unwrap().n_reused, 0);
}
