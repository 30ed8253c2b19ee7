//! ids -> bytes: per-token pieces (llama.cpp's `token_to_piece`) and whole-sequence
//! detokenization (`llama_detokenize`: BOS/EOS removal, SPM leading-space strip,
//! HF's `clean_up_tokenization_spaces`).

use super::lookup::TextArena;
use super::unicode::char_to_byte;
use super::vocab::{attr, Vocab};
use super::{DecodeOptions, ModelKind};

/// Tokens that only render when special tokens are shown.
const HIDDEN_UNLESS_SPECIAL: u16 = attr::UNKNOWN | attr::CONTROL;

/// The byte of a `<0xXX>` token (llama.cpp parses `text[3..5]` with strtol).
fn byte_of_byte_token(text: &[u8]) -> u8 {
    let hex = text.get(3..5).unwrap_or(&[]);
    let mut v = 0u8;
    for &h in hex {
        match (h as char).to_digit(16) {
            Some(d) => v = v.wrapping_mul(16).wrapping_add(d as u8),
            None => break,
        }
    }
    v
}

/// GPT-2 alphabet text -> raw bytes (llama.cpp's `llama_decode_text`, including its
/// marker for characters outside the alphabet).
fn decode_byte_level(text: &[u8], out: &mut Vec<u8>) {
    let decoded = String::from_utf8_lossy(text);
    for c in decoded.chars() {
        match char_to_byte(c) {
            Some(b) => out.push(b),
            None => {
                out.extend_from_slice(b"[UNK_BYTE_0x");
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.extend_from_slice(format!("{b:02x}").as_bytes());
                }
                out.extend_from_slice(text);
                out.push(b']');
            }
        }
    }
}

/// Renders every token with special tokens shown: llama.cpp's piece cache.
pub fn build_pieces(vocab: &Vocab) -> TextArena {
    let n = vocab.n_tokens();
    let mut pieces = TextArena::with_capacity(n, vocab.texts.len() * 6);
    let mut buf = Vec::with_capacity(64);
    for id in 0..n as u32 {
        let text = vocab.text(id);
        let a = vocab.attr(id);
        buf.clear();
        if a & (HIDDEN_UNLESS_SPECIAL | attr::USER_DEFINED) != 0 {
            buf.extend_from_slice(text);
        } else if a & attr::NORMAL != 0 {
            match vocab.kind {
                ModelKind::Bpe => decode_byte_level(text, &mut buf),
                ModelKind::Spm | ModelKind::Wpm => {
                    for (i, part) in text.split(|&b| b == 0xE2).enumerate() {
                        // Cheap split on the lead byte of `▁` (E2 96 81), then fix up.
                        if i > 0 {
                            if part.starts_with(&[0x96, 0x81]) {
                                buf.push(b' ');
                                buf.extend_from_slice(&part[2..]);
                                continue;
                            }
                            buf.push(0xE2);
                        }
                        buf.extend_from_slice(part);
                    }
                }
            }
        } else if a & attr::BYTE != 0 {
            buf.push(byte_of_byte_token(text));
        }
        pieces.push(&buf);
    }
    pieces
}

/// The piece of `id`: empty for control/unknown tokens unless `unparse_special`.
pub fn piece<'a>(vocab: &Vocab, pieces: &'a TextArena, id: u32, unparse_special: bool) -> &'a [u8] {
    if (id as usize) >= pieces.len() || (!unparse_special && vocab.attr(id) & HIDDEN_UNLESS_SPECIAL != 0) {
        return &[];
    }
    pieces.get(id as usize)
}

/// What `llama_detokenize` drops or strips at the ends of a sequence.
pub struct SequenceEnds<'a> {
    pub ids: &'a [u32],
    /// Strip one leading space from the first piece.
    pub strip_first_space: bool,
}

