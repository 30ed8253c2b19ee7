//! Standard-engine goldens against llama.cpp (fixtures `models/` and `real/`).
//!
//! * Every `models/*.gguf` whose `general.architecture` this engine supports (found by
//!   listing the folder, F32 and quantized files) is run on its `.ref.json` prompt: one
//!   batched prefill with every row, one-token-at-a-time decode in a fresh session, the
//!   argmax of every row, and the 32-token greedy continuation. Quantized files are run
//!   twice: the quantized path (activations converted to 8-bit blocks, as ggml does)
//!   against `logits_prefill` / `logits_decode`, and the dequantized-f32 load option
//!   against `logits_prefill_dequantized_f32` / `greedy_dequantized_f32`.
//! * `real/stories260K.gguf`: greedy text of the reference and perplexity of `story.txt`
//!   under both protocols of `story.ppl.json`.
//!
//! Tolerances (fixtures/models/README.md): F32 logits |a - b| <= 1e-3 + 1e-4 |b|; the
//! quantized path the same for most positions, with a few positions allowed up to 0.1
//! (an activation rounded across an int8 boundary). Greedy sequences must be identical
//! except at a near-tie of the reference (margin within the logit tolerance).
//! Every expected number is read from the fixture files. Fixture root: `$LLMPLAYER_FIXTURES`,
//! else `<repo>/../shared/fixtures`; when missing the tests fail under `CI=true` and skip
//! otherwise.
//!
//! The file also runs on wasm32 (single-threaded, simd128) under a WASI runner, e.g.
//! `CARGO_TARGET_WASM32_WASIP1_RUNNER="node run-wasi.mjs" RUSTFLAGS="-C target-feature=+simd128"
//! cargo test --target wasm32-wasip1 --test models` with a runner that preopens `/work`.

use llmplayer_core::model::{perplexity, Arch, Batch, KvType, LoadOptions, Model, ModelError};
use llmplayer_core::parallel::ThreadPool;
use llmplayer_core::GgufFile;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

mod engine;
use engine::{allocs_on_this_thread, argmax, fixtures_root, model_files};

/// One pool for the whole file: concurrent tests find it busy and run inline.
fn pool() -> Arc<ThreadPool> {
    static POOL: OnceLock<Arc<ThreadPool>> = OnceLock::new();
    Arc::clone(POOL.get_or_init(|| Arc::new(ThreadPool::new(2))))
}

fn opts(dequantize: bool) -> LoadOptions {
    LoadOptions { pool: Some(pool()), dequantize_to_f32: dequantize, ..Default::default() }
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
}

fn u32s(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}
fn f32s(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}
fn rows(v: &Value) -> Vec<Vec<f32>> {
    v.as_array().unwrap().iter().map(f32s).collect()
}


fn tol(b: f32) -> f32 {
    1e-3 + 1e-4 * b.abs()
}

/// Per-row comparison: (max |a-b| over all rows, number of rows with any element out of
/// the F32 tolerance, rows whose argmax differs while the reference's top-2 margin exceeds
/// the tolerance).
struct RowsDiff {
    max_abs: f32,
    rows_out_of_tol: usize,
    worst_row_abs: Vec<f32>,
    argmax_mismatch: usize,
}

fn compare_rows(ours: &[f32], reference: &[Vec<f32>], slack: f32) -> RowsDiff {
    let nv = reference[0].len();
    let mut d = RowsDiff { max_abs: 0.0, rows_out_of_tol: 0, worst_row_abs: Vec::new(), argmax_mismatch: 0 };
    for (i, r) in reference.iter().enumerate() {
        let o = &ours[i * nv..(i + 1) * nv];
        let mut row_max = 0.0f32;
        let mut out = false;
        for (&a, &b) in o.iter().zip(r) {
            row_max = row_max.max((a - b).abs());
            out |= (a - b).abs() > tol(b);
        }
        d.max_abs = d.max_abs.max(row_max);
        d.rows_out_of_tol += out as usize;
        d.worst_row_abs.push(row_max);
        let (ao, ar) = (argmax(o), argmax(r));
        if ao != ar {
            let mut sorted = r.clone();
            sorted.sort_by(|a, b| b.total_cmp(a));
            if sorted[0] - sorted[1] > slack.max(tol(sorted[0])) {
                d.argmax_mismatch += 1;
            }
        }
    }
    d
}

/// Per row, how far the worst element lies beyond the F32 tolerance (<= 0: within it).
fn row_excess(ours: &[f32], reference: &[Vec<f32>]) -> Vec<f32> {
    let nv = reference[0].len();
    reference
        .iter()
        .enumerate()
        .map(|(i, r)| ours[i * nv..(i + 1) * nv].iter().zip(r).map(|(&a, &b)| (a - b).abs() - tol(b)).fold(f32::MIN, f32::max))
        .collect()
}

/// Per row, the largest |prefill - decode| of llama.cpp's own two paths where that row leaves
/// the F32 tolerance, else 0.
fn row_diffs(prefill: &[Vec<f32>], decode: &[Vec<f32>]) -> Vec<f32> {
    let flat: Vec<f32> = decode.iter().flatten().copied().collect();
    let out = row_excess(&flat, prefill);
    prefill
        .iter()
        .zip(decode)
        .zip(out)
        .map(|((p, d), e)| if e > 0.0 { p.iter().zip(d).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max) } else { 0.0 })
        .collect()
}

