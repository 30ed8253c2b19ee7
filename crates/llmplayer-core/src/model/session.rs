//! A session: the memory of one or more sequences and every scratch buffer, allocated when
//! the session is created (llama2.c's `RunState`), so decoding a token allocates nothing.
//!
//! KV cache precision: chosen per session ([`KvType`]: f32, f16, q8_0; see `kv.rs`). f32 is
//! the default: it is what llama.cpp's fixture references were made with (f16 moves the
//! fixture logits by 8e-3 .. 2.3e-2, well beyond their 1e-3 budget), and on the real model f16
//! did not stay within the 0.05% perplexity bar (bench/README.md, "KV cache types").

use super::batch::{Batch, Run};
use super::blocks::Pass;
use super::device::Cpu;
use super::forward::{forward, forward_embd, Scratch};
use super::kv::KvType;
use super::memory::{Memory, SeqId};
use super::ops::rope::Rope;
use super::{Model, ModelError};
use crate::parallel::ThreadPool;
use std::sync::Arc;

mod embed;
pub use embed::Pooling;

/// Tokens per forward batch (llama.cpp's default n_ubatch).
pub const DEFAULT_UBATCH: usize = 512;

pub(crate) enum ModelRef<'m> {
    Borrowed(&'m Model<'m>),
    Shared(Arc<Model<'static>>),
}

impl<'m> ModelRef<'m> {
    fn get(&self) -> &Model<'m> {
        match self {
            ModelRef::Borrowed(m) => m,
            ModelRef::Shared(a) => a,
        }
    }
}

pub struct Session<'m> {
    model: ModelRef<'m>,
    pool: Arc<ThreadPool>,
    n_ctx: usize,
    n_ubatch: usize,
    /// every layer's rope, and the windowed layers' where it differs
    rope: (Rope, Option<Rope>),
    mem: Memory,
    s: Scratch,
    /// the rows `eval` hands to the forward pass (kept to stay allocation-free)
    batch: Batch,
    /// (≤ n_ubatch,) a forward pass's runs of one sequence at consecutive positions
    runs: Vec<Run>,
    /// (n_seq,) scratch for `decode`'s position check
    next_pos: Vec<usize>,
    /// (n_rows, n_vocab) logits of the last `eval` / `decode`
    logits: Vec<f32>,
    n_logit_rows: usize,
    /// attention rounded as llama.cpp's flash attention
    flash_attn: bool,
    /// positions the last `eval` kept from the cache instead of computing them
    n_reused: usize,
    /// ((Pooling::ACC + n_ubatch), n_embd) for [`Session::embed`]: the pooling's accumulators
    /// (the pooled vector first), then a forward pass's output rows; empty until the first
    /// `embed` (decoding never touches it)
    embd: Vec<f32>,
}

