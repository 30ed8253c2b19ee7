//! KV cache types (f32, f16, q8_0): the quantized caches give logits close to the f32 cache on
//! the fixture models, unknown or unusable types are rejected with their error code, and
//! decoding allocates nothing with any type.
//!
//! Bounds. Rounding to f16 perturbs each of q, K, V and the probabilities by at most 2^-11
//! relative (rms about 2^-11 / sqrt(3), 0.03%); Q8_0 perturbs each element by up to half a
//! step of amax / 127 of its 32-block (rms about 0.5% of a Gaussian row's spread), so its
//! logit error should be an order of magnitude above f16's. Both errors pass through every
//! later layer; the bounds are the measured worst differences over 100 prefill and 100
//! decode rows (f16: 1.2e-2 qwen3, 7.9e-3 llama, 2.3e-2 stories260K; q8_0: 0.27 qwen3, 0.16
//! llama; logits up to ~15) with about 3x headroom. The F32-weight fixtures isolate the
//! cache: on a quantized fixture (qwen3.Q4_K_M) any perturbation, f16 included, flips some
//! 8-bit activation roundings and moves logits by ~0.5, which says nothing about the cache.
//! The attention kernels themselves are checked against their exact rounding model in
//! `model::ops::attention`'s unit tests.

use llmplayer_core::model::{KvType, LoadOptions, Model, ModelError, Session};
use llmplayer_core::parallel::ThreadPool;
use llmplayer_core::runtime::{RuntimeModel, RuntimeOptions};
use llmplayer_core::GgufFile;
use std::sync::Arc;

mod engine;
use engine::{allocs_on_this_thread, fixtures_root};

fn load(bytes: &[u8], threads: usize) -> Model<'_> {
    let f = GgufFile::parse(bytes).unwrap();
    Model::load_with(&f, &LoadOptions { pool: Some(Arc::new(ThreadPool::new(threads))), ..Default::default() }).unwrap()
}

/// A prompt of `n` ids spread over the vocabulary (deterministic).
fn prompt(n: usize, n_vocab: usize) -> Vec<u32> {
    (0..n).map(|i| ((i * 7919 + 3) % n_vocab) as u32).collect()
}