/// Greedy continuation after a prefill of `prompt` (positions prompt.len()..), decoded one
/// token per call. Returns the number of steps that matched before an accepted near-tie
/// (or all of them), or an error on a real divergence.
fn check_greedy(
    model: &Model,
    prompt: &[u32],
    reference: &[u32],
    margins: Option<&[f32]>,
    slack: f32,
    what: &str,
) -> Result<usize, String> {
    let mut s = model.new_session(512);
    let mut tokens = prompt.to_vec();
    let mut logits = s.eval(&tokens, true).unwrap()[(prompt.len() - 1) * model.n_vocab()..].to_vec();
    for (k, &want) in reference.iter().enumerate() {
        let got = argmax(&logits);
        if got != want {
            let m = margins.map_or(0.0, |m| m[k]);
            if m > slack {
                return Err(format!("{what}: greedy step {k}: got {got}, reference {want} (margin {m})"));
            }
            eprintln!("  {what}: greedy near-tie at step {k} (margin {m}), stopping comparison");
            return Ok(k);
        }
        tokens.push(got);
        logits = s.eval(&tokens, false).unwrap().to_vec();
    }
    Ok(reference.len())
}

/// Records a failure message instead of stopping at the first file.
fn check(failures: &mut Vec<String>, ok: bool, msg: impl FnOnce() -> String) {
    if !ok {
        failures.push(msg());
    }
}

struct Fixture {
    path: PathBuf,
    refj: Value,
    quantized: bool,
}

fn my_fixtures(root: &Path) -> Vec<Fixture> {
    let mut out = Vec::new();
    for path in model_files(root) {
        let bytes = std::fs::read(&path).unwrap();
        let f = GgufFile::parse(&bytes).unwrap();
        let Some(arch) = f.architecture() else { continue };
        if Arch::from_str(arch).is_err() {
            continue;
        }
        let refj = read_json(&path.with_extension("gguf.ref.json"));
        let quantized = refj.get("logits_prefill_dequantized_f32").is_some();
        out.push(Fixture { path, refj, quantized });
    }
    out
}

/// Prefill (all rows) and one-token decode logits of the reference prompt.
fn run_prompt(model: &Model, prompt: &[u32]) -> (Vec<f32>, Vec<f32>) {
    let mut s = model.new_session(512);
    let prefill = s.eval(prompt, true).unwrap().to_vec();
    let mut s = model.new_session(512);
    let mut decode = Vec::with_capacity(prefill.len());
    for i in 0..prompt.len() {
        decode.extend_from_slice(s.eval(&prompt[..=i], false).unwrap());
        assert_eq!(s.n_past(), i + 1);
    }
    (prefill, decode)
}

/// `folder/file` (the same file name exists in several `models*/` folders).
fn name(p: &Path) -> String {
    let dir = p.parent().and_then(|d| d.file_name()).map(|d| d.to_string_lossy().into_owned()).unwrap_or_default();
    format!("{dir}/{}", p.file_name().unwrap().to_string_lossy())
}