impl<'m> Session<'m> {
    /// `kv` must have passed [`KvType::check`] for the model. `lazy`: the KV cache starts
    /// empty and grows with what each sequence holds or reserves ([`Session::reserve`]).
    pub(crate) fn new(model: ModelRef<'m>, n_ctx: usize, n_seq: usize, kv: KvType, lazy: bool) -> Session<'m> {
        let (pool, n_ubatch, n_ctx, rope, mem, s, n_vocab) = {
            let m = model.get();
            let hp = &m.hp;
            let n_ctx = n_ctx.max(1);
            let n_ubatch = DEFAULT_UBATCH.min(n_ctx * n_seq.max(1));
            let pool = Arc::clone(m.pool());
            // LongRoPE: long factors once the context exceeds the original one
            // (get_rope_factors), judged on the context llama.cpp allocates: n_ctx padded to
            // a multiple of 256.
            let padded = n_ctx.div_ceil(256) * 256;
            let factors = m.net.rope_freqs.as_deref().or(if padded > hp.n_ctx_orig_yarn {
                m.net.rope_long.as_deref()
            } else {
                m.net.rope_short.as_deref()
            });
            let rope = (Rope::new(hp, factors), Rope::for_windows(hp, factors));
            let s = Scratch::new(hp, &m.net, n_ubatch, n_ctx, pool.n_threads(), kv);
            let mut mem = Memory::new(hp, n_ctx, n_seq, kv, false, lazy);
            let states = m.net.state_lens();
            if states.iter().any(|&n| n > 0) {
                mem.add_recurrent(&states);
            }
            (pool, n_ubatch, n_ctx, rope, mem, s, hp.n_vocab)
        };
        Session {
            model,
            pool,
            n_ctx,
            n_ubatch,
            rope,
            mem,
            s,
            batch: Batch::with_capacity(n_ubatch),
            runs: Vec::with_capacity(n_ubatch),
            next_pos: vec![0; n_seq.max(1)],
            logits: vec![0.0; n_vocab],
            n_logit_rows: 0,
            flash_attn: false,
            n_reused: 0,
            embd: Vec::new(),
        }
    }

    pub fn model(&self) -> &Model<'m> {
        self.model.get()
    }
    /// Positions each sequence can hold.
    pub fn n_ctx(&self) -> usize {
        self.n_ctx
    }
    /// Sequences this session holds (ids `0..n_seq`).
    pub fn n_seq(&self) -> usize {
        self.mem.n_seq()
    }
    /// The KV cache's element type.
    pub fn kv_type(&self) -> KvType {
        self.mem.kv_type()
    }
    /// Bytes the KV cache takes per position (all layers, K and V); the cache holds
    /// `n_ctx()` of them per sequence.
    pub fn kv_bytes_per_token(&self) -> usize {
        self.mem.kv_type().bytes_per_token(&self.model.get().hp)
    }
    /// Positions currently held for sequence 0 (the one `eval` runs).
    pub fn n_past(&self) -> usize {
        self.mem.len(0)
    }
    /// The tokens held for sequence 0.
    pub fn tokens(&self) -> &[u32] {
        self.mem.tokens(0)
    }
    /// Positions held for `seq` (0 for a sequence this session does not have).
    pub fn seq_len(&self, seq: SeqId) -> usize {
        if seq < self.mem.n_seq() {
            self.mem.len(seq)
        } else {
            0
        }
    }
    /// Positions the last [`Session::eval`] took from the cache rather than computing them (the
    /// server's `cached_tokens`).
    pub fn n_reused(&self) -> usize {
        self.n_reused
    }
    /// Positions of `tokens` an [`Session::eval`] of them would take from sequence 0's memory
    /// instead of computing: their common prefix with what it holds, as far as every layer
    /// can return there (a recurrent state only to a checkpoint), and never the last token.
    pub fn reusable(&self, tokens: &[u32]) -> usize {
        let n = common_prefix(self.mem.tokens(0), tokens).min(tokens.len().saturating_sub(1));
        self.mem.keepable(0, n)
    }
    /// Bytes of recurrent state each sequence keeps (0 for attention-only models).
    pub fn state_bytes(&self) -> usize {
        self.mem.state_bytes()
    }
    /// Forgets every sequence (the buffers stay allocated).
    pub fn clear(&mut self) {
        self.mem.clear();
        self.n_logit_rows = 0;
    }
    /// The tokens held for `seq`.
    pub fn seq_tokens(&self, seq: SeqId) -> &[u32] {
        self.mem.tokens(seq)
    }
    /// The longest prefix of at most `n` of `seq`'s positions its memory can return to.
    pub fn keepable(&self, seq: SeqId, n: usize) -> usize {
        self.mem.keepable(seq, n)
    }
    /// Allocates `seq`'s KV rows for positions `0..n` now, so decoding up to there allocates
    /// nothing (a lazily allocated session; a no-op where the rows exist).
    pub fn reserve(&mut self, seq: SeqId, n: usize) {
        self.mem.reserve(seq, n.min(self.n_ctx));
    }
    /// Positions `seq` has KV rows for.
    pub fn reserved(&self, seq: SeqId) -> usize {
        self.mem.reserved(seq)
    }
    /// KV bytes `seq` holds now.
    pub fn kv_bytes(&self, seq: SeqId) -> usize {
        self.mem.kv_bytes(seq)
    }
    /// Forgets `seq` and frees its KV rows (llama.cpp `llama_memory_seq_rm` of everything).
    pub fn release(&mut self, seq: SeqId) {
        self.mem.release(seq);
    }
    /// Makes `dst` hold the first `n` positions of `src` by copying their KV cells, when the
    /// memory allows it (KV layers only, nothing dropped by a window, `dst`'s rows reserved);
    /// false otherwise. The cells are what a forward pass of those tokens would store, so the
    /// copy changes no logits (llama.cpp `llama_memory_seq_cp`).
    pub fn copy_prefix(&mut self, src: SeqId, dst: SeqId, n: usize) -> bool {
        if src >= self.mem.n_seq() || dst >= self.mem.n_seq() || !self.mem.can_copy_prefix(src, dst, n) {
            return false;
        }
        self.mem.copy_prefix(src, dst, n);
        true
    }
    /// Drops `seq`'s positions from `n` on (llama.cpp `llama_memory_seq_rm`); refused when its
    /// memory cannot return there (a recurrent state goes back only to a checkpoint).
    pub fn truncate(&mut self, seq: SeqId, n: usize) -> Result<(), ModelError> {
        self.check_seq(seq)?;
        self.mem.truncate(seq, n)
    }
    /// Caps the tokens per forward batch (at most the 512 the scratch was sized for; at
    /// least 1). Smaller batches use less cache-hungry matmuls; results are the same.
    pub fn set_n_ubatch(&mut self, n: usize) {
        self.n_ubatch = n.clamp(1, DEFAULT_UBATCH.min(self.n_ctx * self.mem.n_seq()));
    }
    /// Rounds attention as llama.cpp's flash attention does (`-fa on`, its CPU default) instead
    /// of its two-pass softmax (`-fa off`, the default here); see `ops::flash`. llama.cpp's
    /// flash attention reads K and V as f16 whatever the cache type, so an f32 cache then
    /// stores f16-rounded values (emptied; call before the first `eval`). A q8_0 cache keeps
    /// its own path. The same attention either way, up to rounding.
    pub fn set_flash_attn(&mut self, on: bool) {
        self.flash_attn = on;
        self.mem.set_round_f16(on);
    }
    /// Whether attention rounds as llama.cpp's flash attention (see [`Session::set_flash_attn`]).
    pub fn flash_attn(&self) -> bool {
        self.flash_attn
    }
    /// Uses another pool for this session's matmuls and attention.
    pub fn set_pool(&mut self, pool: Arc<ThreadPool>) {
        self.s.resize_slots(pool.n_threads());
        self.pool = pool;
    }
    /// Logits of the last `eval` / `decode` (same as its return value).
    pub fn logits(&self) -> &[f32] {
        &self.logits[..self.n_logit_rows * self.model.get().hp.n_vocab]
    }

