//! BPE pre-tokenizers: `tokenizer.ggml.pre` -> a list of regex passes that cut text
//! into words before merging.
//!
//! Each pass splits every current piece into its matches and the gaps between them
//! (HF's `Split(behavior=Isolated)`). The four common regexes run on the hand-written
//! matchers in `splitters.rs`; any other regex runs on fancy-regex exactly the way
//! llama.cpp runs it on std::regex: when the pattern uses `\p{..}` classes, on a
//! "collapsed" copy of the text where every non-ASCII codepoint is replaced by one
//! stand-in character per Unicode category (llama.cpp's tables), so that the split
//! points match llama.cpp even where Unicode versions disagree.

use std::ops::Range;

use fancy_regex::Regex;

use super::splitters::{split_gpt2, split_llama3};
use super::unicode::{flags, CpFlags};
use super::TokenizerError;

// Regex strings: llama.cpp `llm_tokenizer_bpe` (src/llama-vocab.cpp, v0.5.0), verbatim.
const GPT2: &str = r#"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"#;
const LLAMA3: &str = r#"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#;
const QWEN2: &str = r#"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#;
const QWEN35: &str = r#"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#;
const CJK_HANGUL: &str = r#"[\x{4E00}-\x{9FA5}\x{800}-\x{4E00}\x{AC00}-\x{D7FF}]+"#;
const DEEPSEEK_LLM_LETTERS: &str = r#"\s?[A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}\x{1C4}-\x{293}\x{295}-\x{2AF}\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386}\x{388}-\x{38A}\x{38C}\x{38E}-\x{3A1}\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F}\x{531}-\x{556}\x{10A0}-\x{10C5}\x{13A0}-\x{13F5}\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF}\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D}\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B}\x{1F5D}\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4}\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4}\x{1FF6}-\x{1FFC}\x{2102}\x{2107}\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124}\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F}\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4}\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}\x{A722}-\x{A76F}\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06}\x{FB13}-\x{FB17}\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F}\x{104B0}-\x{104D3}\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2}\x{118A0}-\x{118DF}\x{1E900}-\x{1E943}]+"#;
const DEEPSEEK3: &str = r##"[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"##;
const BLOOM: &str = r#" ?[^(\s|.,!?\x{2026}\x{3002}\x{FF0C}\x{3001}\x{964}\x{6D4}\x{60C})]+"#;
const TEKKEN: &str = r#"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#;
const GPT4O: &str = r#"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#;
const BAILINGMOE: &str = r#"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"#;
const SEED_CODER: &str = r#"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+"#;
const EXAONE_MOE: &str = r#"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]?|\s*[\r\n]|\s+(?!\S)|\s+"#;
const MINICPM5: &str = r#"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#;

/// What a `tokenizer.ggml.pre` name means: its regex passes and the vocab flags
/// llama.cpp sets for it (`llama_vocab::impl::load`).
#[derive(Clone, Copy, Debug)]
pub struct PreSpec {
    pub regexes: &'static [&'static str],
    pub ignore_merges: bool,
    pub clean_spaces: bool,
    pub add_bos: bool,
    pub add_sep: bool,
    pub no_bos: bool,
}

const fn spec(regexes: &'static [&'static str]) -> PreSpec {
    PreSpec { regexes, ignore_merges: false, clean_spaces: true, add_bos: false, add_sep: false, no_bos: false }
}
const fn unclean(s: PreSpec) -> PreSpec {
    PreSpec { clean_spaces: false, ..s }
}

