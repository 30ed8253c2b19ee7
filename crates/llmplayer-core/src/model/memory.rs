//! What a session remembers between forward passes (llama.cpp's `llama_memory_i`): per
//! sequence, the cells `0..len` (one per position, tagged by the sequence's id), held as
//! per-layer state of the kind each mixer needs, and the rule for rolling them back.
//!
//! * Full KV (attention layers, [`KvCache`]): any prefix can be kept; cells are
//!   overwritten from the cut on.
//! * Recurrent state (DeltaNet, Mamba, RWKV layers, [`Recurrent`]): one fixed-size state per
//!   sequence that has absorbed every position, so it can only go back to a checkpoint it
//!   saved (the ends of the last prompts) or to the start. A session reuses the longest
//!   prefix every layer can return to. Hybrid models hold both kinds.
//! * Windowed KV (sliding-window layers, inside [`KvCache`]): only the positions still
//!   visible are held, so a prefix can be kept only while the keys its next query sees are
//!   (else the sequence starts again from 0, as llama.cpp's SWA cache does).
//! * Latent KV (multi-head latent attention, [`KvCache`] with K rows only): as full KV.

use super::hparams::HParams;
use super::kv::{KvCache, KvType};
use super::ModelError;

/// A sequence's id in a session (llama.cpp `llama_seq_id`): `0..n_seq`.
pub type SeqId = usize;

/// Checkpoints a sequence's recurrent state keeps besides its live state (llama.cpp's
/// server keeps context checkpoints the same way): the end of the last prompts.
const MAX_CHECKPOINTS: usize = 3;

/// One sequence's recurrent state: every recurrent layer's values (conv window, scan state,
/// token shift) in one buffer, and copies of it at checkpoints. The state after position
/// `p - 1` can be returned to exactly when `p` is the live length, a checkpoint, or 0 (the
/// empty state).
pub(crate) struct Recurrent {
    /// (n_layer,) each layer's span of `live` (empty for layers without state)
    spans: Vec<std::ops::Range<usize>>,
    /// (Σ layer state,) the state after every held position
    live: Vec<f32>,
    /// (position, state) checkpoints, oldest first
    saved: Vec<(usize, Vec<f32>)>,
}

impl Recurrent {
    /// `sizes[il]`: the f32 values layer `il`'s state takes (0: none).
    pub fn new(sizes: &[usize]) -> Recurrent {
        let mut at = 0;
        let spans = sizes
            .iter()
            .map(|&n| {
                at += n;
                at - n..at
            })
            .collect();
        Recurrent { spans, live: vec![0.0; at], saved: Vec::with_capacity(MAX_CHECKPOINTS) }
    }
    /// Bytes of one state (the live one; each checkpoint takes as many).
    pub fn bytes(&self) -> usize {
        self.live.len() * 4
    }
    /// The longest prefix of at most `n` positions (of `len` held) the state can return to.
    fn keepable(&self, n: usize, len: usize) -> usize {
        if n >= len {
            return len;
        }
        self.saved.iter().map(|&(p, _)| p).filter(|&p| p <= n).max().unwrap_or(0)
    }
    /// Returns to position `n` (which [`Recurrent::keepable`] allows) of `len`.
    fn truncate(&mut self, n: usize, len: usize) {
        if n < len {
            match self.saved.iter().find(|(p, _)| *p == n) {
                Some((_, st)) => self.live.copy_from_slice(st),
                None => self.live.fill(0.0),
            }
        }
        self.saved.retain(|&(p, _)| p <= n);
    }
    /// Saves the live state as the checkpoint of position `len` (the oldest goes when full).
    fn checkpoint(&mut self, len: usize) {
        if self.saved.last().is_some_and(|&(p, _)| p == len) {
            return;
        }
        let mut buf = if self.saved.len() == MAX_CHECKPOINTS { self.saved.remove(0).1 } else { Vec::new() };
        buf.clear();
        buf.extend_from_slice(&self.live);
        self.saved.push((len, buf));
    }
}