    /// Evaluates the token list `tokens` as sequence 0's whole context (position 0 first) and
    /// returns the logits of its last token, or with `all_logits` one row of `n_vocab` per
    /// token.
    ///
    /// The cached prefix that matches `tokens` is reused, as far as the memory can return to
    /// it ([`Session::truncate`]): only the rest is computed, in batches of up to 512 tokens
    /// (one token goes through the mat-vec path). With `all_logits` every position needs its
    /// row, so the cache is recomputed from 0.
    pub fn eval(&mut self, tokens: &[u32], all_logits: bool) -> Result<&[f32], ModelError> {
        if tokens.is_empty() {
            return Err(ModelError::EmptyInput);
        }
        if tokens.len() > self.n_ctx {
            return Err(ModelError::ContextFull { n_tokens: tokens.len(), n_ctx: self.n_ctx });
        }
        self.check_tokens(tokens)?;
        let mut start = if all_logits { 0 } else { common_prefix(self.mem.tokens(0), tokens) };
        if start == tokens.len() {
            start -= 1; // everything is cached, but the last token's logits are needed
        }
        let start = self.mem.keepable(0, start);
        self.mem.truncate(0, start)?;
        self.n_reused = start;

        let mut batch = std::mem::take(&mut self.batch);
        batch.clear();
        for (i, &t) in tokens.iter().enumerate().skip(start) {
            batch.push(t, i, 0, all_logits || i + 1 == tokens.len());
        }
        self.run(&batch);
        self.batch = batch;
        Ok(self.logits())
    }

    /// Runs `batch` (rows of any of this session's sequences, each continuing where its
    /// sequence ends) in one forward pass per 512 rows and returns the logits of the rows that
    /// ask for them, in row order ((n_outputs, n_vocab)).
    pub fn decode(&mut self, batch: &Batch) -> Result<&[f32], ModelError> {
        if batch.is_empty() {
            return Err(ModelError::EmptyInput);
        }
        self.check_tokens(&batch.tokens)?;
        // Each sequence's rows continue it at consecutive positions, within its context.
        let mut next = std::mem::take(&mut self.next_pos);
        for (seq, n) in next.iter_mut().enumerate() {
            *n = self.mem.len(seq);
        }
        let r = self.check_positions(batch, &mut next);
        self.next_pos = next;
        r?;
        self.run(batch);
        Ok(self.logits())
    }