/// The pre-tokenizer for `pre` (empty: llama.cpp's default), or `None` when it is
/// unknown or needs one of llama.cpp's bespoke matchers we do not carry.
pub fn pre_spec(pre: &str) -> Option<PreSpec> {
    let default = spec(&[r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", "[0-9][0-9][0-9]"]);
    let llama3 = PreSpec { ignore_merges: true, add_bos: true, ..spec(&[LLAMA3]) };
    let gpt2 = spec(&[GPT2]);
    let starcoder = spec(&[r"\p{N}", GPT2]);
    let qwen2 = unclean(spec(&[QWEN2]));
    Some(match pre {
        "" | "default" => default,
        "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral" | "midm-2.0" | "lfm2"
        | "jina-v5-nano" => llama3,
        "dbrx" | "smaug-bpe" => spec(&[LLAMA3]),
        "glm4" | "chatglm-bpe" => PreSpec { no_bos: true, ..spec(&[LLAMA3]) },
        "deepseek-llm" => unclean(spec(&[
            r"[\r\n]",
            DEEPSEEK_LLM_LETTERS,
            r"\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+",
            r"\s+$",
            CJK_HANGUL,
            r"\p{N}+",
        ])),
        "deepseek-coder" => unclean(spec(&[r"[\r\n]", r"\s?\p{L}+", r"\s?\p{P}+", CJK_HANGUL, r"\p{N}"])),
        "deepseek-v3" | "hunyuan-dense" | "joyai-llm" => {
            unclean(spec(&[r"\p{N}{1,3}", r"[\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+", DEEPSEEK3]))
        }
        "falcon" => spec(&[r"[\p{P}\$\+<=>\^~\|`]+", GPT2, "[0-9][0-9][0-9]"]),
        "starcoder" | "refact" | "codeshell" | "exaone" | "minerva-7b" | "mellum2" => starcoder,
        "command-r" | "smollm" => unclean(starcoder),
        "gpt-2" | "phi-2" | "jina-es" | "jina-de" | "gigachat" | "jina-v2-es" | "jina-v2-de" | "a.x-4.0" | "mellum"
        | "modern-bert" | "mpt" | "olmo" | "jais" | "exaone4" => gpt2,
        "jina-v1-en" | "jina-v2-code" | "roberta-bpe" => PreSpec { add_sep: true, ..gpt2 },
        "trillion" | "granite-docling" => unclean(gpt2),
        "stablelm2" => spec(&[QWEN2]),
        "qwen2" | "deepseek-r1-qwen" | "kormo" | "f2llmv2" | "hunyuan" | "solar-open" | "grok-2" => qwen2,
        "megrez" => spec(&[QWEN2]),
        "laguna" => unclean(spec(&[r"[^\n]+|[\n]+", QWEN2])),
        "qwen35" => unclean(spec(&[QWEN35])),
        "poro-chat" => unclean(spec(&[BLOOM])),
        "bloom" | "gpt3-finnish" => spec(&[BLOOM]),
        "viking" => unclean(spec(&[BLOOM, r"\p{N}"])),
        "tekken" => PreSpec { ignore_merges: true, add_bos: true, ..unclean(spec(&[TEKKEN])) },
        "gpt-4o" | "llama4" | "kanana2" | "talkie" | "minimax-m2" => unclean(spec(&[GPT4O])),
        "bailingmoe" | "bailingmoe2" | "llada-moe" => unclean(spec(&[BAILINGMOE])),
        "seed-coder" => unclean(spec(&[SEED_CODER])),
        "exaone-moe" => spec(&[EXAONE_MOE]),
        "minicpm5" => PreSpec { ignore_merges: true, ..spec(&[r"\p{N}{1,3}", MINICPM5]) },
        _ => return None,
    })
}

enum Pass {
    Gpt2,
    Llama3 { max_digits: usize, marks_as_letters: bool },
    Regex { re: Regex, collapsed: bool },
}

/// A compiled list of passes.
pub struct PreTokenizer {
    passes: Vec<Pass>,
}

impl std::fmt::Debug for PreTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PreTokenizer({} passes)", self.passes.len())
    }
}

/// Unicode categories llama.cpp can collapse, and the ASCII members of each
/// (`k_ucat_map` in llama.cpp's unicode.cpp).
const CATEGORY_CLASSES: [(&str, u16); 10] = [
    ("\\p{N}", CpFlags::NUMBER),
    ("\\p{L}", CpFlags::LETTER),
    ("\\p{P}", CpFlags::PUNCTUATION),
    ("\\p{M}", CpFlags::ACCENT_MARK),
    ("\\p{S}", CpFlags::SYMBOL),
    ("\\p{Lu}", CpFlags::LETTER),
    ("\\p{Ll}", CpFlags::LETTER),
    ("\\p{Lt}", CpFlags::LETTER),
    ("\\p{Lm}", CpFlags::LETTER),
    ("\\p{Lo}", CpFlags::LETTER),
];

/// Stand-in character for non-ASCII codepoints of a category in collapsed text
/// (private-use codepoints, which no ASCII class can match).
fn stand_in(category: u16) -> char {
    let offset = match category {
        CpFlags::NUMBER => 1,
        CpFlags::LETTER => 2,
        CpFlags::PUNCTUATION => 3,
        CpFlags::ACCENT_MARK => 4,
        CpFlags::SYMBOL => 5,
        _ => 0,
    };
    char::from_u32(0xE0D0 + offset).unwrap()
}

