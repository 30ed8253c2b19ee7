//! Parses every `.gguf` under the shared fixtures and checks each against the fixtures'
//! machine-readable expectations.

mod common;

use common::gguf_checks::{touch_everything, try_parse};
use llmplayer_core::gguf::{GgufFile, Value};
use llmplayer_core::GgmlType;
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn root() -> Option<PathBuf> {
    let root = match std::env::var_os("LLMPLAYER_FIXTURES") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures"),
    };
    if root.is_dir() {
        return Some(root);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("fixtures root {} is missing (CI=true)", root.display());
    }
    eprintln!("SKIPPED: fixtures root {} not found (set LLMPLAYER_FIXTURES)", root.display());
    None
}

fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

fn read_json(path: &Path) -> Json {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn file_name(p: &Path) -> &str {
    p.file_name().unwrap().to_str().unwrap()
}

/// JSON value vs GGUF value, for the integers and booleans the fixtures record.
fn same(j: &Json, v: Option<&Value<'_>>) -> bool {
    match (j, v) {
        (Json::Bool(b), Some(v)) => v.as_bool() == Some(*b),
        (Json::Number(n), Some(v)) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => v.as_i64() == Some(i),
            (None, Some(x)) => v.as_f64() == Some(x),
            _ => false,
        },
        (Json::String(s), Some(v)) => v.as_str() == Some(s.as_str()),
        (Json::Null, None) => true,
        _ => false,
    }
}

fn ju(j: &Json) -> u64 {
    j.as_u64().unwrap_or_else(|| panic!("{j} is not a u64"))
}

fn tokens<'a>(f: &GgufFile<'a>) -> Vec<&'a [u8]> {
    f.get_array("tokenizer.ggml.tokens").map(|a| a.strings().collect()).unwrap_or_default()
}

#[test]
fn every_fixture_gguf_parses_and_matches_its_expectations() {
    let Some(root) = root() else { return };
    let mut parsed = 0;
    for dir in sorted_entries(&root).into_iter().filter(|p| p.is_dir()) {
        let ggufs: Vec<PathBuf> =
            sorted_entries(&dir).into_iter().filter(|p| p.extension().is_some_and(|e| e == "gguf")).collect();
        if ggufs.is_empty() {
            continue;
        }
        let folder = file_name(&dir).to_string();
        let mut checks = FolderChecks::new(&folder, &dir);
        for path in &ggufs {
            let bytes = std::fs::read(path).unwrap();
            let f = match try_parse(&bytes) {
                Ok(Ok(f)) => f,
                Ok(Err(e)) => panic!("{}: {e}", path.display()),
                Err(p) => panic!("{}: parser panicked: {p}", path.display()),
            };
            check_generic(path, &f);
            checks.check(file_name(path), &f);
            parsed += 1;
        }
        checks.finish();
    }
    assert!(parsed > 0, "no .gguf files under {}", root.display());
    eprintln!("parsed {parsed} fixture files");
}

/// What holds for any well-formed file written by llama.cpp / gguf-py.
fn check_generic(path: &Path, f: &GgufFile<'_>) {
    touch_everything(f);
    let len = f.bytes().len() as u64;
    if let Some(end) = f.tensors.iter().map(|t| t.offset + t.size).max() {
        // The writer pads the last tensor to the alignment and stops.
        let slack = len - (f.data_offset + end);
        assert!(slack < f.alignment, "{}: {slack} bytes after the last tensor", path.display());
    }
    for t in &f.tensors {
        assert!(!t.dims.is_empty(), "{}: {}", path.display(), t.name);
    }
}

/// Per-folder expectations, read from the folder's machine-readable files.
enum FolderChecks {
    Vocab { index: Json, seen: Vec<String> },
    Models { manifest: Json, dir: PathBuf, seen: Vec<String> },
    Real { dir: PathBuf },
    Quants { seen: Vec<GgmlType> },
    Other,
}

impl FolderChecks {
    fn new(folder: &str, dir: &Path) -> Self {
        match folder {
            "vocab" => FolderChecks::Vocab { index: read_json(&dir.join("index.json")), seen: vec![] },
            "models" => {
                FolderChecks::Models { manifest: read_json(&dir.join("manifest.json")), dir: dir.into(), seen: vec![] }
            }
            "real" => FolderChecks::Real { dir: dir.into() },
            "quants" => FolderChecks::Quants { seen: vec![] },
            _ => FolderChecks::Other,
        }
    }

