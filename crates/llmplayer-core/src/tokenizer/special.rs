//! Splitting input text around special tokens (llama.cpp's `tokenizer_st_partition`).
//!
//! llama.cpp takes the special tokens longest first and, for each, cuts every
//! remaining text fragment at that token's leftmost non-overlapping occurrences. So a
//! longer token wins over a shorter one even when the shorter one occurs earlier.
//! Searching the text once per special token is too slow for vocabularies with
//! thousands of them, so we find every occurrence of every token in one Aho-Corasick
//! pass and then replay llama.cpp's order on those occurrences: an occurrence is taken
//! when it lies inside a fragment that is still raw text, which is exactly what
//! llama.cpp's sequential `find` calls select.

use std::collections::BTreeMap;
use std::ops::Range;

use aho_corasick::AhoCorasick;

use super::vocab::{attr, Vocab};

/// A piece of the input after special-token partitioning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fragment {
    Text(Range<usize>),
    Token(u32),
}

#[derive(Clone, Debug)]
struct Automaton {
    ac: AhoCorasick,
    /// Per pattern: (priority in llama.cpp's order, token id).
    patterns: Vec<(u32, u32)>,
}

impl Automaton {
    fn build(vocab: &Vocab, ids: &[(u32, u32)]) -> Option<Automaton> {
        if ids.is_empty() {
            return None;
        }
        let texts = ids.iter().map(|&(_, id)| vocab.text(id));
        // Building only fails on absurd sizes; then the tokens are simply not split.
        let ac = AhoCorasick::new(texts).ok()?;
        Some(Automaton { ac, patterns: ids.to_vec() })
    }
}

/// Finds special tokens in text.
#[derive(Clone, Debug, Default)]
pub struct SpecialMatcher {
    /// Every special token (parse_special = true).
    all: Option<Automaton>,
    /// Only the tokens matched even without parse_special (USER_DEFINED, not CONTROL).
    user_defined: Option<Automaton>,
}

/// One occurrence: (priority, start, end, token id).
type Occurrence = (u32, usize, usize, u32);

#[derive(Clone, Copy, Debug)]
enum Slot {
    Text { end: usize },
    Token { id: u32 },
}

impl SpecialMatcher {
    pub fn new(vocab: &Vocab) -> SpecialMatcher {
        let ranked: Vec<(u32, u32)> =
            vocab.special_order().iter().enumerate().map(|(rank, &id)| (rank as u32, id)).collect();
        let user: Vec<(u32, u32)> =
            ranked.iter().copied().filter(|&(_, id)| vocab.attr(id) & (attr::CONTROL | attr::UNKNOWN) == 0).collect();
        SpecialMatcher { all: Automaton::build(vocab, &ranked), user_defined: Automaton::build(vocab, &user) }
    }

    /// Cuts `text` into raw-text fragments and special tokens.
    pub fn partition(&self, vocab: &Vocab, text: &str, parse_special: bool) -> Vec<Fragment> {
        self.partition_with_plain(vocab, text, parse_special, &[])
    }

    /// [`partition`](Self::partition) where control tokens are not recognised in any
    /// overlap with `plain` (sorted, disjoint byte ranges: text that must stay text, such as
    /// a chat message's content inside a rendered template). User-defined tokens still are,
    /// as they are with `parse_special` off.
    pub fn partition_with_plain(&self, vocab: &Vocab, text: &str, parse_special: bool, plain: &[Range<usize>]) -> Vec<Fragment> {
        if text.is_empty() {
            return Vec::new();
        }
        let automaton = if parse_special { &self.all } else { &self.user_defined };
        let Some(automaton) = automaton else {
            return vec![Fragment::Text(0..text.len())];
        };
        let mut found: Vec<Occurrence> = automaton
            .ac
            .find_overlapping_iter(text)
            .map(|m| {
                let (rank, id) = automaton.patterns[m.pattern().as_usize()];
                (rank, m.start(), m.end(), id)
            })
            .collect();
        if !plain.is_empty() {
            let overlaps = |start: usize, end: usize| {
                let i = plain.partition_point(|r| r.end <= start);
                plain.get(i).is_some_and(|r| r.start < end)
            };
            found.retain(|&(_, start, end, id)| vocab.attr(id) & (attr::CONTROL | attr::UNKNOWN) == 0 || !overlaps(start, end));
        }
        if found.is_empty() {
            return vec![Fragment::Text(0..text.len())];
        }
        found.sort_unstable();

        let bytes = text.as_bytes();
        let mut slots: BTreeMap<usize, Slot> = BTreeMap::new();
        slots.insert(0, Slot::Text { end: text.len() });
        for (_, start, end, id) in found {
            let Some((&frag_start, &Slot::Text { end: frag_end })) = slots.range(..=start).next_back() else {
                continue;
            };
            if end > frag_end {
                continue;
            }
            let token_attr = vocab.attr(id);
            slots.remove(&frag_start);
            let mut left_end = start;
            if token_attr & attr::LSTRIP != 0 {
                while left_end > frag_start && bytes[left_end - 1].is_ascii_whitespace_c() {
                    left_end -= 1;
                }
            }
            if left_end > frag_start {
                slots.insert(frag_start, Slot::Text { end: left_end });
            }
            slots.insert(start, Slot::Token { id });
            let mut right_start = end;
            if token_attr & attr::RSTRIP != 0 {
                while right_start < frag_end && bytes[right_start].is_ascii_whitespace_c() {
                    right_start += 1;
                }
            }
            if right_start < frag_end {
                slots.insert(right_start, Slot::Text { end: frag_end });
            }
        }
        slots
            .into_iter()
            .map(|(start, slot)| match slot {
                Slot::Text { end } => Fragment::Text(start..end),
                Slot::Token { id } => Fragment::Token(id),
            })
            .collect()
    }
}

/// C's `isspace` (llama.cpp strips with it): also vertical tab, unlike
/// `u8::is_ascii_whitespace`.
trait CSpace {
    fn is_ascii_whitespace_c(&self) -> bool;
}

impl CSpace for u8 {
    fn is_ascii_whitespace_c(&self) -> bool {
        matches!(self, b' ' | b'\t' | b'\n' | b'\x0B' | b'\x0C' | b'\r')
    }
}
