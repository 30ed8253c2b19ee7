//! The two lookup structures every tokenizer is built on: an arena of token texts with
//! a text -> id index, and a (left id, right id) -> merge table.
//!
//! Both are open-addressing tables of plain integers: building them for a 150k vocab
//! is one pass with no per-token allocation, and the tokenizer owns everything (no
//! borrow of the GGUF bytes), so it can live in a napi/wasm object.

/// Byte strings stored back to back; string `i` is `bytes[offsets[i]..offsets[i + 1]]`.
#[derive(Clone, Debug, Default)]
pub struct TextArena {
    bytes: Vec<u8>,
    offsets: Vec<u32>,
}

impl TextArena {
    pub fn with_capacity(n_strings: usize, n_bytes: usize) -> TextArena {
        let mut offsets = Vec::with_capacity(n_strings + 1);
        offsets.push(0);
        TextArena { bytes: Vec::with_capacity(n_bytes), offsets }
    }

    pub fn push(&mut self, s: &[u8]) {
        self.bytes.extend_from_slice(s);
        self.offsets.push(self.bytes.len() as u32);
    }

    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    #[inline]
    pub fn get(&self, i: usize) -> &[u8] {
        &self.bytes[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }
}

/// FxHash-style mixing: fast on the short keys tokenizers hash (a few bytes), and
/// deterministic (no random state), which also keeps the wasm build simple.
#[inline]
pub fn hash_bytes(s: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = s.len() as u64;
    let mut chunks = s.chunks_exact(8);
    for c in &mut chunks {
        h = (h.rotate_left(5) ^ u64::from_le_bytes(c.try_into().unwrap())).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    let n = rest.len();
    if n > 0 {
        // Up to 7 trailing bytes without a memcpy: two overlapping loads (or 3 bytes).
        let tail = if n >= 4 {
            let lo = u32::from_le_bytes(rest[..4].try_into().unwrap()) as u64;
            let hi = u32::from_le_bytes(rest[n - 4..].try_into().unwrap()) as u64;
            lo | (hi << 32)
        } else {
            rest[0] as u64 | (rest[n / 2] as u64) << 8 | (rest[n - 1] as u64) << 16
        };
        h = (h.rotate_left(5) ^ tail).wrapping_mul(K);
    }
    // Final avalanche so the low bits (the slot index) depend on every input bit.
    h ^= h >> 29;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^ (h >> 32)
}

/// `Hasher` over [`hash_bytes`] for std maps keyed by byte strings.
#[derive(Default)]
pub struct BytesHasher(u64);

impl std::hash::Hasher for BytesHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = (self.0.rotate_left(5) ^ hash_bytes(bytes)).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

type BuildBytesHasher = std::hash::BuildHasherDefault<BytesHasher>;

/// Per-call memo of word -> ids. Natural text repeats its words, and a word always
/// tokenizes the same way, so the merge loop runs once per distinct word.
pub struct WordCache<'t> {
    map: std::collections::HashMap<&'t [u8], (u32, u32), BuildBytesHasher>,
    ids: Vec<u32>,
}

/// Bounds the memo for huge inputs with endless distinct words.
const WORD_CACHE_MAX_WORDS: usize = 1 << 16;

impl<'t> WordCache<'t> {
    pub fn new() -> WordCache<'t> {
        WordCache { map: Default::default(), ids: Vec::new() }
    }

    /// Appends the ids of `word` to `out`, computing them with `tokenize` (which
    /// appends to the vector it is given) the first time.
    #[inline]
    pub fn encode(&mut self, word: &'t [u8], out: &mut Vec<u32>, tokenize: impl FnOnce(&mut Vec<u32>)) {
        if let Some(&(start, len)) = self.map.get(word) {
            out.extend_from_slice(&self.ids[start as usize..(start + len) as usize]);
            return;
        }
        let before = out.len();
        tokenize(out);
        if self.map.len() < WORD_CACHE_MAX_WORDS {
            let start = self.ids.len() as u32;
            self.ids.extend_from_slice(&out[before..]);
            self.map.insert(word, (start, (out.len() - before) as u32));
        }
    }
}

/// The first 8 bytes of `s`, zero-padded, as a little-endian u64 (no memcpy).
#[inline]
fn prefix8(s: &[u8]) -> u64 {
    let n = s.len();
    if n >= 8 {
        u64::from_le_bytes(s[..8].try_into().unwrap())
    } else if n >= 4 {
        // Two overlapping loads: the shared bytes land on the same bit positions.
        let lo = u32::from_le_bytes(s[..4].try_into().unwrap()) as u64;
        let hi = u32::from_le_bytes(s[n - 4..].try_into().unwrap()) as u64;
        lo | (hi << ((n - 4) * 8))
    } else {
        s.iter().rev().fold(0u64, |acc, &b| (acc << 8) | b as u64)
    }
}