    fn check(&mut self, name: &str, f: &GgufFile<'_>) {
        match self {
            FolderChecks::Vocab { index, seen } => {
                let exp = &index["included"][name];
                assert!(exp.is_object(), "vocab/{name} is not in index.json");
                check_vocab(name, f, exp);
                seen.push(name.into());
            }
            FolderChecks::Models { manifest, dir, seen } => {
                let exp = &manifest["files"][name];
                assert!(exp.is_object(), "models/{name} is not in manifest.json");
                check_model(name, f, exp);
                check_ref(
                    name,
                    f,
                    &read_json(&dir.join(format!("{name}.ref.json"))),
                    exp["hparams"].get("block_count_metadata"),
                );
                seen.push(name.into());
            }
            FolderChecks::Real { dir } => {
                let stem = name.strip_suffix(".gguf").unwrap();
                let r = dir.join(format!("{stem}.ref.json"));
                if r.exists() {
                    check_ref(name, f, &read_json(&r), None);
                }
                if name == "stories260K.gguf" {
                    check_stories260k(f);
                }
            }
            FolderChecks::Quants { seen } => seen.push(check_quant(name, f)),
            FolderChecks::Other => {}
        }
    }

    /// Every file the index lists was found by listing the folder.
    fn finish(self) {
        match self {
            FolderChecks::Vocab { index, seen } => {
                let listed: Vec<&String> = index["included"].as_object().unwrap().keys().collect();
                assert_eq!(listed.len(), seen.len(), "vocab: index.json lists {listed:?}, found {seen:?}");
            }
            FolderChecks::Models { manifest, seen, .. } => {
                let listed: Vec<&String> = manifest["files"].as_object().unwrap().keys().collect();
                assert_eq!(listed.len(), seen.len(), "models: manifest.json lists {listed:?}, found {seen:?}");
            }
            FolderChecks::Quants { mut seen } => {
                let n = seen.len();
                seen.sort();
                seen.dedup();
                assert_eq!(seen.len(), n, "quants: two files hold the same type");
            }
            _ => {}
        }
    }
}

const TOKEN_TYPES: [&str; 7] = ["?", "NORMAL", "UNKNOWN", "CONTROL", "USER_DEFINED", "UNUSED", "BYTE"];

fn check_vocab(name: &str, f: &GgufFile<'_>, exp: &Json) {
    assert_eq!(f.bytes().len() as u64, ju(&exp["size_bytes"]), "{name}: size");
    assert!(f.tensors.is_empty(), "{name}: vocab-only");
    assert_eq!(f.get_str("tokenizer.ggml.model"), exp["tokenizer.ggml.model"].as_str(), "{name}: model");
    assert_eq!(f.get_str("tokenizer.ggml.pre"), exp["tokenizer.ggml.pre"].as_str(), "{name}: pre");
    let toks = tokens(f);
    assert_eq!(toks.len() as u64, ju(&exp["n_tokens"]), "{name}: vocab size");
    let n_merges = f.get_array("tokenizer.ggml.merges").map_or(0, |a| a.len() as u64);
    assert_eq!(n_merges, ju(&exp["n_merges"]), "{name}: merges");
    if let Some(m) = f.get_array("tokenizer.ggml.merges") {
        assert_eq!(m.strings().count(), m.len(), "{name}: merges are strings");
    }
    let scores = f.get_array("tokenizer.ggml.scores").and_then(|a| a.to_f32_vec());
    assert_eq!(scores.is_some(), exp["has_scores"].as_bool().unwrap(), "{name}: scores");
    if let Some(sc) = scores {
        assert_eq!(sc.len(), toks.len());
    }
    let types = f.get_array("tokenizer.ggml.token_type").unwrap().to_i64_vec().unwrap();
    assert_eq!(types.len(), toks.len());
    let mut counts = BTreeMap::<String, u64>::new();
    for t in types {
        *counts.entry(TOKEN_TYPES[t as usize].to_string()).or_default() += 1;
    }
    let want: BTreeMap<String, u64> =
        exp["token_type_counts"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), ju(v))).collect();
    assert_eq!(counts, want, "{name}: token types");
    for (key, v) in exp["gguf_tokenizer_kv"].as_object().unwrap() {
        assert!(same(v, f.get(key)), "{name}: {key} is {:?}, index.json says {v}", f.get(key));
    }
    for (what, st) in exp["special_token_ids"].as_object().unwrap() {
        let id = ju(&st["id"]) as usize;
        assert_eq!(toks[id], st["text"].as_str().unwrap().as_bytes(), "{name}: {what}");
    }
}