/// Every row of one batched prefill, then the rows of a one-token-at-a-time decode in a
/// fresh session: both write paths of the cache (a batch, then single positions).
fn logits(model: &Model, kv: KvType, tokens: &[u32]) -> Vec<f32> {
    let mut s = model.new_session_kv(128, kv).unwrap();
    let mut out = s.eval(tokens, true).unwrap().to_vec();
    let mut s = model.new_session_kv(128, kv).unwrap();
    for i in 1..=tokens.len() {
        out.extend_from_slice(s.eval(&tokens[..i], false).unwrap());
    }
    out
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn quantized_caches_stay_close_to_f32() {
    let Some(root) = fixtures_root() else { return };
    // (file, bound for f16, bound for q8_0; None: the type is rejected for this model)
    // deepseek2: the MLA latent cache (f16: q and the probabilities rounded, as llama.cpp).
    let cases: [(&str, f32, Option<f32>); 4] = [
        ("models/qwen3.gguf", 0.06, Some(0.8)),
        ("models/llama.gguf", 0.06, Some(0.8)),
        ("real/stories260K.gguf", 0.06, None),
        ("models/deepseek2.gguf", 0.06, None),
    ];
    for (file, b16, b8) in cases {
        let bytes = std::fs::read(root.join(file)).unwrap();
        let model = load(&bytes, 2);
        let tokens = prompt(100, model.n_vocab());
        let reference = logits(&model, KvType::F32, &tokens);
        let scale = reference.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let d16 = max_abs_diff(&logits(&model, KvType::F16, &tokens), &reference);
        eprintln!("{file}: max |logit| {scale:.3}; f16 cache max abs diff {d16:.3e}");
        assert!(d16 > 0.0 && d16 <= b16, "{file}: f16 cache moved the logits by {d16} (bound {b16})");
        match b8 {
            Some(b8) => {
                let d8 = max_abs_diff(&logits(&model, KvType::Q8_0, &tokens), &reference);
                eprintln!("{file}: q8_0 cache max abs diff {d8:.3e}");
                assert!(d8 > 0.0 && d8 <= b8, "{file}: q8_0 cache moved the logits by {d8} (bound {b8})");
            }
            None => assert!(model.new_session_kv(128, KvType::Q8_0).is_err()),
        }
    }
}

/// Threads split attention by (head, token) pairs; each pair's sums are the same either way.
#[test]
fn quantized_caches_do_not_depend_on_threads() {
    let Some(root) = fixtures_root() else { return };
    let bytes = std::fs::read(root.join("models/qwen3.gguf")).unwrap();
    let (one, two) = (load(&bytes, 1), load(&bytes, 2));
    let tokens = prompt(120, one.n_vocab());
    for kv in [KvType::F16, KvType::Q8_0] {
        let a = one.new_session_kv(128, kv).unwrap().eval(&tokens, true).unwrap().to_vec();
        let b = two.new_session_kv(128, kv).unwrap().eval(&tokens, true).unwrap().to_vec();
        assert_eq!(a, b, "{kv}: 1 thread vs 2");
    }
}

#[test]
fn unknown_and_unusable_types_are_rejected() {
    for bad in ["q4_0", "F16", "", "fp16", "bf16"] {
        let e = KvType::parse(bad).unwrap_err();
        assert_eq!(e.code(), "kv_type_unsupported");
        assert!(e.to_string().contains("f32, f16, q8_0"), "{e}");
    }
    for kv in KvType::ALL {
        assert_eq!(KvType::parse(kv.name()), Ok(kv));
    }
    assert_eq!(KvType::default(), KvType::F32);

    let Some(root) = fixtures_root() else { return };
    // stories260K has heads of 8: a Q8_0 block (32) would straddle four of them.
    let bytes = std::fs::read(root.join("real/stories260K.gguf")).unwrap();
    let model = load(&bytes, 1);
    let e = model.new_session_kv(64, KvType::Q8_0).err().unwrap();
    assert!(matches!(&e, ModelError::KvTypeUnsupported { kv_type, .. } if kv_type == "q8_0"), "{e:?}");
    assert!(e.to_string().contains("multiples of 32"), "{e}");

    // Through the runtime (what both bindings call): the JS error codes.
    let shared: Arc<dyn AsRef<[u8]> + Send + Sync> = Arc::new(bytes.clone());
    let opts = |kv: &str| RuntimeOptions { n_threads: Some(1), kv_type: Some(kv.into()), ..Default::default() };
    let err = |r: Result<RuntimeModel, _>| r.err().map(|e: llmplayer_core::runtime::RuntimeError| e.code());
    assert_eq!(err(RuntimeModel::load(Arc::clone(&shared), &opts("q4_0"))).as_deref(), Some("MODEL_KV_TYPE_UNSUPPORTED"));
    assert_eq!(err(RuntimeModel::load(Arc::clone(&shared), &opts("q8_0"))).as_deref(), Some("MODEL_KV_TYPE_UNSUPPORTED"));
    // A vocab-only load has no heads to check, only the name.
    let vocab = RuntimeOptions { vocab_only: true, ..opts("q8_0") };
    assert!(RuntimeModel::load(Arc::clone(&shared), &vocab).is_ok());

    let rt = RuntimeModel::load(shared, &opts("f16")).unwrap();
    let s = rt.new_session(32, None).unwrap();
    assert_eq!(s.kv_type(), "f16");
    let s = rt.new_session(32, Some("f32")).unwrap();
    assert_eq!(s.kv_type(), "f32");
    assert_eq!(rt.new_session(32, Some("q8")).err().unwrap().code(), "MODEL_KV_TYPE_UNSUPPORTED");
    assert_eq!(rt.new_session(32, Some("q8_0")).err().unwrap().code(), "MODEL_KV_TYPE_UNSUPPORTED");
    assert_eq!(rt.perplexity(&[1, 2, 3, 4], None, Some("x")).err().unwrap().code(), "MODEL_KV_TYPE_UNSUPPORTED");
}

#[test]
fn bytes_per_token() {
    let Some(root) = fixtures_root() else { return };
    // qwen3 fixture: 3 layers, 2 KV heads of 64 for K and V: 3 * 2 * 128 = 768 elements.
    let bytes = std::fs::read(root.join("models/qwen3.gguf")).unwrap();
    let model = load(&bytes, 1);
    let per = |kv| model.new_session_kv(16, kv).unwrap().kv_bytes_per_token();
    assert_eq!(per(KvType::F32), 768 * 4);
    assert_eq!(per(KvType::F16), 768 * 2);
    assert_eq!(per(KvType::Q8_0), 768 / 32 * 34);
}

/// Multi-head latent attention caches only the latent and the shared rope key per position
/// and layer (the file's `kv_lora_rank + rope.dimension_count`); the legacy layout of the same
/// weights caches decompressed per-head K and V. Counts from the files' metadata.
#[test]
fn mla_caches_latents() {
    let Some(root) = fixtures_root() else { return };
    let meta = |f: &GgufFile, k: &str| f.get_arch(k).and_then(|v| v.as_u64()).unwrap_or_else(|| panic!("{k}")) as usize;
    let bytes = std::fs::read(root.join("models/deepseek2.gguf")).unwrap();
    let f = GgufFile::parse(&bytes).unwrap();
    let per_layer = meta(&f, ".attention.kv_lora_rank") + meta(&f, ".rope.dimension_count");
    let n_layer = meta(&f, ".block_count");
    let model = load(&bytes, 1);
    let per = |kv| model.new_session_kv(16, kv).map(|s| s.kv_bytes_per_token());
    assert_eq!(per(KvType::F32).unwrap(), per_layer * n_layer * 4);
    assert_eq!(per(KvType::F16).unwrap(), per_layer * n_layer * 2);
    assert!(matches!(per(KvType::Q8_0), Err(ModelError::KvTypeUnsupported { .. })));

    let bytes = std::fs::read(root.join("models/deepseek2-kvb.gguf")).unwrap();
    let f = GgufFile::parse(&bytes).unwrap();
    let heads = meta(&f, ".attention.head_count_kv") * (meta(&f, ".attention.key_length") + meta(&f, ".attention.value_length"));
    let legacy = load(&bytes, 1);
    assert_eq!(legacy.new_session_kv(16, KvType::F32).unwrap().kv_bytes_per_token(), heads * n_layer * 4);
    assert!(heads > per_layer, "the latent is the smaller cache");
}

/// After a prefill, decoding tokens (and a further prefill) allocates nothing with any cache
/// type: the conversion buffers are part of the session's scratch.
#[test]
fn decode_does_not_allocate_with_any_type() {
    let Some(root) = fixtures_root() else { return };
    let b = allocs_on_this_thread();
    std::hint::black_box(vec![1u8; 10]);
    assert!(allocs_on_this_thread() > b, "the counting allocator counts");
    // deepseek2.Q4_K_M: MLA's latent cache, one token's heads and experts as routed mat-vecs.
    for file in ["models/qwen3.Q4_K_M.gguf", "models/phi3.gguf", "real/stories260K.gguf", "models/deepseek2.Q4_K_M.gguf"] {
        let bytes = std::fs::read(root.join(file)).unwrap();
        let model = load(&bytes, 1);
        for kv in KvType::ALL {
            let Ok(s) = model.new_session_kv(128, kv) else {
                assert!((file.contains("stories260K") || file.contains("deepseek2")) && kv == KvType::Q8_0, "{file}: {kv} rejected");
                continue;
            };
            decode_allocations(s, &format!("{file} ({kv} cache)"));
        }
    }
}

fn decode_allocations(mut s: Session<'_>, what: &str) {
    let mut tokens: Vec<u32> = (0..20).map(|i| (i * 13 + 1) % 256).collect();
    s.eval(&tokens, false).unwrap();
    tokens.reserve(64);
    let before = allocs_on_this_thread();
    for i in 0..16 {
        let l = s.eval(&tokens, false).unwrap();
        let next = (0..l.len()).max_by(|&a, &b| l[a].total_cmp(&l[b])).unwrap() as u32 % 256;
        tokens.push(if i % 2 == 0 { next } else { (next + 1) % 256 });
    }
    tokens.extend((0..30).map(|i| (i * 5 + 3) % 256));
    s.eval(&tokens, false).unwrap();
    assert_eq!(allocs_on_this_thread() - before, 0, "{what}: decode allocated");
}
