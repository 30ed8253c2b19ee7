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
    if !rest.is_empty() {
        let mut buf = [0u8; 8];
        buf[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(buf)).wrapping_mul(K);
    }
    // Final avalanche so the low bits (the slot index) depend on every input bit.
    h ^= h >> 29;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^ (h >> 32)
}

const EMPTY: u32 = u32::MAX;

/// text -> id over a [`TextArena`]. Inserting an existing text re-points it to the
/// new id, as llama.cpp's `token_to_id[word] = i` keeps the last duplicate.
#[derive(Clone, Debug, Default)]
pub struct TextIndex {
    slots: Vec<u32>,
    mask: usize,
}

impl TextIndex {
    pub fn build(arena: &TextArena) -> TextIndex {
        let cap = (arena.len() * 2).max(16).next_power_of_two();
        let mut index = TextIndex { slots: vec![EMPTY; cap], mask: cap - 1 };
        for id in 0..arena.len() {
            let text = arena.get(id);
            let mut slot = hash_bytes(text) as usize & index.mask;
            loop {
                let cur = index.slots[slot];
                if cur == EMPTY || arena.get(cur as usize) == text {
                    index.slots[slot] = id as u32;
                    break;
                }
                slot = (slot + 1) & index.mask;
            }
        }
        index
    }

    #[inline]
    pub fn get(&self, arena: &TextArena, text: &[u8]) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let mut slot = hash_bytes(text) as usize & self.mask;
        loop {
            let cur = self.slots[slot];
            if cur == EMPTY {
                return None;
            }
            if arena.get(cur as usize) == text {
                return Some(cur);
            }
            slot = (slot + 1) & self.mask;
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

/// (left id, right id) -> [`Merge`], open addressing on a packed u64 key.
#[derive(Clone, Debug, Default)]
pub struct MergeTable {
    keys: Vec<u64>,
    merges: Vec<Merge>,
    mask: usize,
    len: usize,
}

const NO_KEY: u64 = u64::MAX;

#[inline]
fn pair_key(left: u32, right: u32) -> u64 {
    ((left as u64) << 32) | right as u64
}

#[inline]
fn pair_slot(key: u64, mask: usize) -> usize {
    let h = key.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (h ^ (h >> 31)) as usize & mask
}

impl MergeTable {
    pub fn with_capacity(n: usize) -> MergeTable {
        let cap = (n * 2).max(16).next_power_of_two();
        MergeTable { keys: vec![NO_KEY; cap], merges: vec![Merge { rank: 0, result: 0 }; cap], mask: cap - 1, len: 0 }
    }

    /// Inserts unless the pair is already there: the first (lowest-rank) entry of a
    /// duplicated merge wins, as with llama.cpp's `bpe_ranks.emplace`.
    pub fn insert_first(&mut self, left: u32, right: u32, merge: Merge) {
        if (self.len + 1) * 2 > self.keys.len() {
            self.grow();
        }
        let key = pair_key(left, right);
        let mut slot = pair_slot(key, self.mask);
        loop {
            if self.keys[slot] == key {
                return;
            }
            if self.keys[slot] == NO_KEY {
                self.keys[slot] = key;
                self.merges[slot] = merge;
                self.len += 1;
                return;
            }
            slot = (slot + 1) & self.mask;
        }
    }

    #[inline]
    pub fn get(&self, left: u32, right: u32) -> Option<Merge> {
        let key = pair_key(left, right);
        let mut slot = pair_slot(key, self.mask);
        loop {
            let k = self.keys[slot];
            if k == key {
                return Some(self.merges[slot]);
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
        let old_keys = std::mem::take(&mut self.keys);
        let old_merges = std::mem::take(&mut self.merges);
        *self = MergeTable::with_capacity(old_keys.len());
        for (key, merge) in old_keys.into_iter().zip(old_merges) {
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