fn ascii_members(category: u16) -> &'static str {
    match category {
        CpFlags::NUMBER => "0-9",
        CpFlags::LETTER => "A-Za-z",
        CpFlags::PUNCTUATION => r"!-#%-*,-/:-;?-@\[-\]_\{\}",
        CpFlags::SYMBOL => r"\$\+<->\^`\|~",
        _ => "",
    }
}

const WS_CLASS_BODY: &str = r"\t\n\x0B\x0C\r ";

/// Rewrites `\p{X}` to its collapsed class (when `collapse`) and the Perl classes
/// `\s \S \d \D` to their ASCII meaning (std::regex's), since our regex engine is
/// built without Unicode tables.
fn translate(pattern: &str, collapse: bool) -> Result<String, TokenizerError> {
    let err = || TokenizerError::Regex(format!("unsupported construct in pre-tokenizer regex {pattern:?}"));
    let mut out = String::with_capacity(pattern.len() * 2);
    let mut inside = false;
    let mut rest = pattern;
    while let Some(c) = rest.chars().next() {
        if c == '\\' {
            if collapse {
                if let Some(&(name, cat)) = CATEGORY_CLASSES.iter().find(|(name, _)| rest.starts_with(name)) {
                    let body = format!("{}{}", stand_in(cat), ascii_members(cat));
                    out.push_str(&if inside { body } else { format!("[{body}]") });
                    rest = &rest[name.len()..];
                    continue;
                }
            }
            let esc = rest[1..].chars().next().ok_or_else(err)?;
            match (esc, inside) {
                ('s', true) => out.push_str(WS_CLASS_BODY),
                ('s', false) => out.push_str(&format!("[{WS_CLASS_BODY}]")),
                ('S', false) => out.push_str(&format!("[^{WS_CLASS_BODY}]")),
                ('d', true) => out.push_str("0-9"),
                ('d', false) => out.push_str("[0-9]"),
                ('D', false) => out.push_str("[^0-9]"),
                ('S' | 'D' | 'w' | 'W' | 'b' | 'B' | 'p' | 'P', _) => return Err(err()),
                _ => {
                    out.push('\\');
                    out.push(esc);
                }
            }
            rest = &rest[1 + esc.len_utf8()..];
            continue;
        }
        if c == '[' && !inside {
            inside = true;
        } else if c == ']' && inside && !out.ends_with('[') && !out.ends_with("[^") {
            inside = false;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    Ok(out)
}

fn compile(pattern: &str) -> Result<Pass, TokenizerError> {
    Ok(match pattern {
        GPT2 => Pass::Gpt2,
        LLAMA3 => Pass::Llama3 { max_digits: 3, marks_as_letters: false },
        QWEN2 => Pass::Llama3 { max_digits: 1, marks_as_letters: false },
        QWEN35 => Pass::Llama3 { max_digits: 1, marks_as_letters: true },
        _ => {
            let collapsed = CATEGORY_CLASSES.iter().any(|(name, _)| pattern.contains(name));
            if collapsed && !pattern.is_ascii() {
                // llama.cpp refuses these too: the stand-ins would be ambiguous.
                return Err(TokenizerError::Regex(format!("regex mixes \\p classes and non-ASCII: {pattern:?}")));
            }
            let translated = translate(pattern, collapsed)?;
            let re = Regex::new(&translated).map_err(|e| TokenizerError::Regex(format!("{pattern:?}: {e}")))?;
            Pass::Regex { re, collapsed }
        }
    })
}

impl PreTokenizer {
    pub fn new(regexes: &[&str]) -> Result<PreTokenizer, TokenizerError> {
        Ok(PreTokenizer { passes: regexes.iter().map(|p| compile(p)).collect::<Result<_, _>>()? })
    }

    /// Splits `text` into pieces; appends their byte ranges (relative to `text`) to `out`.
    pub fn split(&self, text: &str, out: &mut Vec<Range<usize>>) {
        let cpts: Vec<u32> = text.chars().map(|c| c as u32).collect();
        let mut lens = vec![cpts.len()];
        let mut next = Vec::with_capacity(cpts.len() / 3 + 1);
        let mut regex_text: Option<(bool, RegexText)> = None;
        for pass in &self.passes {
            match pass {
                Pass::Gpt2 => split_gpt2(&cpts, &lens, &mut next),
                Pass::Llama3 { max_digits, marks_as_letters } => {
                    split_llama3(&cpts, &lens, &mut next, *max_digits, *marks_as_letters)
                }
                Pass::Regex { re, collapsed } => {
                    if regex_text.as_ref().map(|(c, _)| c) != Some(collapsed) {
                        regex_text = Some((*collapsed, RegexText::new(&cpts, *collapsed)));
                    }
                    regex_text.as_ref().unwrap().1.split(re, &lens, &mut next);
                }
            }
            std::mem::swap(&mut lens, &mut next);
        }
        let mut at = 0;
        let mut chars = text.char_indices().map(|(i, _)| i).chain(std::iter::once(text.len()));
        let mut byte_at = chars.next().unwrap_or(0);
        for n in lens {
            let start = byte_at;
            for _ in 0..n {
                byte_at = chars.next().unwrap_or(text.len());
            }
            at += n;
            out.push(start..byte_at);
        }
        debug_assert_eq!(at, cpts.len());
    }
}

/// The text a regex pass runs on (llama.cpp's `text_collapsed` or its `wtext` with
/// non-ASCII whitespace replaced), plus the byte offset of every codepoint in it.
struct RegexText {
    text: String,
    offsets: Vec<usize>,
}

impl RegexText {
    fn new(cpts: &[u32], collapsed: bool) -> RegexText {
        let mut text = String::with_capacity(cpts.len());
        let mut offsets = Vec::with_capacity(cpts.len() + 1);
        for &cp in cpts {
            offsets.push(text.len());
            let fl = flags(cp);
            let c = if cp < 0x80 {
                cp as u8 as char
            } else if fl.is_whitespace() {
                // std::regex's `\s` only knows ASCII whitespace; llama.cpp substitutes VT.
                '\x0B'
            } else if collapsed {
                stand_in(fl.category())
            } else {
                char::from_u32(cp).unwrap_or('\u{FFFD}')
            };
            text.push(c);
        }
        offsets.push(text.len());
        RegexText { text, offsets }
    }

    fn cpt_index(&self, byte: usize) -> usize {
        self.offsets.partition_point(|&o| o < byte)
    }

    /// llama.cpp's `unicode_regex_split_stl`: matches and the gaps between them.
    fn split(&self, re: &Regex, lens: &[usize], out: &mut Vec<usize>) {
        out.clear();
        let mut start = 0;
        for &len in lens {
            let (b0, b1) = (self.offsets[start], self.offsets[start + len]);
            let mut done = start;
            for m in re.find_iter(&self.text[b0..b1]) {
                // A pattern that fails at run time (backtrack limit) ends the piece's
                // matching; the rest stays one gap, as if nothing more matched.
                let Ok(m) = m else { break };
                let (m0, m1) = (self.cpt_index(b0 + m.start()), self.cpt_index(b0 + m.end()));
                if m1 == m0 {
                    continue;
                }
                if m0 > done {
                    out.push(m0 - done);
                }
                out.push(m1 - m0);
                done = m1;
            }
            if start + len > done {
                out.push(start + len - done);
            }
            start += len;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(pre: &str, text: &str) -> Vec<String> {
        let spec = pre_spec(pre).unwrap();
        let p = PreTokenizer::new(spec.regexes).unwrap();
        let mut out = Vec::new();
        p.split(text, &mut out);
        out.into_iter().map(|r| text[r].to_string()).collect()
    }

    #[test]
    fn every_known_pre_tokenizer_compiles() {
        for pre in [
            "default",
            "llama-bpe",
            "deepseek-llm",
            "deepseek-coder",
            "deepseek-v3",
            "falcon",
            "starcoder",
            "gpt-2",
            "qwen2",
            "qwen35",
            "bloom",
            "viking",
            "tekken",
            "gpt-4o",
            "bailingmoe",
            "seed-coder",
            "exaone-moe",
            "minicpm5",
            "laguna",
            "jina-v1-en",
            "glm4",
        ] {
            let spec = pre_spec(pre).unwrap();
            PreTokenizer::new(spec.regexes).unwrap_or_else(|e| panic!("{pre}: {e}"));
        }
    }

    #[test]
    fn regex_passes_isolate_matches_and_gaps() {
        assert_eq!(split("starcoder", "ab12 c"), ["ab", "1", "2", " c"]);
        assert_eq!(split("falcon", "x=1234!"), ["x", "=", "123", "4", "!"]);
        assert_eq!(split("deepseek-coder", "a\nb中文"), ["a", "\n", "b", "中文"]);
    }

    #[test]
    fn lookahead_regexes_run_on_collapsed_text() {
        // GPT-4o / Llama-4: case-run splitting through lookaheads, on category stand-ins.
        assert_eq!(split("gpt-4o", "Hello WORLD's 1234"), ["Hello", " WORLD's", " ", "123", "4"]);
        assert_eq!(split("gpt-4o", "naïveTé 東京"), ["naïve", "Té", " 東京"]);
    }
}