/// Applies `remove_special` (one leading BOS / trailing EOS when the vocab adds them)
/// and decides the SPM leading-space strip.
pub fn sequence_ends<'a>(vocab: &Vocab, mut ids: &'a [u32], opts: DecodeOptions) -> SequenceEnds<'a> {
    let mut strip_first_space = vocab.flags.add_space_prefix;
    if opts.remove_special && vocab.flags.add_bos && ids.first().is_some_and(|&id| Some(id) == vocab.ids.bos) {
        strip_first_space = false;
        ids = &ids[1..];
    }
    if opts.remove_special && vocab.flags.add_eos && ids.last().is_some_and(|&id| Some(id) == vocab.ids.eos) {
        ids = &ids[..ids.len() - 1];
    }
    SequenceEnds { ids, strip_first_space }
}

pub fn detokenize(vocab: &Vocab, pieces: &TextArena, ids: &[u32], opts: DecodeOptions) -> Vec<u8> {
    let ends = sequence_ends(vocab, ids, opts);
    let mut out = Vec::with_capacity(ends.ids.len() * 4);
    for (i, &id) in ends.ids.iter().enumerate() {
        let p = piece(vocab, pieces, id, opts.unparse_special);
        let p = if i == 0 && ends.strip_first_space { p.strip_prefix(b" ").unwrap_or(p) } else { p };
        out.extend_from_slice(p);
    }
    if vocab.flags.clean_spaces {
        clean_up_spaces(&mut out);
    }
    out
}

/// HF's `clean_up_tokenization_spaces` as llama.cpp implements it: three in-place
/// passes over the bytes (" ?" " !" " ." " ,"; then " ' "; then " 's" " 'm" " 're" " 've").
pub fn clean_up_spaces(text: &mut Vec<u8>) {
    // Pass 1: drop a space before ? ! . ,
    let mut total = text.len().min(1);
    for i in 1..text.len() {
        let x = text[i];
        if text[i - 1] == b' ' && matches!(x, b'?' | b'!' | b'.' | b',') {
            total -= 1;
        }
        text[total] = x;
        total += 1;
    }
    text.truncate(total);

    // Pass 2: " ' " -> "'"
    let n = text.len();
    let mut total = n.min(1);
    let mut i = 1;
    while i < n {
        let x = text[i];
        if x == b'\'' && i + 1 < n && text[i - 1] == b' ' && text[i + 1] == b' ' {
            total -= 1;
            i += 1;
            text[i] = 0;
        }
        text[total] = x;
        total += 1;
        i += 1;
    }
    text.truncate(total);

    // Pass 3: no space before 's 'm 're 've (llama.cpp leaves 't 'd 'll alone).
    let n = text.len();
    let mut total = n.min(1);
    for i in 1..n {
        let x = text[i];
        if text[i - 1] == b' ' && x == b'\'' && i + 1 < n {
            let x1 = text[i + 1];
            let x2 = text.get(i + 2).copied().filter(|_| i + 2 < n);
            if matches!(x1, b's' | b'm') || matches!((x1, x2), (b'r', Some(b'e')) | (b'v', Some(b'e'))) {
                total -= 1;
            }
        }
        text[total] = x;
        total += 1;
    }
    text.truncate(total);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(s: &str) -> String {
        let mut v = s.as_bytes().to_vec();
        clean_up_spaces(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn clean_up_matches_llama_cpp_rules() {
        assert_eq!(clean("you 😁 ?"), "you 😁?");
        assert_eq!(clean("a , b . c ! d ?"), "a, b. c! d?");
        assert_eq!(clean("rock ' n roll"), "rock'n roll");
        assert_eq!(clean("it 's he 're we 've I 'm"), "it's he're we've I'm");
        assert_eq!(clean("don 't I 'd we 'll"), "don 't I 'd we 'll");
        assert_eq!(clean(" "), " ");
        assert_eq!(clean(""), "");
    }

    #[test]
    fn byte_token_hex() {
        assert_eq!(byte_of_byte_token(b"<0x0A>"), 10);
        assert_eq!(byte_of_byte_token(b"<0xFF>"), 255);
    }
}