    fn check_positions(&self, batch: &Batch, next: &mut [usize]) -> Result<(), ModelError> {
        for (&seq, &pos) in batch.seq.iter().zip(&batch.pos) {
            self.check_seq(seq)?;
            if pos != next[seq] {
                return Err(ModelError::BadPosition { seq, pos, expected: next[seq] });
            }
            if pos >= self.n_ctx {
                return Err(ModelError::ContextFull { n_tokens: pos + 1, n_ctx: self.n_ctx });
            }
            next[seq] += 1;
        }
        Ok(())
    }

    fn check_seq(&self, seq: SeqId) -> Result<(), ModelError> {
        if seq >= self.mem.n_seq() {
            return Err(ModelError::BadSequence { seq, n_seq: self.mem.n_seq() });
        }
        Ok(())
    }

    fn check_tokens(&self, tokens: &[u32]) -> Result<(), ModelError> {
        let n_vocab = self.model.get().hp.n_vocab;
        match tokens.iter().find(|&&t| t as usize >= n_vocab) {
            Some(&t) => Err(ModelError::BadToken { token: t, n_vocab }),
            None => Ok(()),
        }
    }

    /// The forward passes of a checked batch, `n_ubatch` rows at a time, with the logits of
    /// the rows that ask for output.
    fn run(&mut self, batch: &Batch) {
        self.run_with(batch, None);
    }