/// One [`TextIndex`] entry: the id, 24 hash bits + the (saturated) length, and the
/// text's first 8 bytes. Most tokens are at most 8 bytes, so a lookup usually settles
/// on this one cache line without reading the arena (lookups are memory-latency bound:
/// 150k+ tokens, and 280k merges looked up three times each at load).
#[derive(Clone, Copy, Debug)]
struct Slot {
    id: u32,
    meta: u32,
    prefix: u64,
}

const EMPTY_SLOT: Slot = Slot { id: u32::MAX, meta: 0, prefix: 0 };

/// What a lookup compares: computed once per text, possibly ahead of the lookup so
/// that the slot can be prefetched (see `BpeModel::from_gguf`).
#[derive(Clone, Copy, Debug)]
pub struct TextKey {
    hash: u64,
    meta: u32,
    prefix: u64,
}

impl TextKey {
    #[inline]
    pub fn of(text: &[u8]) -> TextKey {
        let hash = hash_bytes(text);
        let meta = ((hash >> 32) as u32 & 0xFFFF_FF00) | text.len().min(255) as u32;
        TextKey { hash, meta, prefix: prefix8(text) }
    }
}

/// Hints the CPU to start loading `value`'s cache line (no-op where unsupported).
#[inline(always)]
pub fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching is a hint; it never faults, even on an invalid address.
    unsafe {
        std::arch::x86_64::_mm_prefetch(value as *const T as *const i8, std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// text -> id over a [`TextArena`]. Inserting an existing text re-points it to the
/// new id, as llama.cpp's `token_to_id[word] = i` keeps the last duplicate.
#[derive(Clone, Debug, Default)]
pub struct TextIndex {
    slots: Vec<Slot>,
    mask: usize,
}

impl TextIndex {
    pub fn build(arena: &TextArena) -> TextIndex {
        // Load factor at most 2/3: with 4 slots per cache line, probes stay short.
        let cap = (arena.len() + arena.len() / 2 + 1).max(16).next_power_of_two();
        let mut index = TextIndex { slots: vec![EMPTY_SLOT; cap], mask: cap - 1 };
        // Inserts are cache misses into a table larger than L2: compute a batch of keys
        // and prefetch their slots before touching any of them.
        const BATCH: usize = 32;
        let mut keys = Vec::with_capacity(BATCH);
        for first in (0..arena.len()).step_by(BATCH) {
            let ids = first..(first + BATCH).min(arena.len());
            keys.clear();
            keys.extend(ids.clone().map(|id| TextKey::of(arena.get(id))));
            keys.iter().for_each(|k| index.prefetch(k));
            for (id, key) in ids.zip(&keys) {
                index.insert(arena, id as u32, key);
            }
        }
        index
    }

    fn insert(&mut self, arena: &TextArena, id: u32, key: &TextKey) {
        let text = arena.get(id as usize);
        let mut i = key.hash as usize & self.mask;
        loop {
            let slot = self.slots[i];
            if slot.id == u32::MAX || self.matches(arena, slot, text, key) {
                self.slots[i] = Slot { id, meta: key.meta, prefix: key.prefix };
                return;
            }
            i = (i + 1) & self.mask;
        }
    }

    #[inline]
    fn matches(&self, arena: &TextArena, slot: Slot, text: &[u8], key: &TextKey) -> bool {
        slot.meta == key.meta && slot.prefix == key.prefix && (text.len() <= 8 || arena.get(slot.id as usize) == text)
    }

    #[inline]
    pub fn get(&self, arena: &TextArena, text: &[u8]) -> Option<u32> {
        self.get_keyed(arena, text, &TextKey::of(text))
    }

    /// Starts loading the slot where the search for `key` begins.
    #[inline]
    pub fn prefetch(&self, key: &TextKey) {
        if let Some(slot) = self.slots.get(key.hash as usize & self.mask) {
            prefetch(slot);
        }
    }

    /// [`TextIndex::get`] with the key computed beforehand (`key` must be `TextKey::of(text)`).
    #[inline]
    pub fn get_keyed(&self, arena: &TextArena, text: &[u8], key: &TextKey) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let mut i = key.hash as usize & self.mask;
        loop {
            let slot = self.slots[i];
            if slot.id == u32::MAX {
                return None;
            }
            if self.matches(arena, slot, text, key) {
                return Some(slot.id);
            }
            i = (i + 1) & self.mask;
        }
    }
}

/// One BPE merge: its rank (position in `tokenizer.ggml.merges`) and the symbol id
/// the merged pair becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Merge {
    pub rank: u32,
    pub result: u32,
}

