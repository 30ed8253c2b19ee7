//! GPT-2 byte-level BPE (llama.cpp's `llm_tokenizer_bpe_session`).
//!
//! Each pre-tokenized word is mapped to the GPT-2 byte alphabet, one symbol per byte,
//! and adjacent symbols are merged lowest merge rank first (ties: leftmost) through a
//! priority queue over a linked list of symbols. Symbols carry ids instead of text, so
//! a merge is one lookup in a (left id, right id) table built once at load time.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::ops::Range;

use crate::gguf::{keys, GgufFile};

use super::lookup::{Merge, MergeTable, TextKey, WordCache};
use super::pretokenize::{pre_spec, PreTokenizer};
use super::unicode::byte_to_char;
use super::vocab::Vocab;
use super::TokenizerError;

/// Symbol id of something that is neither a token nor a string named in a merge.
const NONE: u32 = u32::MAX;

#[derive(Debug)]
pub struct BpeModel {
    merges: MergeTable,
    /// Symbol id of every raw byte's GPT-2 character.
    byte_symbols: [u32; 256],
    pre: PreTokenizer,
}

/// Reusable buffers for one `encode` call.
#[derive(Default)]
pub struct BpeScratch {
    symbols: Vec<Symbol>,
    queue: BinaryHeap<Reverse<Bigram>>,
    pieces: Vec<Range<usize>>,
    encoded: Vec<u8>,
}

#[derive(Clone, Copy)]
struct Symbol {
    id: u32,
    start: u32,
    len: u32,
    prev: i32,
    next: i32,
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct Bigram {
    rank: u32,
    left: u32,
    right: u32,
    left_id: u32,
    right_id: u32,
    result: u32,
}

impl Ord for Bigram {
    /// Lower rank first, then the leftmost pair (used through `Reverse`).
    fn cmp(&self, other: &Self) -> Ordering {
        (self.rank, self.left).cmp(&(other.rank, other.left))
    }
}
impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Appends the GPT-2 alphabet encoding of `raw` (each byte becomes one char).
fn byte_encode(raw: &[u8], out: &mut Vec<u8>) {
    let mut buf = [0u8; 4];
    for &b in raw {
        out.extend_from_slice(byte_to_char(b).encode_utf8(&mut buf).as_bytes());
    }
}

impl BpeModel {
    pub fn from_gguf(f: &GgufFile<'_>, vocab: &Vocab) -> Result<BpeModel, TokenizerError> {
        let spec = pre_spec(&vocab.pre).ok_or_else(|| TokenizerError::UnsupportedPreTokenizer(vocab.pre.clone()))?;
        let pre = PreTokenizer::new(spec.regexes)?;
        let merges_arr =
            f.get_array(keys::TOKENIZER_MERGES).ok_or(TokenizerError::MissingKey(keys::TOKENIZER_MERGES))?;

        // Strings named in merges that are not tokens get ids from `n_vocab` up:
        // llama.cpp merges by text, so such intermediate strings still take part.
        let n_vocab = vocab.n_tokens() as u32;
        let mut extra: HashMap<Vec<u8>, u32> = HashMap::new();
        let mut symbol_id = |text: &[u8], key: &TextKey| -> u32 {
            if let Some(id) = vocab.token_id_keyed(text, key) {
                return id;
            }
            let next = n_vocab + extra.len() as u32;
            *extra.entry(text.to_vec()).or_insert(next)
        };

        // Loading is bound by cache misses in the token index and the merge table (both
        // larger than L2), so merges go in batches: compute every key and prefetch its
        // slot first, then look up; the same again for the merge-table inserts.
        const BATCH: usize = 32;
        let mut merges = MergeTable::with_capacity(merges_arr.len());
        let mut lines = merges_arr.strings().enumerate();
        let mut joined = Vec::with_capacity(BATCH * 32);
        // (rank, left, right, left+right within `joined`, their keys)
        type Pending<'a> = (u32, &'a [u8], &'a [u8], Range<usize>, [TextKey; 3]);
        let mut batch: Vec<Pending> = Vec::with_capacity(BATCH);
        let mut resolved: Vec<(u32, u32, u32, u32)> = Vec::with_capacity(BATCH);
        loop {
            batch.clear();
            joined.clear();
            let mut taken = 0;
            for (rank, line) in lines.by_ref().take(BATCH) {
                taken += 1;
                // "left right", split at the first space after the first byte.
                let Some(space) = line.iter().skip(1).position(|&b| b == b' ').map(|p| p + 1) else {
                    continue;
                };
                let (left, right) = (&line[..space], &line[space + 1..]);
                let start = joined.len();
                joined.extend_from_slice(left);
                joined.extend_from_slice(right);
                let keys = [TextKey::of(left), TextKey::of(right), TextKey::of(&joined[start..])];
                keys.iter().for_each(|k| vocab.prefetch_token(k));
                batch.push((rank as u32, left, right, start..joined.len(), keys));
            }
            if taken == 0 {
                break;
            }
            resolved.clear();
            for (rank, left, right, range, keys) in &batch {
                let (l, r) = (symbol_id(left, &keys[0]), symbol_id(right, &keys[1]));
                let result = symbol_id(&joined[range.clone()], &keys[2]);
                merges.prefetch(l, r);
                resolved.push((*rank, l, r, result));
            }
            for &(rank, l, r, result) in &resolved {
                merges.insert_first(l, r, Merge { rank, result });
            }
        }

        let mut byte_symbols = [NONE; 256];
        let mut buf = [0u8; 4];
        for (b, slot) in byte_symbols.iter_mut().enumerate() {
            let text = byte_to_char(b as u8).encode_utf8(&mut buf).as_bytes();
            *slot = vocab.token_id(text).or_else(|| extra.get(text).copied()).unwrap_or(NONE);
        }
        Ok(BpeModel { merges, byte_symbols, pre })
    }

