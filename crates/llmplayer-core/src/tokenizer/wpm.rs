//! WordPiece (BERT; llama.cpp's `llm_tokenizer_wpm`): BERT normalization, split into
//! words, then greedy longest-match-first per word. The GGUF stores word-initial pieces
//! as `▁piece` and continuations without BERT's `##`.

use super::spm::SPACE_MARK;
use super::unicode::{flags, nfd_base, to_lower};
use super::vocab::Vocab;

/// CJK ideographs, which BERT makes one word each (ranges as in llama.cpp, including
/// its copy of HF's 0x2B920 typo).
fn is_chinese_char(cp: u32) -> bool {
    matches!(cp,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0x2A700..=0x2B73F |
        0x2B740..=0x2B81F | 0x2B920..=0x2CEAF | 0xF900..=0xFAFF | 0x2F800..=0x2FA1F)
}

/// BERT normalizer + basic tokenizer: the words of `text`.
fn words(text: &str, lowercase: bool, strip_accents: bool) -> Vec<String> {
    let mut words = vec![String::new()];
    for c in text.chars() {
        let cp = if strip_accents { nfd_base(c as u32) } else { c as u32 };
        let fl = flags(cp);
        if fl.is_whitespace() {
            if !words.last().unwrap().is_empty() {
                words.push(String::new());
            }
            continue;
        }
        if cp == 0 || cp == 0xFFFD || fl.is_control() || (strip_accents && fl.is_accent_mark()) {
            continue;
        }
        let ch = char::from_u32(if lowercase { to_lower(cp) } else { cp }).unwrap_or('\u{FFFD}');
        if fl.is_punctuation() || (cp < 0x7F && fl.is_symbol()) || is_chinese_char(cp) {
            if !words.last().unwrap().is_empty() {
                words.push(String::new());
            }
            words.last_mut().unwrap().push(ch);
            words.push(String::new());
        } else {
            words.last_mut().unwrap().push(ch);
        }
    }
    if words.last().is_some_and(|w| w.is_empty()) {
        words.pop();
    }
    words
}

/// Tokenizes one raw-text fragment, appending ids to `out`.
pub fn encode(vocab: &Vocab, text: &str, out: &mut Vec<u32>) {
    let mut word1 = Vec::new();
    for word in words(text, vocab.flags.lowercase, vocab.flags.strip_accents) {
        if word.is_empty() {
            continue;
        }
        word1.clear();
        word1.extend_from_slice(SPACE_MARK.as_bytes());
        word1.extend_from_slice(word.as_bytes());
        let n = word1.len();
        let before = out.len();
        let mut i = 0;
        while i < n {
            let longest = (i + 1..=n.min(i + vocab.max_token_len + 1))
                .rev()
                .find_map(|j| Some((j, vocab.token_id(&word1[i..j])?)));
            match longest {
                Some((j, id)) => {
                    out.push(id);
                    i = j;
                }
                None => {
                    // One unmatchable position makes the whole word unknown.
                    out.truncate(before);
                    break;
                }
            }
        }
        if out.len() == before {
            out.extend(vocab.ids.unk);
        }
    }
}
