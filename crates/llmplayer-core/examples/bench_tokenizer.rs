//! Tokenizer benchmark: encode throughput (tokens/s, MB/s of UTF-8 input), decode
//! throughput and load time, on ~1 MB of English and ~100 kB of CJK text, for the
//! llama-spm, llama-bpe and qwen2 vocabularies of `shared/fixtures/vocab`.
//!
//! ```sh
//! cargo run --release -p llmplayer-core --example bench_tokenizer            # table + bench/results/tokenizer-native.json
//! cargo run --release -p llmplayer-core --example bench_tokenizer -- VOCAB TEXTFILE   # one JSON line
//! cargo run --release -p llmplayer-core --example bench_tokenizer -- --write-corpus DIR  # en.txt, cjk.txt
//! ```
//!
//! The corpora are built deterministically (fixed-seed shuffles of fixture sentences;
//! a fixed-seed character Markov chain for CJK), so other tools can be given byte-identical input
//! via `--write-corpus`.

use std::fs;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use llmplayer_core::gguf::GgufFile;
use llmplayer_core::tokenizer::{DecodeOptions, Tokenizer};

const ENGLISH_BYTES: usize = 1 << 20;
const CJK_BYTES: usize = 100 << 10;
const VOCABS: [&str; 3] = ["ggml-vocab-llama-spm.gguf", "ggml-vocab-llama-bpe.gguf", "ggml-vocab-qwen2.gguf"];

/// Chinese and Japanese prose (a retelling of the fixture story and a few plain
/// statements) so the CJK corpus is real running text, not random characters.
const CJK_SENTENCES: &[&str] = &[
    "从前，有一个叫蒂姆的小男孩。",
    "蒂姆有一个红色的球，他非常喜欢它。",
    "每天，他都把球带到公园，和他的朋友苏一起玩。",
    "一个阳光明媚的日子，蒂姆和苏去了公园。",
    "他们把球高高地抛向天空。",
    "球飞过一棵大树，掉进了池塘里。",
    "蒂姆很伤心，他说：“哦，不，我的球在水里！”",
    "苏看着池塘，她看见一只鸭子在球附近游泳。",
    "鸭子用嘴把球推到了草地旁边。",
    "他们一起笑着，一直玩到太阳下山。",
    "今天的天气很好，我们去图书馆看书吧。",
    "北京是中国的首都，也是一座历史悠久的城市。",
    "机器学习模型需要大量的数据和计算资源。",
    "むかしむかし、ティムという小さな男の子がいました。",
    "ティムは赤いボールをとても大切にしていました。",
    "毎日、彼は公園へ行って友だちのスーと遊びました。",
    "ある晴れた日、ボールは大きな木を越えて池に落ちました。",
    "アヒルがくちばしでボールを岸まで押してくれました。",
    "東京の桜は三月の終わりから四月の初めに咲きます。",
    "この文章はトークナイザーの速度を測るためのものです。",
    "서울은 한국의 수도입니다.",
    "我想在apple工作1314151天～",
];

fn fixtures_root() -> PathBuf {
    match std::env::var_os("LLMPLAYER_FIXTURES") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures"),
    }
}

/// Deterministic xorshift generator for the shuffles.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Repeats shuffled copies of `sentences`, joined by `sep`, up to about `target` bytes.
fn build_corpus(sentences: &[String], sep: &str, target: usize, seed: u64) -> String {
    let mut rng = Rng(seed);
    let mut out = String::with_capacity(target + 1024);
    let mut order: Vec<usize> = (0..sentences.len()).collect();
    while out.len() < target {
        for i in (1..order.len()).rev() {
            order.swap(i, (rng.next() % (i as u64 + 1)) as usize);
        }
        for &i in &order {
            if out.len() >= target {
                break;
            }
            out.push_str(&sentences[i]);
            out.push_str(if matches!(rng.next() % 5, 0) { "\n" } else { sep });
        }
    }
    out
}

fn english_corpus(root: &Path) -> String {
    let mut sentences = Vec::new();
    let sources = ["real/story.txt", "real/README.md", "vocab/README.md", "README.md"];
    for src in sources {
        let Ok(text) = fs::read_to_string(root.join(src)) else { continue };
        for line in text.lines().filter(|l| l.len() > 20 && !l.starts_with('|') && !l.starts_with("```")) {
            sentences.extend(line.split_inclusive(". ").map(|s| s.trim().to_string()).filter(|s| s.len() > 10));
        }
    }
    assert!(!sentences.is_empty(), "no English text found under {}", root.display());
    build_corpus(&sentences, " ", ENGLISH_BYTES, 0x5eed_0001)
}

/// CJK text from an order-1 character Markov chain over `CJK_SENTENCES`. CJK has no
/// spaces, so pre-tokenized pieces are whole clauses; real text rarely repeats a
/// clause, and neither does a random walk, whereas shuffled fixed sentences would let
/// the per-call word memo answer almost every piece.
fn cjk_corpus() -> String {
    use std::collections::BTreeMap;
    let mut next: BTreeMap<char, Vec<char>> = BTreeMap::new();
    for s in CJK_SENTENCES {
        let chars: Vec<char> = std::iter::once('\n').chain(s.chars()).chain(std::iter::once('\n')).collect();
        for w in chars.windows(2) {
            next.entry(w[0]).or_default().push(w[1]);
        }
    }
    let mut rng = Rng(0x5eed_0002);
    let mut out = String::with_capacity(CJK_BYTES + 64);
    let mut state = '\n';
    while out.len() < CJK_BYTES {
        let choices = &next[&state];
        state = choices[(rng.next() % choices.len() as u64) as usize];
        out.push(state);
    }
    out
}