#[test]
fn f32_models_match_llama_cpp() {
    let Some(root) = fixtures_root() else { return };
    let all: Vec<_> = my_fixtures(&root).into_iter().filter(|f| !f.quantized).collect();
    assert!(!all.is_empty(), "no F32 fixtures of the supported architectures");
    let mut failures = Vec::new();
    for fx in &all {
        let bytes = std::fs::read(&fx.path).unwrap();
        let f = GgufFile::parse(&bytes).unwrap();
        let model = Model::load_with(&f, &opts(false)).unwrap_or_else(|e| panic!("{}: {e}", name(&fx.path)));
        let r = &fx.refj;
        assert_eq!(model.n_vocab() as u64, r["n_vocab"].as_u64().unwrap());
        assert_eq!(model.n_ctx_train() as u64, r["n_ctx_train"].as_u64().unwrap());
        // The recurrent state a session allocates is what inspect() reports from metadata.
        let info = llmplayer_core::inspect::inspect(&f, Default::default());
        let state = model.new_session(8).state_bytes();
        assert_eq!(info["stateBytesPerSequence"].as_u64().unwrap_or(0), state as u64, "{}", name(&fx.path));
        let prompt = u32s(&r["prompt_tokens"]);
        let (prefill, decode) = run_prompt(&model, &prompt);
        let dp = compare_rows(&prefill, &rows(&r["logits_prefill"]), 0.0);
        let dd = compare_rows(&decode, &rows(&r["logits_decode"]), 0.0);
        let margins = f32s(&r["greedy_margin"]);
        let n = name(&fx.path);
        let steps = check_greedy(&model, &prompt, &u32s(&r["greedy"]), Some(&margins), 2e-3, &n);
        eprintln!("{n}: prefill max abs {:.2e}, decode max abs {:.2e}, greedy {steps:?}/32", dp.max_abs, dd.max_abs);
        if let Err(e) = steps {
            failures.push(e);
        }
        for (what, d) in [("prefill", &dp), ("decode", &dd)] {
            check(&mut failures, d.rows_out_of_tol == 0, || format!("{n} {what}: rows out of tolerance {:?}", d.worst_row_abs));
            check(&mut failures, d.argmax_mismatch == 0, || format!("{n} {what}: argmax differs"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `test/refs/moe-quant/`: llama.cpp's `llama-quantize` of the roadmap MoE fixtures (MXFP4
/// experts for gpt-oss, Q4_K_M for the others) with llama.cpp's logits (its README).
fn moe_quant_dir() -> PathBuf {
    refs_dir("moe-quant")
}

/// `test/refs/<name>/`.
fn refs_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test/refs").join(name)
}

/// Every `.gguf` of [`moe_quant_dir`] that has a `<stem>.<suffix>` reference, run on the
/// prompt in `tokens` (with flash attention or not) and compared row by row: within the F32
/// tolerance, same argmax. Returns how many files were checked.
fn check_moe_quant_refs(suffix: &str, tokens: &str, flash: bool, failures: &mut Vec<String>) -> usize {
    check_quant_refs(&moe_quant_dir(), suffix, tokens, flash, failures)
}

/// [`check_moe_quant_refs`] over the files of `dir`.
fn check_quant_refs(dir: &Path, suffix: &str, tokens: &str, flash: bool, failures: &mut Vec<String>) -> usize {
    let tokens: Vec<u32> = std::fs::read_to_string(dir.join(tokens)).unwrap().split_whitespace().map(|t| t.parse().unwrap()).collect();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "gguf")).collect();
    files.sort();
    let mut checked = 0;
    for path in files {
        let refp = path.with_extension(suffix);
        if !refp.exists() {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let f = GgufFile::parse(&bytes).unwrap();
        let model = Model::load_with(&f, &opts(false)).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let want: Vec<f32> = std::fs::read(&refp).unwrap().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        let want: Vec<Vec<f32>> = want.chunks_exact(model.n_vocab()).map(|r| r.to_vec()).collect();
        assert_eq!(want.len(), tokens.len(), "{}", refp.display());
        let mut s = model.new_session_kv(512, KvType::F32).unwrap();
        s.set_flash_attn(flash);
        let got = s.eval(&tokens, true).unwrap().to_vec();
        let d = compare_rows(&got, &want, 0.0);
        let n = format!("{} ({suffix})", name(&path));
        eprintln!("{n}: max abs {:.2e}", d.max_abs);
        check(failures, d.rows_out_of_tol == 0, || format!("{n}: rows out of tolerance {:?}", d.worst_row_abs));
        check(failures, d.argmax_mismatch == 0, || format!("{n}: argmax differs"));
        checked += 1;
    }
    checked
}

/// The roadmap MoE architectures on quantized weights against llama.cpp's logits of a
/// 100-token prompt (`*.logits.bin`), every file: every row within the F32 tolerance and the
/// same argmax (measured: equal bits on both kernel paths).
#[test]
fn quantized_moe_files_match_llama_cpp() {
    let mut failures = Vec::new();
    let n = check_moe_quant_refs("logits.bin", "tokens.txt", false, &mut failures);
    assert!(n >= 4, "expected the four quantized MoE files in {}", moe_quant_dir().display());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The recurrent and hybrid architectures on quantized weights (`test/refs/recurrent-quant`:
/// llama-quantize Q4_K_M of the five F32 fixtures) against llama.cpp's logits of a 100-token
/// prompt, which crosses the scans' 32-row tiles: every row within the F32 tolerance and the
/// same argmax (measured: equal bits, on both kernel paths).
#[test]
fn quantized_recurrent_files_match_llama_cpp() {
    let mut failures = Vec::new();
    let n = check_quant_refs(&refs_dir("recurrent-quant"), "logits.bin", "tokens.txt", false, &mut failures);
    assert!(n >= 5, "expected the five quantized recurrent files");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The same files with flash attention, against llama.cpp's flash attention (f16 K/V), where
/// the references exist (`*.flash.logits.bin`: the 100-token prompt, tiled kernel;
/// `*.flash30.logits.bin`: `tokens30.txt`, one-row kernel): gpt-oss's sinks and windows and
/// llama4's NoPE layers through both kernels. Every row within the F32 tolerance (measured:
/// equal bits).
#[test]
fn quantized_moe_files_match_llama_cpp_flash_attention() {
    let mut failures = Vec::new();
    let n = check_moe_quant_refs("flash.logits.bin", "tokens.txt", true, &mut failures)
        + check_moe_quant_refs("flash30.logits.bin", "tokens30.txt", true, &mut failures);
    assert!(n >= 4, "flash references missing");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `deepseek2.gguf` (split `attn_k_b`/`attn_v_b`, absorbed attention over cached latents) and
/// `deepseek2-kvb.gguf` (the same weights with a combined `attn_kv_b`, plain MHA) give the same
/// logits: llama.cpp's two agree to 1e-5 (models README); the bound is the F32 tolerance.
#[test]
fn deepseek2_layouts_agree() {
    let Some(root) = fixtures_root() else { return };
    let run = |file: &str| {
        let bytes = std::fs::read(root.join("models").join(file)).unwrap();
        let f = GgufFile::parse(&bytes).unwrap();
        let model = Model::load_with(&f, &opts(false)).unwrap();
        let prompt = u32s(&read_json(&root.join("models").join(format!("{file}.ref.json")))["prompt_tokens"]);
        let (prefill, decode) = run_prompt(&model, &prompt);
        (prefill, decode)
    };
    let (a, b) = (run("deepseek2.gguf"), run("deepseek2-kvb.gguf"));
    for (what, x, y) in [("prefill", &a.0, &b.0), ("decode", &a.1, &b.1)] {
        let worst = x.iter().zip(y).map(|(p, q)| (p - q).abs() - tol(*q)).fold(f32::MIN, f32::max);
        let max_abs = x.iter().zip(y).map(|(p, q)| (p - q).abs()).fold(0.0, f32::max);
        eprintln!("deepseek2 vs deepseek2-kvb {what}: max abs {max_abs:.2e}");
        assert!(worst <= 0.0, "{what}: the two layouts differ by {max_abs}");
    }
}

/// `file` with two metadata entries put first: `<arch>.attention.sliding_window = window` and
/// `..._pattern = period`, plus a padding string that makes the insert a multiple of the
/// 32-byte alignment, so the data section moves by whole alignments and every tensor offset
/// stays valid.
fn with_window(file: &[u8], arch: &str, window: u32, period: u32) -> Vec<u8> {
    let kv = |key: &str, ty: u32, val: &[u8]| -> Vec<u8> {
        let mut e = (key.len() as u64).to_le_bytes().to_vec();
        e.extend(key.as_bytes());
        e.extend(ty.to_le_bytes());
        e.extend(val);
        e
    };
    let mut ins = kv(&format!("{arch}.attention.sliding_window"), 4, &window.to_le_bytes());
    ins.extend(kv(&format!("{arch}.attention.sliding_window_pattern"), 4, &period.to_le_bytes()));
    let pad_key = "test.padding";
    let fixed = ins.len() + 8 + pad_key.len() + 4 + 8;
    let n = (32 - fixed % 32) % 32;
    let mut val = (n as u64).to_le_bytes().to_vec();
    val.extend(std::iter::repeat_n(b' ', n));
    ins.extend(kv(pad_key, 8, &val));
    assert_eq!(ins.len() % 32, 0);
    let mut out = file[..24].to_vec();
    let n_kv = u64::from_le_bytes(file[16..24].try_into().unwrap()) + 3;
    out[16..24].copy_from_slice(&n_kv.to_le_bytes());
    out.extend(ins);
    out.extend(&file[24..]);
    out
}

/// Sliding-window layers (olmo2 with OLMo-3's window keys, period 2: layers 0 and 2): a query
/// within the window of the start sees what it sees without one (the same logits, bit for
/// bit), later queries lose the far keys. llama.cpp gave the same logits as these on the
/// windowed file (checked once with a libllama dump; worst |diff| 0).
#[test]
fn sliding_window_masks_only_far_keys() {
    let Some(root) = fixtures_root() else { return };
    let base = std::fs::read(root.join("models/olmo2.gguf")).unwrap();
    let prompt = u32s(&read_json(&root.join("models/olmo2.gguf.ref.json"))["prompt_tokens"]);
    let logits = |bytes: &[u8]| {
        let f = GgufFile::parse(bytes).unwrap();
        let model = Model::load_with(&f, &opts(false)).unwrap();
        let nv = model.n_vocab();
        (run_prompt(&model, &prompt), nv)
    };
    let ((plain, _), nv) = logits(&base);
    let window = 6;
    let ((win, win_dec), _) = logits(&with_window(&base, "olmo2", window as u32, 2));
    assert_eq!(win[..window * nv], plain[..window * nv], "rows inside the window");
    for t in window..prompt.len() {
        assert_ne!(win[t * nv..(t + 1) * nv], plain[t * nv..(t + 1) * nv], "row {t} sees past the window");
    }
    // Decode masks the same keys as the batch.
    let worst = win.iter().zip(&win_dec).map(|(a, b)| (a - b).abs() - tol(*b)).fold(f32::MIN, f32::max);
    assert!(worst <= 0.0, "windowed prefill vs decode");
    // A window longer than the prompt changes nothing.
    let ((wide, _), _) = logits(&with_window(&base, "olmo2", 1000, 2));
    assert_eq!(wide, plain);
}

#[test]
fn quantized_models_match_llama_cpp() {
    let Some(root) = fixtures_root() else { return };
    let all: Vec<_> = my_fixtures(&root).into_iter().filter(|f| f.quantized).collect();
    assert!(!all.is_empty(), "no quantized fixtures of the supported architectures");
    let mut failures = Vec::new();
    for fx in &all {
        let bytes = std::fs::read(&fx.path).unwrap();
        let f = GgufFile::parse(&bytes).unwrap();
        let r = &fx.refj;
        let prompt = u32s(&r["prompt_tokens"]);
        let n = name(&fx.path);

        // Quantized path: activations converted like ggml.
        let model = Model::load_with(&f, &opts(false)).unwrap_or_else(|e| panic!("{n}: {e}"));
        let (prefill, decode) = run_prompt(&model, &prompt);
        let dp = compare_rows(&prefill, &rows(&r["logits_prefill"]), 0.1);
        let dd = compare_rows(&decode, &rows(&r["logits_decode"]), 0.1);
        let margins = f32s(&r["greedy_margin"]);
        let steps = check_greedy(&model, &prompt, &u32s(&r["greedy"]), Some(&margins), 0.05, &n);
        if let Err(e) = &steps {
            failures.push(e.clone());
        }

        // Dequantized-f32 path.
        let deq = Model::load_with(&f, &opts(true)).unwrap();
        let mut s = deq.new_session(512);
        let pf = s.eval(&prompt, true).unwrap().to_vec();
        let dq = compare_rows(&pf, &rows(&r["logits_prefill_dequantized_f32"]), 0.0);
        let dsteps = check_greedy(&deq, &prompt, &u32s(&r["greedy_dequantized_f32"]), None, 0.0, &format!("{n} (dequantized)"));
        if let Err(e) = &dsteps {
            failures.push(e.clone());
        }
        eprintln!(
            "{n}: quantized prefill max abs {:.2e} ({} rows > f32 tol), decode {:.2e} ({} rows), greedy {steps:?}/32; \
             dequantized-f32 prefill max abs {:.2e}, greedy {dsteps:?}/32",
            dp.max_abs, dp.rows_out_of_tol, dd.max_abs, dd.rows_out_of_tol, dq.max_abs
        );
        // llama.cpp's own batched and one-token paths differ in a few rows of some files (an
        // 8-bit activation rounded across a step by a different summation order): only there
        // may ours leave the F32 tolerance, by at most that row's own difference.
        let ref_pd = row_diffs(&rows(&r["logits_prefill"]), &rows(&r["logits_decode"]));
        for (what, ours, refl) in [("prefill", &prefill, "logits_prefill"), ("decode", &decode, "logits_decode")] {
            for (i, (&got, &own)) in row_excess(ours, &rows(&r[refl])).iter().zip(&ref_pd).enumerate() {
                if got <= 0.0 {
                    continue;
                }
                if own > 0.0 && got <= own {
                    eprintln!("  {n} {what} row {i}: beyond the f32 tolerance by {got:.3e}, where llama.cpp's prefill and decode differ by {own:.3e}");
                } else {
                    failures.push(format!("{n} {what} row {i}: beyond the f32 tolerance by {got:.3e} (llama.cpp's own prefill vs decode: {own:.3e})"));
                }
            }
        }
        for (what, d) in [("prefill", &dp), ("decode", &dd)] {
            check(&mut failures, d.argmax_mismatch == 0, || format!("{n} {what}: argmax differs"));
        }
        check(&mut failures, dq.rows_out_of_tol == 0, || format!("{n} dequantized: {:?}", dq.worst_row_abs));
        check(&mut failures, dq.argmax_mismatch == 0, || format!("{n} dequantized: argmax differs"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn stories260k_greedy_and_perplexity() {
    let Some(root) = fixtures_root() else { return };
    let real = root.join("real");
    let bytes = std::fs::read(real.join("stories260K.gguf")).unwrap();
    let f = GgufFile::parse(&bytes).unwrap();
    let model = Model::load_with(&f, &opts(false)).unwrap();
    let r = read_json(&real.join("stories260K.ref.json"));
    let prompt = u32s(&r["prompt_tokens"]);
    let (prefill, decode) = run_prompt(&model, &prompt);
    for (what, refl, ours) in [("prefill", "logits_prefill", &prefill), ("decode", "logits_decode", &decode)] {
        let d = compare_rows(ours, &rows(&r[refl]), 0.0);
        eprintln!("stories260K {what}: max abs {:.2e}", d.max_abs);
        assert_eq!(d.rows_out_of_tol, 0, "stories260K {what}: {:?}", d.worst_row_abs);
    }
    let greedy = u32s(&r["greedy"]);
    let steps = check_greedy(&model, &prompt, &greedy, Some(&f32s(&r["greedy_margin"])), 2e-3, "stories260K").unwrap();
    assert_eq!(steps, greedy.len());
    // Greedy text: detokenize with the SPM pieces of the file (▁ is a space, <0xXX> a byte).
    let vocab: Vec<&[u8]> = f.get_array("tokenizer.ggml.tokens").unwrap().strings().collect();
    let mut text = Vec::new();
    for &t in &greedy {
        let p = vocab[t as usize];
        match std::str::from_utf8(p).ok().and_then(|s| s.strip_prefix("<0x")).and_then(|s| s.strip_suffix('>')) {
            Some(hex) => text.push(u8::from_str_radix(hex, 16).unwrap()),
            None => text.extend_from_slice(std::str::from_utf8(p).unwrap().replace('\u{2581}', " ").as_bytes()),
        }
    }
    let want = r["greedy_text"].as_str().unwrap();
    assert_eq!(String::from_utf8_lossy(&text).trim_start(), want.trim_start());

    // Perplexity, both protocols.
    let ppl = read_json(&real.join("story.ppl.json"));
    let tokens: Vec<u32> = std::fs::read_to_string(real.join(ppl["tokens"].as_str().unwrap()))
        .unwrap()
        .split_whitespace()
        .map(|t| t.parse().unwrap())
        .collect();
    let full = &ppl["full_context"];
    let n_eval = full["n_eval"].as_u64().unwrap() as usize;
    let p = perplexity::full_context(&model, &tokens[..n_eval], KvType::F32, false).unwrap();
    let want = full["ppl"].as_f64().unwrap();
    eprintln!("stories260K full-context ppl {:.4} (reference {want}), {} predictions", p.ppl, p.n_predictions);
    assert_eq!(p.n_predictions as u64, full["n_predictions"].as_u64().unwrap());
    assert!((p.ppl / want - 1.0).abs() < 0.005, "full-context ppl {} vs {want}", p.ppl);

    let lp = &ppl["llama_perplexity"];
    let n_ctx = lp["n_ctx"].as_u64().unwrap() as usize;
    assert_eq!(lp["scored_from"].as_u64().unwrap() as usize, n_ctx / 2);
    let bos = r["bos_token_id"].as_u64().map(|b| b as u32);
    let p = perplexity::chunked(&model, &tokens, n_ctx, bos, KvType::F32, false).unwrap();
    let want = lp["ppl"].as_f64().unwrap();
    let chunks = lp["n_chunks"].as_u64().unwrap() as usize;
    eprintln!("stories260K chunked ppl {:.4} (reference {want}), {} predictions", p.ppl, p.n_predictions);
    assert_eq!(p.n_predictions, chunks * (n_ctx - 1 - n_ctx / 2));
    assert!((p.ppl / want - 1.0).abs() < 0.005, "chunked ppl {} vs {want}", p.ppl);
}

/// Prefix reuse, small batches and threading give the same logits as one fresh batch.
#[test]
fn prefix_reuse_and_batch_splits_agree() {
    let Some(root) = fixtures_root() else { return };
    let path = root.join("models/qwen3.gguf");
    let bytes = std::fs::read(&path).unwrap();
    let f = GgufFile::parse(&bytes).unwrap();
    let model = Model::load_with(&f, &opts(false)).unwrap();
    let r = read_json(&path.with_extension("gguf.ref.json"));
    let prompt = u32s(&r["prompt_tokens"]);
    let nv = model.n_vocab();

    let mut s = model.new_session(64);
    let full = s.eval(&prompt, true).unwrap().to_vec();
    let last = &full[(prompt.len() - 1) * nv..];

    // Batches of 5 tokens.
    let mut s2 = model.new_session(64);
    s2.set_n_ubatch(5);
    let split = s2.eval(&prompt, true).unwrap().to_vec();
    let worst = full.iter().zip(&split).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-4, "5-token batches differ by {worst}");

    // Prefix reuse: a first half, then the whole list (only the rest is computed).
    let mut s3 = model.new_session(64);
    s3.eval(&prompt[..10], false).unwrap();
    let reused = s3.eval(&prompt, false).unwrap().to_vec();
    let worst = last.iter().zip(&reused).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-4, "prefix reuse differs by {worst}");
    // Same list again: everything cached, the last token is recomputed, alone this time: its
    // probabilities times V take `ggml_vec_dot_f32`'s order instead of a batch's tinyBLAS one,
    // as in llama.cpp, so equal up to rounding.
    let again = s3.eval(&prompt, false).unwrap().to_vec();
    let worst = again.iter().zip(&reused).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-4, "recomputing the last token differs by {worst}");
    // A diverging list truncates the cache to the common prefix.
    let mut other = prompt.clone();
    other[12] = (other[12] + 1) % nv as u32;
    s3.eval(&other, false).unwrap();
    assert_eq!(s3.n_past(), other.len());
    let back = s3.eval(&prompt, false).unwrap().to_vec();
    let worst = last.iter().zip(&back).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-4, "after divergence differs by {worst}");

    // Single-threaded pool vs the shared 2-thread pool, on a context long enough for the
    // parallel matmul and attention paths.
    let one = Model::load_with(&f, &LoadOptions { n_threads: Some(1), ..Default::default() }).unwrap();
    let long: Vec<u32> = prompt.iter().cycle().take(300).copied().collect();
    let l1 = one.new_session(512).eval(&long, true).unwrap().to_vec();
    let l2 = model.new_session(512).eval(&long, true).unwrap().to_vec();
    let worst = l1.iter().zip(&l2).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(worst < 1e-4, "1 thread vs 2 differs by {worst}");

    s3.clear();
    assert_eq!(s3.n_past(), 0);
}

/// `file` with its `general.architecture` value `from` renamed `to`, a name of the same
/// length (so every offset stays valid).
fn with_arch(file: &[u8], from: &str, to: &str) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut entry = b"general.architecture".to_vec();
    entry.extend(8u32.to_le_bytes()); // a string
    entry.extend((from.len() as u64).to_le_bytes());
    entry.extend(from.as_bytes());
    let at = file.windows(entry.len()).position(|w| w == entry).expect("the architecture entry") + entry.len() - from.len();
    let mut out = file.to_vec();
    out[at..at + to.len()].copy_from_slice(to.as_bytes());
    out
}

/// Recurrent state crosses batches: RWKV's token shifts carry each sequence's last row from
/// one batch to the next (and its last channel mix reads rows whose logits are not wanted),
/// Mamba-1's and KDA's conv windows and scan states likewise. 1-, 2- and 5-token batches, and
/// a prompt that wants only its last row's logits, give what one batch of every row gives (up
/// to the f32 matmuls' rounding, which follows the number of rows).
#[test]
fn recurrent_state_crosses_batches_and_unwanted_rows() {
    let Some(root) = fixtures_root() else { return };
    // RWKV-6's channel mix carries a second shifted row set (its receptance's) along.
    for file in ["models/rwkv7.gguf", "models-roadmap/rwkv6.gguf", "models-roadmap/mamba.gguf", "models-roadmap/kimi-linear.gguf"] {
        let path = root.join(file);
        let bytes = std::fs::read(&path).unwrap();
        let f = GgufFile::parse(&bytes).unwrap();
        let model = Model::load_with(&f, &opts(false)).unwrap();
        let prompt = u32s(&read_json(&path.with_extension("gguf.ref.json"))["prompt_tokens"]);
        let nv = model.n_vocab();
        let worst = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);

        let full = model.new_session(64).eval(&prompt, true).unwrap().to_vec();
        for ub in [1, 2, 5] {
            let mut split = model.new_session(64);
            split.set_n_ubatch(ub);
            let d = worst(&full, split.eval(&prompt, true).unwrap());
            assert!(d < 1e-4, "{file}: {ub}-token batches differ by {d}");
        }
        let last = model.new_session(64).eval(&prompt, false).unwrap().to_vec();
        let d = worst(&full[(prompt.len() - 1) * nv..], &last);
        assert!(d < 1e-4, "{file}: the last row alone differs by {d}");
    }
}

#[test]
fn errors_are_reported() {
    let Some(root) = fixtures_root() else { return };
    // An architecture this engine does not run.
    let bytes = with_arch(&std::fs::read(root.join("models/mamba2.gguf")).unwrap(), "mamba2", "mamba9");
    let f = GgufFile::parse(&bytes).unwrap();
    let e = Model::load(&f).unwrap_err();
    assert_eq!(e, ModelError::UnsupportedArch("mamba9".into()));
    assert_eq!(e.to_string(), "architecture mamba9 is not supported yet");

    let bytes = std::fs::read(root.join("models/llama.Q8_0.gguf")).unwrap();
    let f = GgufFile::parse(&bytes).unwrap();
    let model = Model::load_with(&f, &opts(false)).unwrap();
    let mut s = model.new_session(8);
    assert_eq!(s.eval(&[], false).unwrap_err(), ModelError::EmptyInput);
    assert_eq!(s.eval(&[1; 9], false).unwrap_err(), ModelError::ContextFull { n_tokens: 9, n_ctx: 8 });
    assert_eq!(s.eval(&[1, 400], false).unwrap_err(), ModelError::BadToken { token: 400, n_vocab: 400 });
    assert_eq!(s.eval(&[1; 8], false).unwrap().len(), 400);
}

/// After a prefill, decoding tokens (and a further prefill within the session's sizes)
/// allocates nothing: every buffer was sized when the session was created.
#[test]
fn decode_does_not_allocate() {
    let Some(root) = fixtures_root() else { return };
    let b = allocs_on_this_thread();
    std::hint::black_box(vec![1u8; 10]);
    assert!(allocs_on_this_thread() > b, "the counting allocator counts");
    for file in ["models/qwen3.Q4_K_M.gguf", "models/phi3.gguf", "models/qwen3moe.gguf", "models/glm4moe.gguf", "models/gpt-oss.gguf", "models/deepseek2.gguf", "real/stories260K.gguf", "models-roadmap/gemma4.gguf", "models-roadmap/step35.gguf"] {
        let bytes = std::fs::read(root.join(file)).unwrap();
        let f = GgufFile::parse(&bytes).unwrap();
        let model = Model::load_with(&f, &LoadOptions { n_threads: Some(1), ..Default::default() }).unwrap();
        let mut s = model.new_session(128);
        let mut tokens: Vec<u32> = (0..20).map(|i| (i * 13 + 1) % 256).collect();
        s.eval(&tokens, false).unwrap();
        tokens.reserve(64);
        let before = allocs_on_this_thread();
        for i in 0..16 {
            let next = argmax(s.eval(&tokens, false).unwrap());
            tokens.push(if i % 2 == 0 { next } else { (next + 1) % 256 });
        }
        tokens.extend((0..30).map(|i| (i * 5 + 3) % 256));
        s.eval(&tokens, false).unwrap();
        assert_eq!(allocs_on_this_thread() - before, 0, "{file}: decode allocated");
    }
    // Recurrent and hybrid models: decoding allocates nothing either (a prompt's checkpoint
    // takes a buffer the first three times, then reuses the oldest).
    for file in ["models/mamba2.gguf", "models/falcon-h1.gguf", "models/qwen3next.gguf", "models/qwen35.gguf", "models/rwkv7.gguf", "models-roadmap/rwkv6.gguf", "models-roadmap/mamba.gguf", "models-roadmap/kimi-linear.gguf"] {
        let bytes = std::fs::read(root.join(file)).unwrap();
        let f = GgufFile::parse(&bytes).unwrap();
        let model = Model::load_with(&f, &LoadOptions { n_threads: Some(1), ..Default::default() }).unwrap();
        let mut s = model.new_session(128);
        let mut tokens: Vec<u32> = (0..20).map(|i| (i * 13 + 1) % 256).collect();
        tokens.reserve(64);
        let first = argmax(s.eval(&tokens, false).unwrap());
        tokens.push(first);
        let before = allocs_on_this_thread();
        for _ in 0..16 {
            let next = argmax(s.eval(&tokens, false).unwrap());
            tokens.push(next);
        }
        assert_eq!(allocs_on_this_thread() - before, 0, "{file}: decode allocated");
    }
}

/// Mamba-1's `ssm.dt_b_c_rms` (falcon-mamba) is read: set, it RMS-norms dt, B and C, which
/// changes every row (checked against a float64 forward pass by hand: 1.6e-5 on this prompt).
#[test]
fn mamba_reads_dt_b_c_rms() {
    let Some(root) = fixtures_root() else { return };
    let path = root.join("models-roadmap/mamba.gguf");
    let bytes = std::fs::read(&path).unwrap();
    let prompt = u32s(&read_json(&path.with_extension("gguf.ref.json"))["prompt_tokens"]);
    let logits = |file: &[u8]| {
        let f = GgufFile::parse(file).unwrap();
        Model::load_with(&f, &opts(false)).unwrap().new_session(64).eval(&prompt, true).unwrap().to_vec()
    };
    let full = logits(&bytes);
    let mut flipped = bytes.clone();
    let key = b"mamba.ssm.dt_b_c_rms\x07\0\0\0\0";
    let at = flipped.windows(key.len()).position(|w| w == key).expect("the flag, false") + key.len() - 1;
    flipped[at] = 1;
    let normed = logits(&flipped);
    let worst = full.iter().zip(&normed).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    assert!(normed.iter().all(|v| v.is_finite()) && worst > 0.1, "the flag changes the logits by {worst}");
}

/// gemma4's shared-KV layers (2 and 3) keep no cache and attend over layers 0's and 1's: the
/// cache holds two layers, as inspect() says; batch splits over a windowed cache that moves
/// its rows, a prefix copied to another sequence, and f16 / q8_0 caches run.
#[test]
fn gemma4_shared_kv_layers() {
    let Some(root) = fixtures_root() else { return };
    let path = root.join("models-roadmap/gemma4.gguf");
    let bytes = std::fs::read(&path).unwrap();
    let f = GgufFile::parse(&bytes).unwrap();
    let model = Model::load_with(&f, &opts(false)).unwrap();
    let worst = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    // K and V in f32 of layer 0 (2 kv heads of 32) and layer 1 (2 of 64).
    let per_token = (2 * 2 * 32 + 2 * 2 * 64) * 4;
    let info = llmplayer_core::inspect::inspect(&f, Default::default());
    assert_eq!(info["kvBytesPerToken"]["f32"].as_u64(), Some(per_token as u64));
    let s = model.new_session(64);
    assert_eq!((s.kv_bytes_per_token(), s.kv_bytes(0)), (per_token, 64 * per_token));

    // 700 positions in a context of 1024: the windowed layer keeps 640 rows and moves them.
    let nv = model.n_vocab();
    let long: Vec<u32> = (0..700).map(|i| ((i * 37 + 11) % nv) as u32).collect();
    let whole = model.new_session(1024).eval(&long, true).unwrap().to_vec();
    let mut s2 = model.new_session(1024);
    s2.set_n_ubatch(7);
    let split = s2.eval(&long, true).unwrap().to_vec();
    assert!(worst(&whole, &split) < 1e-4, "7-token batches differ by {}", worst(&whole, &split));

    // A prefix copied to sequence 1 continues there as on sequence 0.
    let mut s3 = model.new_session_seqs(64, 2, KvType::F32).unwrap();
    s3.eval(&long[..40], false).unwrap();
    assert!(s3.copy_prefix(0, 1, 40));
    let mut b = Batch::new();
    b.push(long[40], 40, 1, true);
    let copied = s3.decode(&b).unwrap().to_vec();
    let own = s3.eval(&long[..41], false).unwrap().to_vec();
    assert!(worst(&own, &copied) < 1e-6, "copied prefix differs by {}", worst(&own, &copied));

    // Other cache types take the same path through the shared layers. There is no llama.cpp
    // reference for them on this file, so only that they run and stay finite is checked here
    // (8-bit K and V move this random model's logits by about 0.6: its attention, of scale 1
    // over normed q, k and v, is sharp).
    let prompt = &long[..48];
    for ty in [KvType::F16, KvType::Q8_0] {
        let mut s = model.new_session_kv(64, ty).unwrap();
        let l = s.eval(prompt, true).unwrap();
        assert!(l.len() == prompt.len() * nv && l.iter().all(|v| v.is_finite()), "{ty} cache");
    }
}

/// gemma4 without a layer's `attn_v` takes V from K's projection: the file with layer 1's
/// `attn_v` renamed away gives the logits of the file whose `attn_v` holds `attn_k`'s weights.
#[test]
fn gemma4_v_from_k() {
    let Some(root) = fixtures_root() else { return };
    let path = root.join("models-roadmap/gemma4.gguf");
    let bytes = std::fs::read(&path).unwrap();
    let (mut same, mut without) = (bytes.clone(), bytes.clone());
    {
        let f = GgufFile::parse(&bytes).unwrap();
        let at = |name: &str| {
            let t = f.tensor(name).unwrap();
            (f.tensor_data(t).as_ptr() as usize - bytes.as_ptr() as usize, t.size as usize)
        };
        let ((k, n), (v, nv)) = (at("blk.1.attn_k.weight"), at("blk.1.attn_v.weight"));
        assert_eq!(n, nv);
        same[v..v + n].copy_from_slice(&bytes[k..k + n]);
    }
    let name = b"blk.1.attn_v.weight";
    let i = without.windows(name.len()).position(|w| w == name).unwrap();
    without[i + "blk.1.attn_".len()] = b'x';
    let logits = |file: &[u8]| {
        let f = GgufFile::parse(file).unwrap();
        let model = Model::load_with(&f, &opts(false)).unwrap();
        let prompt: Vec<u32> = (0..24).map(|i| (i * 29 + 5) % 400).collect();
        let mut s = model.new_session(64);
        s.eval(&prompt, true).unwrap().to_vec()
    };
    assert_eq!(logits(&same), logits(&without));
}