fn check_model(name: &str, f: &GgufFile<'_>, exp: &Json) {
    assert_eq!(f.bytes().len() as u64, ju(&exp["bytes"]), "{name}: size");
    assert_eq!(f.architecture(), exp["arch"].as_str(), "{name}: architecture");
    let mut counts = BTreeMap::<String, u64>::new();
    for t in &f.tensors {
        *counts.entry(t.ty.name().to_string()).or_default() += 1;
    }
    let want: BTreeMap<String, u64> =
        exp["tensor_types"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), ju(v))).collect();
    assert_eq!(counts, want, "{name}: tensor types");
    if let Some(map) = exp.get("tensor_type_map").and_then(|m| m.as_object()) {
        assert_eq!(map.len(), f.tensors.len(), "{name}: tensor_type_map covers every tensor");
        for (tname, tty) in map {
            let t = f.tensor(tname).unwrap_or_else(|| panic!("{name}: no tensor {tname}"));
            assert_eq!(t.ty.name(), tty.as_str().unwrap(), "{name}: {tname}");
        }
    }
    if let Some(checks) = exp.get("dequant_checks").and_then(|m| m.as_object()) {
        for (tname, c) in checks {
            let t = f.tensor(tname).unwrap_or_else(|| panic!("{name}: no tensor {tname}"));
            assert_eq!(t.ty.name(), c["type"].as_str().unwrap(), "{name}: {tname}");
            let ne: Vec<u64> = c["ne"].as_array().unwrap().iter().map(ju).collect();
            assert_eq!(t.dims, ne, "{name}: {tname} shape");
        }
    }
}

/// `*.ref.json`: what llama.cpp reported for the file.
fn check_ref(name: &str, f: &GgufFile<'_>, r: &Json, block_count: Option<&Json>) {
    let arch = f.architecture().unwrap();
    assert_eq!(r["model_file"].as_str(), Some(name));
    assert_eq!(Some(arch), r["architecture"].as_str(), "{name}");
    let n = |suffix: &str| f.get_arch(suffix).and_then(|v| v.as_u64());
    assert_eq!(tokens(f).len() as u64, ju(&r["n_vocab"]), "{name}: n_vocab");
    assert_eq!(n(".embedding_length"), Some(ju(&r["n_embd"])), "{name}: n_embd");
    assert_eq!(n(".context_length"), Some(ju(&r["n_ctx_train"])), "{name}: n_ctx_train");
    // llama.cpp does not count glm4moe's next-token-prediction layer; the manifest records
    // the block count in the metadata for such files.
    let layers = block_count.map_or_else(|| ju(&r["n_layer"]), ju);
    assert_eq!(n(".block_count"), Some(layers), "{name}: n_layer");
    for (key, field) in
        [("bos_token_id", "bos_token_id"), ("eos_token_id", "eos_token_id"), ("add_bos_token", "add_bos")]
    {
        let v = f.get(&format!("tokenizer.ggml.{key}"));
        assert!(same(&r[field], v), "{name}: {key} is {v:?}, ref.json says {}", r[field]);
    }
    let params: u64 = f.tensors.iter().map(|t| t.n_elements()).sum();
    assert_eq!(params, ju(&r["n_params"]), "{name}: parameters");
}

