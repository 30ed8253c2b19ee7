//! SentencePiece-style BPE by score (llama.cpp's `llm_tokenizer_spm`): start from the
//! UTF-8 characters of the whitespace-escaped text and repeatedly merge the adjacent
//! pair whose concatenation is the highest-scoring token (ties: leftmost). Characters
//! left over that are not tokens fall back to `<0xXX>` byte tokens.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::lookup::WordCache;
use super::unicode::utf8_len;
use super::vocab::Vocab;

/// `▁` (U+2581), SentencePiece's visible space.
pub const SPACE_MARK: &str = "\u{2581}";

/// The text SPM tokenizes: optionally a leading space, then every `' '` as `▁`.
pub fn escape_whitespace(text: &str, prefix_space: bool, out: &mut Vec<u8>) {
    out.clear();
    out.reserve(text.len() + 8);
    if prefix_space {
        out.extend_from_slice(SPACE_MARK.as_bytes());
    }
    for &b in text.as_bytes() {
        if b == b' ' {
            out.extend_from_slice(SPACE_MARK.as_bytes());
        } else {
            out.push(b);
        }
    }
}

/// A run of the text; merged-away symbols have `len == 0`.
#[derive(Clone, Copy)]
struct Symbol {
    start: u32,
    len: u32,
    prev: i32,
    next: i32,
}

struct Bigram {
    score: f32,
    left: u32,
    right: u32,
    size: u32,
}

impl Ord for Bigram {
    /// Highest score first; among equal scores the leftmost pair.
    fn cmp(&self, other: &Self) -> Ordering {
        self.score.total_cmp(&other.score).then_with(|| other.left.cmp(&self.left))
    }
}
impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Bigram {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Bigram {}

/// Where escaped text can be cut into independently tokenized segments.
///
/// llama.cpp merges over the whole text at once; with a megabyte of input its queue
/// holds millions of pairs and every pop is a cache miss. But no merge can cross a
/// point that no token spans: before a `▁` whose preceding character never precedes
/// `▁` inside a token. Cutting there gives exactly the same tokens, each segment's
/// merges happening in the same relative order.
#[derive(Debug, Default)]
pub struct SpmModel {
    /// Characters that some token has right before an inner `▁` (sorted).
    space_joiners: Vec<char>,
}

impl SpmModel {
    pub fn new(vocab: &Vocab) -> SpmModel {
        let mark = SPACE_MARK.as_bytes();
        let mut joiners = Vec::new();
        for id in 0..vocab.n_tokens() as u32 {
            let text = vocab.text(id);
            for i in 1..text.len().saturating_sub(2) {
                if &text[i..i + 3] == mark {
                    if let Some(c) = String::from_utf8_lossy(&text[..i]).chars().next_back() {
                        joiners.push(c);
                    }
                }
            }
        }
        joiners.sort_unstable();
        joiners.dedup();
        SpmModel { space_joiners: joiners }
    }

    /// Tokenizes escaped text (see [`escape_whitespace`]), appending ids to `out`.
    pub fn encode(&self, vocab: &Vocab, text: &[u8], out: &mut Vec<u32>) {
        let mark = SPACE_MARK.as_bytes();
        let mut cache = WordCache::new();
        let mut start = 0;
        let mut prev: Option<char> = None;
        let mut i = 0;
        while i < text.len() {
            let len = utf8_len(text[i]).min(text.len() - i);
            let is_mark = &text[i..i + len] == mark;
            let cuttable = |c: char| c != '\u{2581}' && self.space_joiners.binary_search(&c).is_err();
            if is_mark && i > start && prev.is_some_and(cuttable) {
                let segment = &text[start..i];
                cache.encode(segment, out, |out| encode_segment(vocab, segment, out));
                start = i;
            }
            prev = std::str::from_utf8(&text[i..i + len]).ok().and_then(|s| s.chars().next());
            i += len;
        }
        let segment = &text[start..];
        cache.encode(segment, out, |out| encode_segment(vocab, segment, out));
    }
}

/// The merge loop on one segment of escaped text.
fn encode_segment(vocab: &Vocab, text: &[u8], out: &mut Vec<u32>) {
    let mut symbols = Vec::with_capacity(text.len());
    let mut offs = 0;
    while offs < text.len() {
        let len = utf8_len(text[offs]).min(text.len() - offs);
        let index = symbols.len() as i32;
        offs += len;
        symbols.push(Symbol {
            start: (offs - len) as u32,
            len: len as u32,
            prev: index - 1,
            next: if offs == text.len() { -1 } else { index + 1 },
        });
    }

    let mut queue = BinaryHeap::with_capacity(symbols.len());
    let try_add = |symbols: &[Symbol], queue: &mut BinaryHeap<Bigram>, left: i32, right: i32| {
        if left < 0 || right < 0 {
            return;
        }
        let (l, r) = (symbols[left as usize], symbols[right as usize]);
        let size = l.len + r.len;
        // Adjacent symbols are contiguous in the text: their concatenation is a slice.
        let joined = &text[l.start as usize..(l.start + size) as usize];
        if let Some(id) = vocab.token_id(joined) {
            queue.push(Bigram { score: vocab.score(id), left: left as u32, right: right as u32, size });
        }
    };
    for i in 1..symbols.len() as i32 {
        try_add(&symbols, &mut queue, i - 1, i);
    }

    while let Some(bigram) = queue.pop() {
        let (li, ri) = (bigram.left as usize, bigram.right as usize);
        let (l, r) = (symbols[li], symbols[ri]);
        // Stale entry: one side has been merged into something else since.
        if l.len == 0 || r.len == 0 || l.len + r.len != bigram.size {
            continue;
        }
        symbols[li].len += r.len;
        symbols[li].next = r.next;
        symbols[ri].len = 0;
        if r.next >= 0 {
            symbols[r.next as usize].prev = li as i32;
        }
        let (prev, next) = (symbols[li].prev, symbols[li].next);
        try_add(&symbols, &mut queue, prev, li as i32);
        try_add(&symbols, &mut queue, li as i32, next);
    }

    // Every merged symbol is a token by construction; only single characters can
    // miss the vocabulary, and those become byte tokens.
    let mut i = if symbols.is_empty() { -1 } else { 0 };
    while i >= 0 {
        let s = symbols[i as usize];
        let piece = &text[s.start as usize..(s.start + s.len) as usize];
        match vocab.token_id(piece) {
            Some(id) => out.push(id),
            None => out.extend(piece.iter().filter_map(|&b| vocab.byte_token_spm(b).or(vocab.ids.unk))),
        }
        i = s.next;
    }
}