/// Best wall time of `f` over at least 3 runs lasting about `budget` in total.
fn best_time(budget: Duration, mut f: impl FnMut()) -> f64 {
    f();
    let start = Instant::now();
    let mut best = f64::INFINITY;
    let mut reps = 0;
    while reps < 3 || (start.elapsed() < budget && reps < 100) {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
        reps += 1;
    }
    best
}

struct Measurement {
    vocab: String,
    corpus: String,
    bytes: usize,
    tokens: usize,
    load_ms: f64,
    encode_s: f64,
    decode_s: f64,
}

impl Measurement {
    fn tokens_per_s(&self) -> f64 {
        self.tokens as f64 / self.encode_s
    }
    fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.encode_s
    }
    fn decode_mb_per_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.decode_s
    }
    fn json(&self) -> String {
        format!(
            "{{\"vocab\":{:?},\"corpus\":{:?},\"bytes\":{},\"tokens\":{},\"load_ms\":{:.2},\"encode_s\":{:.6},\"tokens_per_s\":{:.0},\"mb_per_s\":{:.3},\"decode_s\":{:.6},\"decode_mb_per_s\":{:.3}}}",
            self.vocab, self.corpus, self.bytes, self.tokens, self.load_ms, self.encode_s, self.tokens_per_s(),
            self.mb_per_s(), self.decode_s, self.decode_mb_per_s()
        )
    }
}

fn measure(vocab_path: &Path, corpus_name: &str, text: &str) -> Measurement {
    let bytes = fs::read(vocab_path).unwrap_or_else(|e| panic!("{}: {e}", vocab_path.display()));
    let load_s = best_time(Duration::from_millis(500), || {
        let file = GgufFile::parse(&bytes).unwrap();
        black_box(Tokenizer::from_gguf(&file).unwrap());
    });
    let file = GgufFile::parse(&bytes).unwrap();
    let tok = Tokenizer::from_gguf(&file).unwrap_or_else(|e| panic!("{}: {e}", vocab_path.display()));
    let mut ids = Vec::new();
    let encode_s = best_time(Duration::from_secs(2), || ids = tok.encode(black_box(text), false, false));
    let decode_s = best_time(Duration::from_millis(500), || {
        black_box(tok.decode(&ids, DecodeOptions::default()));
    });
    Measurement {
        vocab: vocab_path.file_name().unwrap().to_string_lossy().into_owned(),
        corpus: corpus_name.to_string(),
        bytes: text.len(),
        tokens: ids.len(),
        load_ms: load_s * 1e3,
        encode_s,
        decode_s,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = fixtures_root();
    match args.as_slice() {
        [flag, dir] if flag == "--write-corpus" => {
            fs::create_dir_all(dir).unwrap();
            fs::write(Path::new(dir).join("en.txt"), english_corpus(&root)).unwrap();
            fs::write(Path::new(dir).join("cjk.txt"), cjk_corpus()).unwrap();
            println!("wrote {dir}/en.txt and {dir}/cjk.txt");
        }
        [vocab, text_file] => {
            let text = fs::read_to_string(text_file).unwrap_or_else(|e| panic!("{text_file}: {e}"));
            let name = Path::new(text_file).file_name().unwrap().to_string_lossy().into_owned();
            println!("{}", measure(Path::new(vocab), &name, &text).json());
        }
        [] => run_suite(&root),
        _ => {
            eprintln!("usage: bench_tokenizer [VOCAB TEXTFILE | --write-corpus DIR]");
            std::process::exit(2);
        }
    }
}

fn run_suite(root: &Path) {
    let corpora = [("english-1MB", english_corpus(root)), ("cjk-100kB", cjk_corpus())];
    let mut results = Vec::new();
    println!(
        "{:<28} {:<12} {:>9} {:>9} {:>12} {:>9} {:>11} {:>9}",
        "vocab", "corpus", "bytes", "tokens", "tokens/s", "MB/s", "decode MB/s", "load ms"
    );
    for vocab in VOCABS {
        for (name, text) in &corpora {
            let m = measure(&root.join("vocab").join(vocab), name, text);
            println!(
                "{:<28} {:<12} {:>9} {:>9} {:>12.0} {:>9.2} {:>11.1} {:>9.1}",
                m.vocab,
                m.corpus,
                m.bytes,
                m.tokens,
                m.tokens_per_s(),
                m.mb_per_s(),
                m.decode_mb_per_s(),
                m.load_ms
            );
            results.push(m.json());
        }
    }
    let out_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/results");
    fs::create_dir_all(&out_dir).unwrap();
    let json = format!(
        "{{\"tool\":\"llmplayer-core tokenizer (native)\",\"threads\":1,\"results\":[\n  {}\n]}}\n",
        results.join(",\n  ")
    );
    let path = out_dir.join("tokenizer-native.json");
    fs::write(&path, json).unwrap();
    println!("wrote {}", path.display());
}
