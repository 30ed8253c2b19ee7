//! What a session remembers between forward passes (llama.cpp's `llama_memory_i`): per
//! sequence, the cells `0..len` (one per position, tagged by the sequence's id), held as
//! per-layer state of the kind each mixer needs, and the rule for rolling them back.
//!
//! * Full KV (attention layers, [`KvCache`]): any prefix can be kept; cells are
//!   overwritten from the cut on.
//! * Recurrent state (DeltaNet, Mamba, RWKV layers, [`Recurrent`]): one fixed-size state per
//!   sequence that has absorbed every position, so it can only go back to a checkpoint it
//!   saved. No architecture uses it yet; the rule and its effect on prefix reuse are in place
//!   (a session reuses the longest prefix every layer can return to) and tested with it.
//!
//! * Windowed KV (sliding-window layers, inside [`KvCache`]): only the positions still
//!   visible are held, so a prefix can be kept only while the keys its next query sees are
//!   (else the sequence starts again from 0, as llama.cpp's SWA cache does).
//! * Latent KV (multi-head latent attention, [`KvCache`] with K rows only): as full KV.

use super::hparams::HParams;
use super::kv::{KvCache, KvType};
use super::ModelError;

/// A sequence's id in a session (llama.cpp `llama_seq_id`): `0..n_seq`.
pub type SeqId = usize;

/// Checkpoints of a recurrent state: the positions whose state was saved. The state after
/// position `p - 1` can be restored exactly when `p` is a checkpoint (0, the empty state,
/// always is).
#[derive(Clone, Debug)]
pub(crate) struct Recurrent {
    /// Save the state every `every` positions.
    pub every: usize,
    /// (ascending) saved positions, 0 first
    saved: Vec<usize>,
}

impl Recurrent {
    pub fn new(every: usize) -> Recurrent {
        Recurrent { every: every.max(1), saved: vec![0] }
    }
    /// The longest prefix of at most `n` positions the state can return to.
    fn keepable(&self, n: usize) -> usize {
        self.saved.iter().copied().filter(|&p| p <= n).max().unwrap_or(0)
    }
    fn truncate(&mut self, n: usize) {
        self.saved.retain(|&p| p <= n);
    }
    /// The state has absorbed positions up to `len`: record the checkpoints passed.
    fn advance(&mut self, from: usize, len: usize) {
        let first = from / self.every + 1;
        self.saved.extend((first..).map(|k| k * self.every).take_while(|&p| p <= len));
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
    /// The kind must have passed [`KvType::check`] for `hp`; `swa_full`: see [`KvCache::new`].
    pub fn new(hp: &HParams, n_ctx: usize, n_seq: usize, ty: KvType, swa_full: bool) -> Memory {
        let seqs = (0..n_seq.max(1))
            .map(|_| SeqCells { kv: KvCache::new(hp, n_ctx, ty, swa_full), tokens: Vec::with_capacity(n_ctx), recurrent: None })
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
    /// Gives every sequence a recurrent state saved every `every` positions (emptied), as a
    /// model with recurrent mixers will. No architecture has one yet: the session tests use
    /// it as a double.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn add_recurrent(&mut self, every: usize) {
        self.clear();
        self.seqs.iter_mut().for_each(|c| c.recurrent = Some(Recurrent::new(every)));
    }

    /// The longest prefix of at most `n` of `seq`'s positions that every layer can keep.
    pub fn keepable(&self, seq: SeqId, n: usize) -> usize {
        let c = &self.seqs[seq];
        let n = c.kv.keepable(n.min(c.tokens.len()));
        c.recurrent.as_ref().map_or(n, |r| r.keepable(n))
    }

    /// Drops `seq`'s positions from `n` on; refused when some layer cannot return there
    /// ([`Memory::keepable`]).
    pub fn truncate(&mut self, seq: SeqId, n: usize) -> Result<(), ModelError> {
        let keep = self.keepable(seq, n);
        let c = &mut self.seqs[seq];
        if keep != n.min(c.tokens.len()) {
            return Err(ModelError::CannotTruncate { seq, n, keepable: keep });
        }
        c.tokens.truncate(n);
        if n == 0 {
            c.kv.clear();
        }
        if let Some(r) = &mut c.recurrent {
            r.truncate(n);
        }
        Ok(())
    }

    /// `tokens` were appended to `seq` by a forward pass.
    pub fn commit(&mut self, seq: SeqId, tokens: &[u32]) {
        let c = &mut self.seqs[seq];
        let from = c.tokens.len();
        c.tokens.extend_from_slice(tokens);
        if let Some(r) = &mut c.recurrent {
            r.advance(from, c.tokens.len());
        }
    }

    /// Forgets every sequence (buffers stay allocated).
    pub fn clear(&mut self) {
        for c in &mut self.seqs {
            c.tokens.clear();
            c.kv.clear();
            if let Some(r) = &mut c.recurrent {
                r.truncate(0);
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
        let mut r = Recurrent::new(4);
        r.advance(0, 10);
        assert_eq!(r.saved, vec![0, 4, 8]);
        assert_eq!(r.keepable(7), 4);
        assert_eq!(r.keepable(8), 8);
        r.truncate(4);
        r.advance(4, 13);
        assert_eq!(r.saved, vec![0, 4, 8, 12]);
    }
}