    /// Tokenizes one raw-text fragment (no special tokens in it).
    pub fn encode(&self, vocab: &Vocab, text: &str, scratch: &mut BpeScratch, out: &mut Vec<u32>) {
        scratch.pieces.clear();
        self.pre.split(text, &mut scratch.pieces);
        let pieces = std::mem::take(&mut scratch.pieces);
        let mut cache = WordCache::new();
        for piece in &pieces {
            let word = &text.as_bytes()[piece.clone()];
            cache.encode(word, out, |out| self.encode_word(vocab, word, scratch, out));
        }
        scratch.pieces = pieces;
    }

    fn encode_word(&self, vocab: &Vocab, raw: &[u8], scratch: &mut BpeScratch, out: &mut Vec<u32>) {
        if vocab.flags.ignore_merges {
            scratch.encoded.clear();
            byte_encode(raw, &mut scratch.encoded);
            if let Some(id) = vocab.token_id(&scratch.encoded) {
                out.push(id);
                return;
            }
        }
        let symbols = &mut scratch.symbols;
        let queue = &mut scratch.queue;
        symbols.clear();
        queue.clear();
        let n = raw.len() as i32;
        symbols.extend(raw.iter().enumerate().map(|(i, &b)| {
            let i = i as i32;
            Symbol {
                id: self.byte_symbols[b as usize],
                start: i as u32,
                len: 1,
                prev: i - 1,
                next: if i + 1 == n { -1 } else { i + 1 },
            }
        }));

        let add = |symbols: &[Symbol], queue: &mut BinaryHeap<Reverse<Bigram>>, left: i32, right: i32| {
            if left < 0 || right < 0 {
                return;
            }
            let (l, r) = (symbols[left as usize].id, symbols[right as usize].id);
            if l == NONE || r == NONE {
                return;
            }
            if let Some(m) = self.merges.get(l, r) {
                let (left, right) = (left as u32, right as u32);
                queue.push(Reverse(Bigram { rank: m.rank, left, right, left_id: l, right_id: r, result: m.result }));
            }
        };
        for i in 1..n {
            add(symbols, queue, i - 1, i);
        }

        while let Some(Reverse(bigram)) = queue.pop() {
            let (li, ri) = (bigram.left as usize, bigram.right as usize);
            let (l, r) = (symbols[li], symbols[ri]);
            // Stale entry: either side has merged since it was queued.
            if l.len == 0 || r.len == 0 || l.id != bigram.left_id || r.id != bigram.right_id {
                continue;
            }
            symbols[li].id = bigram.result;
            symbols[li].len += r.len;
            symbols[li].next = r.next;
            symbols[ri].len = 0;
            if r.next >= 0 {
                symbols[r.next as usize].prev = li as i32;
            }
            add(symbols, queue, l.prev, li as i32);
            add(symbols, queue, li as i32, r.next);
        }

        let n_vocab = vocab.n_tokens() as u32;
        for s in symbols.iter().filter(|s| s.len > 0) {
            if s.id < n_vocab {
                out.push(s.id);
                continue;
            }
            // Not a token: llama.cpp looks up each byte of the symbol's encoded text.
            let mut encoded = Vec::new();
            byte_encode(&raw[s.start as usize..(s.start + s.len) as usize], &mut encoded);
            out.extend(encoded.iter().filter_map(|&b| vocab.token_id(&[b])));
        }
    }

    pub fn n_merges(&self) -> usize {
        self.merges.len()
    }
}