    /// [`Session::run`], or with `pool` no head: the output rows' hidden states are folded
    /// into `embd`'s accumulators by `pool` after each pass (see `embed.rs`).
    fn run_with(&mut self, batch: &Batch, pool: Option<Pooling>) {
        let n_vocab = self.model.get().hp.n_vocab;
        let n_embd = self.model.get().hp.n_embd;
        let n_rows = if pool.is_some() { 0 } else { batch.n_outputs() };
        if self.logits.len() < n_rows * n_vocab {
            self.logits.resize(n_rows * n_vocab, 0.0);
        }
        let m = self.model.get();
        let cpu = Cpu { file: m.file(), pool: &self.pool, offload: m.offload() };
        let pass = Pass { dev: &cpu, hp: &m.hp, rope: &self.rope.0, rope_swa: self.rope.1.as_ref(), rounding: m.rounding, flash: self.flash_attn };
        let mut row = 0;
        let mut r0 = 0;
        while r0 < batch.len() {
            let r1 = (r0 + self.n_ubatch).min(batch.len());
            batch.runs(r0, r1, &mut self.runs);
            let n_out = batch.logits[r0..r1].iter().filter(|&&l| l).count();
            if let Some(pool) = pool {
                let (acc, rows) = self.embd.split_at_mut(Pooling::ACC * n_embd);
                forward_embd(&pass, &m.net, &mut self.mem, &mut self.s, batch, r0, &self.runs, rows);
                pool.fold(acc, &rows[..n_out * n_embd], r0, batch.len());
            } else {
                let dst = &mut self.logits[row * n_vocab..(row + n_out) * n_vocab];
                forward(&pass, &m.net, &mut self.mem, &mut self.s, batch, r0, &self.runs, dst);
            }
            for run in &self.runs {
                self.mem.commit(run.seq, &batch.tokens[r0 + run.row..r0 + run.row + run.len]);
            }
            row += n_out;
            r0 = r1;
        }
        // A sequence that took a prompt (more than one row) keeps its recurrent state at the
        // prompt's end: the next turn's prompt, when it diverges later, resumes there.
        let mut rows = std::mem::take(&mut self.next_pos);
        rows.iter_mut().for_each(|r| *r = 0);
        batch.seq.iter().for_each(|&q| rows[q] += 1);
        for (seq, _) in rows.iter().enumerate().filter(|(_, &r)| r > 1) {
            self.mem.checkpoint(seq);
        }
        self.next_pos = rows;
        self.n_logit_rows = n_rows;
    }
}

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GgufFile;

    /// `models/<name>.gguf` under `$LLMPLAYER_FIXTURES` (else `<repo>/../shared/fixtures`);
    /// None (skip) when missing, a panic under `CI=true`.
    pub(super) fn fixture_named(name: &str) -> Option<Vec<u8>> {
        let root = std::env::var_os("LLMPLAYER_FIXTURES")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures"));
        match std::fs::read(root.join("models").join(format!("{name}.gguf"))) {
            Ok(b) => Some(b),
            Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => panic!("{}: {e}", root.display()),
            Err(_) => None,
        }
    }

    /// A windowed layer's cache holds only its window (plus a batch), dropping older rows as
    /// the sequence grows, and gives the same logits as a cache of every position, bit for
    /// bit: prefill in 512-token batches, then one token at a time past several drops, for
    /// each cache type and both attention paths. A prefix is reused only while the keys its
    /// next query sees are still held.
    #[test]
    fn windowed_cache_drops_old_rows_and_changes_nothing() {
        let Some(bytes) = fixture_named("gemma3") else { return };
        let f = GgufFile::parse(&bytes).unwrap();
        let model = Model::load(&f).unwrap();
        let w = model.hp.window(0).expect("gemma3's first layer is windowed");
        let n_ctx = 2048;
        let cells = super::super::kv::window_cells(w, n_ctx);
        assert!(cells < 1024, "{cells} rows for a window of {w}");
        let nv = model.hp.n_vocab;
        let tokens: Vec<u32> = (0..1400u32).map(|i| (i * 7919 + 13) % nv as u32).collect();
        for kv in KvType::ALL.into_iter().filter(|t| t.check(&model.hp).is_ok()) {
            for flash in [false, true] {
                let mut windowed = model.new_session_kv(n_ctx, kv).unwrap();
                let mut full = model.new_session_kv(n_ctx, kv).unwrap();
                full.mem = Memory::new(&model.hp, n_ctx, 1, kv, true, false);
                for s in [&mut windowed, &mut full] {
                    s.set_flash_attn(flash);
                }
                let mut logits = [vec![], vec![]];
                for (s, out) in [&mut windowed, &mut full].into_iter().zip(&mut logits) {
                    out.extend_from_slice(s.eval(&tokens[..1100], true).unwrap());
                    for n in 1101..=tokens.len() {
                        out.extend_from_slice(s.eval(&tokens[..n], false).unwrap());
                    }
                }
                let same = logits[0].iter().zip(&logits[1]).all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{kv} flash {flash}: windowed and full caches differ");
                assert!(windowed.mem.kv_mut(0).base(0) > 0, "the window never moved");
                // Cutting back to 1300 keeps it (its query sees 1285.. which are held); to 700
                // would need keys long dropped, so everything is computed again.
                assert_eq!(windowed.mem.keepable(0, 1300), 1300);
                assert_eq!(windowed.mem.keepable(0, 700), 0);
                let mut other = tokens[..700].to_vec();
                other.push(1);
                let a = windowed.eval(&other, false).unwrap().to_vec();
                assert_eq!(windowed.n_reused(), 0);
                full.eval(&other, false).unwrap();
                assert_eq!(full.n_reused(), 700);
                let mut fresh = model.new_session_kv(n_ctx, kv).unwrap();
                fresh.set_flash_attn(flash);
                let b = fresh.eval(&other, false).unwrap();
                assert!(a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()), "{kv} flash {flash}: recomputed prefix");
            }
        }
    }

    /// A recurrent state goes back only to the end of a prompt (a checkpoint), its live end
    /// or the start: a follow-up turn that extends the conversation reuses everything, one
    /// that diverges inside the last answer resumes from the prompt's checkpoint, and both
    /// give the logits of a fresh evaluation.
    #[test]
    fn recurrent_memory_resumes_from_checkpoints() {
        let Some(bytes) = fixture_named("mamba2") else { return };
        let f = GgufFile::parse(&bytes).unwrap();
        let model = Model::load(&f).unwrap();
        assert!(model.new_session(8).mem.state_bytes() > 0);
        let fresh = |tokens: &[u32]| model.new_session(64).eval(tokens, false).unwrap().to_vec();
        let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-4);

        let prompt: Vec<u32> = (1..=10).collect();
        let mut s = model.new_session(64);
        s.eval(&prompt, false).unwrap();
        // An answer of three tokens, one at a time: no checkpoint of their own.
        let mut conv = prompt.clone();
        conv.extend([20, 21, 22]);
        for k in 11..=13 {
            s.eval(&conv[..k], false).unwrap();
            assert_eq!(s.n_reused(), k - 1);
        }
        assert_eq!(s.truncate(0, 12).unwrap_err(), ModelError::CannotTruncate { seq: 0, n: 12, keepable: 10 });
        assert_eq!(s.n_past(), 13);

        let mut second = conv.clone();
        second.extend([30, 31]);
        let got = s.eval(&second, false).unwrap().to_vec();
        assert_eq!(s.n_reused(), 13);
        assert!(close(&got, &fresh(&second)));

        let mut third = conv[..11].to_vec();
        third.push(40);
        let got = s.eval(&third, false).unwrap().to_vec();
        assert_eq!(s.n_reused(), 10);
        assert!(close(&got, &fresh(&third)));
    }
}