/// real/README.md states what ref.json does not: heads, FFN width, rope, tokenizer.
fn check_stories260k(f: &GgufFile<'_>) {
    let u = |k: &str| f.get_arch(k).and_then(|v| v.as_u64()).unwrap_or_else(|| panic!("llama{k}"));
    assert_eq!(f.architecture(), Some("llama"));
    // README: "embedding / layers / heads / kv heads | 64 / 5 / 8 / 4 (head dim 8, rope dims 8, freq base 10000)"
    let (n_embd, n_layer, n_head, n_kv) =
        (u(".embedding_length"), u(".block_count"), u(".attention.head_count"), u(".attention.head_count_kv"));
    assert_eq!((n_embd, n_layer, n_head, n_kv), (64, 5, 8, 4));
    assert_eq!(u(".rope.dimension_count"), 8);
    assert_eq!(f.get_arch(".rope.freq_base").and_then(|v| v.as_f32()), Some(10000.0));
    // README: "feed-forward | 172"
    let n_ff = u(".feed_forward_length");
    assert_eq!(n_ff, 172);
    // README: "512-token SentencePiece (tokenizer.ggml.model = llama), BOS 1, EOS 2, UNK 0"
    assert_eq!(f.get_str("tokenizer.ggml.model"), Some("llama"));
    assert_eq!(f.get_u32("tokenizer.ggml.unknown_token_id"), Some(0));
    let n_vocab = tokens(f).len() as u64;
    assert_eq!(n_vocab, 512);
    let hd = n_embd / n_head;
    let shape = |name: &str| f.tensor(name).unwrap_or_else(|| panic!("no tensor {name}")).dims.clone();
    let mut expected: Vec<(String, Vec<u64>)> =
        vec![("token_embd.weight".into(), vec![n_embd, n_vocab]), ("output_norm.weight".into(), vec![n_embd])];
    for i in 0..n_layer {
        for (t, dims) in [
            ("attn_norm", vec![n_embd]),
            ("attn_q", vec![n_embd, n_head * hd]),
            ("attn_k", vec![n_embd, n_kv * hd]),
            ("attn_v", vec![n_embd, n_kv * hd]),
            ("attn_output", vec![n_head * hd, n_embd]),
            ("ffn_norm", vec![n_embd]),
            ("ffn_gate", vec![n_embd, n_ff]),
            ("ffn_down", vec![n_ff, n_embd]),
            ("ffn_up", vec![n_embd, n_ff]),
        ] {
            expected.push((format!("blk.{i}.{t}.weight"), dims));
        }
    }
    // The README calls the output head tied, but the file carries an `output.weight`
    // (llama2.c export); when present it has the embedding's shape.
    if f.tensor("output.weight").is_some() {
        expected.push(("output.weight".into(), vec![n_embd, n_vocab]));
    }
    for (name, dims) in &expected {
        assert_eq!(&shape(name), dims, "stories260K: {name}");
        assert_eq!(f.tensor(name).unwrap().ty, GgmlType::F32, "README: all F32");
    }
    assert_eq!(f.tensors.len(), expected.len(), "stories260K: no unexpected tensors");
}

/// quants/: the file's own `fixture.*` keys say what its tensors must be.
fn check_quant(name: &str, f: &GgufFile<'_>) -> GgmlType {
    let u = |k: &str| f.get_u64(k).unwrap_or_else(|| panic!("{name}: no {k}"));
    let (rows, cols, batch) = (u("fixture.rows"), u("fixture.cols"), u("fixture.batch"));
    let w = f.tensor("w").unwrap_or_else(|| panic!("{name}: no tensor w"));
    assert_eq!(w.ty.id() as u64, u("fixture.type_id"), "{name}: w's type is fixture.type_id");
    assert_eq!(w.dims, [cols, rows], "{name}: w");
    assert_eq!((cols, rows), (1024, 16), "quants/README.md: a 16 x 1024 matrix, ne = [1024, 16]");
    assert_eq!(Some(w.ty.name()), f.get_str("fixture.type"), "{name}");
    assert_eq!(w.ty.block_size() as u64, u("fixture.block_size"), "{name}");
    assert_eq!(w.ty.type_size() as u64, u("fixture.type_size"), "{name}");
    assert_eq!(w.size, rows * cols / u("fixture.block_size") * u("fixture.type_size"));
    let stem = name.strip_prefix("quant-").and_then(|n| n.strip_suffix(".gguf")).unwrap();
    assert_eq!(GgmlType::from_name(stem), Some(w.ty), "{name}: file name names the type");
    let dims = |t: &str| f.tensor(t).unwrap_or_else(|| panic!("{name}: no tensor {t}")).dims.clone();
    assert_eq!(dims("w_deq"), [cols, rows]);
    assert_eq!(f.tensor("w_deq").unwrap().ty, GgmlType::F32);
    assert_eq!(dims("x"), [cols]);
    assert_eq!(dims("xb"), [cols, batch]);
    for y in ["y_exact", "y_ggml"] {
        assert_eq!(dims(y), [rows], "{name}: {y}");
    }
    for y in ["yb_exact", "yb_ggml"] {
        assert_eq!(dims(y), [rows, batch], "{name}: {y}");
    }
    let vdt = u("fixture.vec_dot_type_id") as u32;
    assert_eq!(f.tensor("x_q").unwrap().ty.id(), vdt, "{name}: x_q");
    assert_eq!(f.tensor("xb_q").unwrap().ty.id(), vdt, "{name}: xb_q");
    assert_eq!(f.get_bool("fixture.imatrix").unwrap(), f.tensor("imatrix").is_some(), "{name}: imatrix");
    assert!(f.get("general.alignment").is_none() && f.alignment == 32, "quants/README.md: default alignment");
    w.ty
}
