//! Tokenizer goldens: every file under `<fixtures>/vocab`, `<fixtures>/real` and
//! `<fixtures>/models` that carries expected ids or text, discovered by listing the
//! folders. Fixtures root: env LLMPLAYER_FIXTURES, else `<repo>/../shared/fixtures`.
//! A missing root fails under CI=true and skips otherwise.

use std::fs;
use std::path::{Path, PathBuf};

use llmplayer_core::gguf::GgufFile;
use llmplayer_core::tokenizer::{DecodeOptions, StreamDecoder, Tokenizer};
use serde_json::Value;

fn fixtures_root() -> Option<PathBuf> {
    let root = match std::env::var_os("LLMPLAYER_FIXTURES") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures"),
    };
    if root.is_dir() {
        return Some(root);
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("fixtures root {} is missing (CI=true)", root.display());
    }
    eprintln!("skipping: fixtures root {} not found (set LLMPLAYER_FIXTURES)", root.display());
    None
}

/// Files in `dir` whose name ends with `suffix`, sorted.
fn list(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().ends_with(suffix))
        .collect();
    v.sort();
    v
}

fn load(path: &Path) -> Tokenizer {
    let bytes = fs::read(path).unwrap();
    let file = GgufFile::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Tokenizer::from_gguf(&file).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

fn ids_of(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn show(bytes: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(bytes))
}

/// Collects mismatches so that one run reports all of them, then fails once.
#[derive(Default)]
struct Report {
    checked: usize,
    failures: Vec<String>,
}

impl Report {
    fn check<T: PartialEq + std::fmt::Debug>(&mut self, what: impl FnOnce() -> String, got: T, want: T) {
        self.checked += 1;
        if got != want {
            self.failures.push(format!("{}\n    got:  {got:?}\n    want: {want:?}", what()));
        }
    }

    fn finish(self, label: &str) {
        eprintln!("{label}: {} checks, {} failures", self.checked, self.failures.len());
        assert!(self.checked > 0, "{label}: nothing checked");
        if !self.failures.is_empty() {
            let shown: Vec<&String> = self.failures.iter().take(25).collect();
            panic!(
                "{label}: {} of {} checks failed:\n{}",
                self.failures.len(),
                self.checked,
                shown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n")
            );
        }
    }
}

/// `.inp` tests are separated (and terminated) by this marker.
const TEST_SEPARATOR: &str = "\n__ggml_vocab_test__\n";

#[test]
fn vocab_inp_out_goldens() {
    let Some(root) = fixtures_root() else { return };
    let mut report = Report::default();
    let mut files = 0;
    for inp in list(&root.join("vocab"), ".gguf.inp") {
        let gguf = inp.with_extension("");
        let out = gguf.with_extension("gguf.out");
        let tok = load(&gguf);
        let input = fs::read_to_string(&inp).unwrap();
        let mut tests: Vec<&str> = input.split(TEST_SEPARATOR).collect();
        assert_eq!(tests.pop(), Some(""), "{}: missing final separator", name(&inp));
        let expected = fs::read_to_string(&out).unwrap();
        let lines: Vec<&str> = expected.lines().collect();
        assert_eq!(tests.len(), lines.len(), "{}: test and golden counts differ", name(&inp));
        let before = report.failures.len();
        for (text, line) in tests.iter().zip(&lines) {
            let want: Vec<u32> = line.split_whitespace().map(|t| t.parse().unwrap()).collect();
            report.check(|| format!("{} encode {text:?}", name(&gguf)), tok.encode(text, false, false), want);
        }
        eprintln!("  {}: {}/{} pass", name(&gguf), tests.len() - (report.failures.len() - before), tests.len());
        files += 1;
    }
    assert!(files > 0, "no .inp/.out goldens found");
    report.finish("vocab .inp/.out");
}

/// llama.cpp's own tokenize/detokenize results (`*.llamacpp-extra.json`).
#[test]
fn vocab_llamacpp_extra_goldens() {
    let Some(root) = fixtures_root() else { return };
    let mut report = Report::default();
    let mut files = 0;
    for json_path in list(&root.join("vocab"), ".llamacpp-extra.json") {
        let gguf = json_path.with_file_name(name(&json_path).trim_end_matches(".llamacpp-extra.json"));
        let tok = load(&gguf);
        let doc: Value = serde_json::from_str(&fs::read_to_string(&json_path).unwrap()).unwrap();
        let file = name(&gguf);
        let before = report.failures.len();
        let start = report.checked;

        let info = &doc["llama_cpp_vocab_info"];
        let id = |k: &str| info[k].as_i64().filter(|&v| v >= 0).map(|v| v as u32);
        let ids = tok.special_ids();
        report.check(|| format!("{file} n_tokens"), tok.n_vocab() as u64, info["n_tokens"].as_u64().unwrap());
        report.check(
            || format!("{file} bos/eos/eot/sep/pad"),
            (tok.bos(), tok.eos(), tok.eot(), ids.sep, ids.pad),
            (id("bos"), id("eos"), id("eot"), id("sep"), id("pad")),
        );
        report.check(|| format!("{file} nl"), tok.newline(), id("nl"));
        report.check(
            || format!("{file} add_bos/add_eos"),
            (tok.add_bos(), tok.add_eos()),
            (info["add_bos"] == 1, info["add_eos"] == 1),
        );

        for case in doc["tokenize"].as_array().unwrap() {
            let text = case["text"].as_str().unwrap();
            let (add, parse) = (case["add_special"].as_bool().unwrap(), case["parse_special"].as_bool().unwrap());
            report.check(
                || format!("{file} encode(add={add}, parse={parse}) {text:?}"),
                tok.encode(text, add, parse),
                ids_of(&case["ids"]),
            );
        }
        for case in doc["detokenize"].as_array().unwrap() {
            let ids = ids_of(&case["ids"]);
            let opts = DecodeOptions {
                remove_special: case["remove_special"].as_bool().unwrap(),
                unparse_special: case["unparse_special"].as_bool().unwrap(),
            };
            let got = tok.decode(&ids, opts);
            match case["text"].as_str() {
                Some(text) => {
                    report.check(|| format!("{file} decode({opts:?}) {ids:?}"), show(&got), show(text.as_bytes()))
                }
                None => report.check(
                    || format!("{file} decode({opts:?}) {ids:?}"),
                    hex(&got),
                    case["text_hex"].as_str().unwrap().to_lowercase(),
                ),
            }
            check_stream(&mut report, &tok, &file, &ids, opts, &got);
        }
        let (n, failed) = (report.checked - start, report.failures.len() - before);
        eprintln!("  {file}: {}/{n} pass", n - failed);
        files += 1;
    }
    assert!(files > 0, "no llamacpp-extra goldens found");
    report.finish("vocab llamacpp-extra");
}

/// Streaming the same ids one at a time must give the same text as `decode`.
fn check_stream(report: &mut Report, tok: &Tokenizer, file: &str, ids: &[u32], opts: DecodeOptions, decoded: &[u8]) {
    let mut stream = StreamDecoder::with_options(tok, opts);
    let mut text = String::new();
    for &id in ids {
        let part = stream.push(id);
        text.push_str(&part);
    }
    text.push_str(&stream.flush());
    report.check(|| format!("{file} stream({opts:?}) {ids:?}"), text, String::from_utf8_lossy(decoded).into_owned());
}

#[test]
fn stories260k_story_tokens() {
    let Some(root) = fixtures_root() else { return };
    let real = root.join("real");
    let tok = load(&real.join("stories260K.gguf"));
    let story = fs::read_to_string(real.join("story.txt")).unwrap();
    let want: Vec<u32> = fs::read_to_string(real.join("story.tokens.txt"))
        .unwrap()
        .split_whitespace()
        .map(|t| t.parse().unwrap())
        .collect();
    let mut report = Report::default();
    report.check(|| "story.txt".into(), tok.encode(&story, true, false), want.clone());
    // Without the BOS, the first piece's SentencePiece space is stripped (with a BOS
    // that `remove_special` drops, llama.cpp keeps it: " Once ...").
    report.check(
        || "decode(story tokens)".into(),
        show(&tok.decode(&want[1..], DecodeOptions::default())),
        show(story.as_bytes()),
    );
    let kept = format!(" {story}");
    report.check(
        || "decode(BOS + story, remove_special)".into(),
        show(&tok.decode(&want, DecodeOptions { remove_special: true, unparse_special: false })),
        show(kept.as_bytes()),
    );

    let reference: Value =
        serde_json::from_str(&fs::read_to_string(real.join("stories260K.ref.json")).unwrap()).unwrap();
    report.check(
        || "prompt_tokens".into(),
        tok.encode("Once upon a time, there was a little", true, false),
        ids_of(&reference["prompt_tokens"]),
    );
    check_ref_texts(&mut report, &tok, "stories260K", &reference);
    report.finish("stories260K");
}

/// The `text` section of a `.ref.json`: ids with/without special parsing, pieces and
/// the detokenized round trips.
fn check_ref_texts(report: &mut Report, tok: &Tokenizer, file: &str, reference: &Value) {
    let rendered = DecodeOptions { remove_special: false, unparse_special: true };
    let hidden = DecodeOptions { remove_special: false, unparse_special: false };
    for case in reference["text"].as_array().unwrap() {
        let input = case["input"].as_str().unwrap();
        let what = |k: &str| format!("{file} {k} {input:?}");
        let parsed = ids_of(&case["tokens_parse_special"]);
        let no_special = ids_of(&case["tokens_no_special"]);
        let with_bos = ids_of(&case["tokens_add_special_parse_special"]);
        report.check(|| what("tokens_no_special"), tok.encode(input, false, false), no_special.clone());
        report.check(|| what("tokens_parse_special"), tok.encode(input, false, true), parsed.clone());
        report.check(|| what("tokens_add_special_parse_special"), tok.encode(input, true, true), with_bos.clone());
        let pieces: Vec<String> = parsed.iter().map(|&id| hex(tok.token_to_piece(id, true))).collect();
        let want_pieces: Vec<String> =
            case["pieces_parse_special"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
        report.check(|| what("pieces_parse_special"), pieces, want_pieces);
        for (key, ids, opts) in [
            ("detok_no_special", &no_special, rendered),
            ("detok_parse_special", &parsed, rendered),
            ("detok_parse_special_unparse_false", &parsed, hidden),
            ("detok_add_special_parse_special", &with_bos, rendered),
        ] {
            report.check(|| what(key), show(&tok.decode(ids, opts)), show(case[key].as_str().unwrap().as_bytes()));
        }
    }
}

/// The 400-token BPE inside every tiny model file must round-trip its reference texts
/// and render the reference greedy continuation.
#[test]
fn model_files_tokenizer_round_trip() {
    let Some(root) = fixtures_root() else { return };
    let mut report = Report::default();
    let mut files = 0;
    for gguf in list(&root.join("models"), ".gguf") {
        let tok = load(&gguf);
        let file = name(&gguf);
        let reference: Value =
            serde_json::from_str(&fs::read_to_string(gguf.with_extension("gguf.ref.json")).unwrap()).unwrap();
        check_ref_texts(&mut report, &tok, &file, &reference);
        for case in reference["text"].as_array().unwrap() {
            let input = case["input"].as_str().unwrap();
            let ids = tok.encode(input, false, true);
            let back = tok.decode(&ids, DecodeOptions { remove_special: false, unparse_special: true });
            report.check(|| format!("{file} round trip {input:?}"), show(&back), show(input.as_bytes()));
        }
        let greedy = ids_of(&reference["greedy"]);
        let text = tok.decode(&greedy, DecodeOptions { remove_special: false, unparse_special: true });
        report.check(
            || format!("{file} greedy_text_hex"),
            hex(&text),
            reference["greedy_text_hex"].as_str().unwrap().to_lowercase(),
        );
        files += 1;
    }
    assert!(files > 0, "no model files found");
    eprintln!("  {files} model files");
    report.finish("models tokenizer");
}

/// Emoji and CJK split across byte-level tokens come out only once complete.
#[test]
fn stream_decoder_holds_back_split_characters() {
    let Some(root) = fixtures_root() else { return };
    for vocab in ["ggml-vocab-llama-bpe.gguf", "ggml-vocab-qwen2.gguf", "ggml-vocab-llama-spm.gguf"] {
        let tok = load(&root.join("vocab").join(vocab));
        let (mut split_somewhere, mut held_back) = (false, false);
        for text in ["🦙 and 🤷‍♂️ went to 北京, then 東京 😁!", "日本語のテキスト", "a 🙂b", "鑫淼犇"]
        {
            let ids = tok.encode(text, false, false);
            let mut stream = StreamDecoder::new(&tok);
            let mut parts = Vec::new();
            for &id in &ids {
                let part = stream.push(id);
                // Every emitted part is whole characters (a String can hold nothing else),
                // and nothing is emitted early as U+FFFD.
                assert!(!part.contains('\u{FFFD}'), "{vocab}: {text:?} emitted a replacement char");
                parts.push(part);
            }
            parts.push(stream.flush());
            assert_eq!(parts.concat(), text, "{vocab}: stream of {text:?}");
            split_somewhere |= ids.iter().any(|&id| std::str::from_utf8(tok.token_to_piece(id, false)).is_err());
            held_back |= parts[..ids.len()].iter().any(|p| p.is_empty());
        }
        // Byte-level BPE splits rare characters into bytes; SPM falls back to <0xXX>.
        assert!(split_somewhere && held_back, "{vocab}: no character was split across tokens");
    }
}