/// One sequence's cells.
pub(crate) struct SeqCells {
    pub kv: KvCache,
    /// (len,) the token at each position whose state is held
    pub tokens: Vec<u32>,
    pub recurrent: Option<Recurrent>,
}

/// The session's memory: `n_seq` sequences of up to `n_ctx` positions each.
pub(crate) struct Memory {
    seqs: Vec<SeqCells>,
}

impl Memory {
    /// The kind must have passed [`KvType::check`] for `hp`; `swa_full`, `lazy`: see
    /// [`KvCache::new`].
    pub fn new(hp: &HParams, n_ctx: usize, n_seq: usize, ty: KvType, swa_full: bool, lazy: bool) -> Memory {
        let seqs = (0..n_seq.max(1))
            .map(|_| SeqCells { kv: KvCache::new(hp, n_ctx, ty, swa_full, lazy), tokens: Vec::with_capacity(n_ctx), recurrent: None })
            .collect();
        Memory { seqs }
    }

    pub fn n_seq(&self) -> usize {
        self.seqs.len()
    }
    pub fn kv_type(&self) -> KvType {
        self.seqs[0].kv.ty
    }
    /// Positions held for `seq`.
    pub fn len(&self, seq: SeqId) -> usize {
        self.seqs[seq].tokens.len()
    }
    pub fn tokens(&self, seq: SeqId) -> &[u32] {
        &self.seqs[seq].tokens
    }
    pub fn kv_mut(&mut self, seq: SeqId) -> &mut KvCache {
        &mut self.seqs[seq].kv
    }
    /// Gives every sequence a recurrent state of `sizes[il]` values for layer `il` (emptied).
    pub fn add_recurrent(&mut self, sizes: &[usize]) {
        self.clear();
        self.seqs.iter_mut().for_each(|c| c.recurrent = Some(Recurrent::new(sizes)));
    }

    /// Layer `il`'s live recurrent state for `seq` (empty without one).
    pub fn state_mut(&mut self, seq: SeqId, il: usize) -> &mut [f32] {
        match &mut self.seqs[seq].recurrent {
            Some(r) => &mut r.live[r.spans[il].clone()],
            None => &mut [],
        }
    }

    /// Bytes of one sequence's recurrent state (0 without one).
    pub fn state_bytes(&self) -> usize {
        self.seqs[0].recurrent.as_ref().map_or(0, Recurrent::bytes)
    }

    /// Saves `seq`'s recurrent state at its current length (a prompt's end), so a later
    /// prompt that diverges after it resumes there.
    pub fn checkpoint(&mut self, seq: SeqId) {
        let c = &mut self.seqs[seq];
        if let Some(r) = &mut c.recurrent {
            r.checkpoint(c.tokens.len());
        }
    }

    /// The longest prefix of at most `n` of `seq`'s positions that every layer can keep.
    pub fn keepable(&self, seq: SeqId, n: usize) -> usize {
        let c = &self.seqs[seq];
        let n = c.kv.keepable(n.min(c.tokens.len()));
        c.recurrent.as_ref().map_or(n, |r| r.keepable(n, c.tokens.len()))
    }

    /// Drops `seq`'s positions from `n` on; refused when some layer cannot return there
    /// ([`Memory::keepable`]).
    pub fn truncate(&mut self, seq: SeqId, n: usize) -> Result<(), ModelError> {
        let keep = self.keepable(seq, n);
        let c = &mut self.seqs[seq];
        if keep != n.min(c.tokens.len()) {
            return Err(ModelError::CannotTruncate { seq, n, keepable: keep });
        }
        if let Some(r) = &mut c.recurrent {
            r.truncate(n, c.tokens.len());
        }
        c.tokens.truncate(n);
        if n == 0 {
            c.kv.clear();
        }
        Ok(())
    }

    /// Allocates `seq`'s KV rows for positions `0..n` (see [`KvCache::reserve`]).
    pub fn reserve(&mut self, seq: SeqId, n: usize) {
        self.seqs[seq].kv.reserve(n);
    }