/// (left id, right id) -> [`Merge`], open addressing on a packed u64 key; key and
/// value share one 16-byte entry so a probe costs one cache line.
#[derive(Clone, Debug, Default)]
pub struct MergeTable {
    entries: Vec<(u64, Merge)>,
    mask: usize,
    len: usize,
}

const NO_KEY: u64 = u64::MAX;
const NO_MERGE: Merge = Merge { rank: 0, result: 0 };

#[inline]
fn pair_key(left: u32, right: u32) -> u64 {
    ((left as u64) << 32) | right as u64
}

#[inline]
fn pair_slot(key: u64, mask: usize) -> usize {
    let h = key.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (h >> 32) as usize & mask
}

impl MergeTable {
    pub fn with_capacity(n: usize) -> MergeTable {
        // Load factor at most 2/3.
        let cap = (n + n / 2 + 1).max(16).next_power_of_two();
        MergeTable { entries: vec![(NO_KEY, NO_MERGE); cap], mask: cap - 1, len: 0 }
    }

    /// Inserts unless the pair is already there: the first (lowest-rank) entry of a
    /// duplicated merge wins, as with llama.cpp's `bpe_ranks.emplace`.
    pub fn insert_first(&mut self, left: u32, right: u32, merge: Merge) {
        if (self.len + 1) * 3 > self.entries.len() * 2 {
            self.grow();
        }
        let key = pair_key(left, right);
        let mut slot = pair_slot(key, self.mask);
        loop {
            let entry = &mut self.entries[slot];
            if entry.0 == key {
                return;
            }
            if entry.0 == NO_KEY {
                *entry = (key, merge);
                self.len += 1;
                return;
            }
            slot = (slot + 1) & self.mask;
        }
    }

    /// Starts loading the entry where the search for (left, right) begins.
    #[inline]
    pub fn prefetch(&self, left: u32, right: u32) {
        prefetch(&self.entries[pair_slot(pair_key(left, right), self.mask)]);
    }

    #[inline]
    pub fn get(&self, left: u32, right: u32) -> Option<Merge> {
        let key = pair_key(left, right);
        let mut slot = pair_slot(key, self.mask);
        loop {
            let (k, merge) = self.entries[slot];
            if k == key {
                return Some(merge);
            }
            if k == NO_KEY {
                return None;
            }
            slot = (slot + 1) & self.mask;
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    fn grow(&mut self) {
        let old = std::mem::take(&mut self.entries);
        *self = MergeTable::with_capacity(old.len());
        for (key, merge) in old {
            if key != NO_KEY {
                self.insert_first((key >> 32) as u32, key as u32, merge);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_finds_every_text_and_keeps_last_duplicate() {
        let mut arena = TextArena::with_capacity(4, 16);
        for t in [&b"a"[..], b"bc", b"a", b""] {
            arena.push(t);
        }
        let index = TextIndex::build(&arena);
        assert_eq!(index.get(&arena, b"a"), Some(2));
        assert_eq!(index.get(&arena, b"bc"), Some(1));
        assert_eq!(index.get(&arena, b""), Some(3));
        assert_eq!(index.get(&arena, b"zz"), None);
    }

    #[test]
    fn prefix8_is_the_zero_padded_prefix() {
        for s in [&b""[..], b"a", b"ab", b"abc", b"abcd", b"abcde", b"abcdefg", b"abcdefgh", b"abcdefghij"] {
            let mut buf = [0u8; 8];
            let n = s.len().min(8);
            buf[..n].copy_from_slice(&s[..n]);
            assert_eq!(prefix8(s), u64::from_le_bytes(buf), "{s:?}");
        }
    }

    #[test]
    fn merge_table_keeps_first_and_grows() {
        let mut t = MergeTable::with_capacity(1);
        for i in 0..1000u32 {
            t.insert_first(i, i + 1, Merge { rank: i, result: 5000 + i });
        }
        t.insert_first(3, 4, Merge { rank: 99999, result: 0 });
        assert_eq!(t.len(), 1000);
        assert_eq!(t.get(3, 4), Some(Merge { rank: 3, result: 5003 }));
        assert_eq!(t.get(4, 3), None);
    }
}
