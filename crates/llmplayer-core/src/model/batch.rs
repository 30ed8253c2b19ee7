//! A batch of tokens for one forward pass (llama.cpp `llama_batch`): each row is a token at a
//! position of a sequence, and says whether its logits are wanted. Rows of several sequences
//! share the pass's matmuls; attention sees, for each row, its own sequence's cells up to its
//! position.

use super::memory::SeqId;

/// Rows of a forward pass. Reuse one (`clear`, `push`) to keep decoding allocation-free.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    pub tokens: Vec<u32>,
    pub pos: Vec<usize>,
    pub seq: Vec<SeqId>,
    pub logits: Vec<bool>,
}

/// Consecutive rows of one sequence at consecutive positions: what attention runs over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Run {
    /// first row in the batch
    pub row: usize,
    pub len: usize,
    pub seq: SeqId,
    /// position of the first row
    pub pos0: usize,
}

impl Batch {
    pub fn new() -> Batch {
        Batch::default()
    }
    pub fn with_capacity(n: usize) -> Batch {
        Batch { tokens: Vec::with_capacity(n), pos: Vec::with_capacity(n), seq: Vec::with_capacity(n), logits: Vec::with_capacity(n) }
    }
    pub fn len(&self) -> usize {
        self.tokens.len()
    }
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
    pub fn clear(&mut self) {
        self.tokens.clear();
        self.pos.clear();
        self.seq.clear();
        self.logits.clear();
    }
    /// Adds `token` at `pos` of sequence `seq`; `logits`: return this row's logits.
    pub fn push(&mut self, token: u32, pos: usize, seq: SeqId, logits: bool) {
        self.tokens.push(token);
        self.pos.push(pos);
        self.seq.push(seq);
        self.logits.push(logits);
    }
    /// Rows that want logits.
    pub fn n_outputs(&self) -> usize {
        self.logits.iter().filter(|&&l| l).count()
    }

    /// Rows `r0..r1` split into runs (into `runs`, cleared first).
    pub(crate) fn runs(&self, r0: usize, r1: usize, runs: &mut Vec<Run>) {
        runs.clear();
        for r in r0..r1 {
            match runs.last_mut() {
                Some(run) if run.seq == self.seq[r] && run.pos0 + run.len == self.pos[r] => run.len += 1,
                _ => runs.push(Run { row: r - r0, len: 1, seq: self.seq[r], pos0: self.pos[r] }),
            }
        }
    }
}