    /// Positions `seq` has KV rows for.
    pub fn reserved(&self, seq: SeqId) -> usize {
        self.seqs[seq].kv.reserved()
    }

    /// KV bytes `seq` holds.
    pub fn kv_bytes(&self, seq: SeqId) -> usize {
        self.seqs[seq].kv.bytes()
    }

    /// Forgets `seq` and frees its KV rows.
    pub fn release(&mut self, seq: SeqId) {
        let c = &mut self.seqs[seq];
        c.tokens.clear();
        c.kv.release();
        if let Some(r) = &mut c.recurrent {
            r.truncate(0, usize::MAX);
        }
    }

    /// Whether `dst` can take positions `0..n` of `src` by copying its cells: KV only (a
    /// recurrent state holds no per-position cells), every layer from row 0, rows reserved.
    pub fn can_copy_prefix(&self, src: SeqId, dst: SeqId, n: usize) -> bool {
        let (s, d) = (&self.seqs[src], &self.seqs[dst]);
        src != dst && s.recurrent.is_none() && n <= s.tokens.len() && d.kv.can_copy_from(&s.kv, n)
    }

    /// Makes `dst` hold `src`'s first `n` positions, copying their cells (checked by
    /// [`Memory::can_copy_prefix`]).
    pub fn copy_prefix(&mut self, src: SeqId, dst: SeqId, n: usize) {
        debug_assert!(self.can_copy_prefix(src, dst, n));
        let (s, d) = if src < dst {
            let (a, b) = self.seqs.split_at_mut(dst);
            (&a[src], &mut b[0])
        } else {
            let (a, b) = self.seqs.split_at_mut(src);
            (&b[0], &mut a[dst])
        };
        d.kv.copy_prefix_from(&s.kv, n);
        d.tokens.clear();
        d.tokens.extend_from_slice(&s.tokens[..n]);
    }

    /// `tokens` were appended to `seq` by a forward pass.
    pub fn commit(&mut self, seq: SeqId, tokens: &[u32]) {
        self.seqs[seq].tokens.extend_from_slice(tokens);
    }

    /// Forgets every sequence (buffers stay allocated).
    pub fn clear(&mut self) {
        for c in &mut self.seqs {
            c.tokens.clear();
            c.kv.clear();
            if let Some(r) = &mut c.recurrent {
                r.truncate(0, usize::MAX);
            }
        }
    }

    /// Stores K and V rounded to f16 (flash attention over an f32 cache); clears.
    pub fn set_round_f16(&mut self, on: bool) {
        if self.kv_type() == KvType::F32 && self.seqs[0].kv.round_f16 != on {
            self.seqs.iter_mut().for_each(|c| c.kv.round_f16 = on);
            self.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recurrent_state_returns_only_to_checkpoints() {
        let mut r = Recurrent::new(&[2, 0, 1]);
        assert_eq!((r.spans[1].clone(), r.spans[2].clone(), r.bytes()), (2..2, 2..3, 12));
        r.live.copy_from_slice(&[1.0, 2.0, 3.0]);
        r.checkpoint(5);
        r.live.copy_from_slice(&[4.0, 5.0, 6.0]);
        // Held: 9 positions; checkpoints 0 (empty) and 5.
        assert_eq!((r.keepable(9, 9), r.keepable(12, 9), r.keepable(8, 9), r.keepable(4, 9)), (9, 9, 5, 0));
        r.truncate(5, 9);
        assert_eq!(r.live, [1.0, 2.0, 3.0]);
        r.truncate(0, 5);
        assert_eq!((r.live.as_slice(), r.saved.len()), (&[0.0; 3][..], 0));
        for p in 1..=5 {
            r.checkpoint(p);
        }
        let kept: Vec<usize> = r.saved.iter().map(|s| s.0).collect();
        assert_eq!(kept, [3, 4, 5]);
    }
}
