//! A session: one sequence's KV cache and every scratch buffer, allocated when the session
//! is created (llama2.c's `RunState`), so decoding a token allocates nothing.
//!
//! KV cache precision: f32. Measured on the fixtures, rounding K and V to f16 (llama.cpp's
//! default cache type) moves the logits by 3.6e-3 .. 9.0e-3 (stories260K 7.6e-3), several
//! times the 1e-3 budget against llama.cpp's f32-cache references, while f32 stays at the
//! JSON rounding (5e-5). The cost is 2x cache memory and bandwidth at long contexts; an f16
//! option can be added when large models need it.

use super::forward::{forward, Scratch};
use super::ops::rope::Rope;
use super::{Model, ModelError};
use crate::parallel::ThreadPool;
use std::sync::Arc;

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

/// Per-layer K rows (position-major) and V columns (transposed, as ggml's `v_trans`).
pub(crate) struct KvCache {
    pub n_ctx: usize,
    /// Per layer: (n_ctx, n_head_kv * head_dim_k).
    pub k: Vec<Vec<f32>>,
    /// Per layer: (n_head_kv * head_dim_v, n_ctx).
    pub v: Vec<Vec<f32>>,
}

pub struct Session<'m> {
    model: ModelRef<'m>,
    pool: Arc<ThreadPool>,
    n_ctx: usize,
    n_ubatch: usize,
    rope: Rope,
    kv: KvCache,
    s: Scratch,
    /// (n_ctx,) the tokens whose K/V are cached, by position.
    tokens: Vec<u32>,
    /// (n_rows, n_vocab) logits of the last `eval`.
    logits: Vec<f32>,
    n_logit_rows: usize,
}

impl<'m> Session<'m> {
    pub(crate) fn new(model: ModelRef<'m>, n_ctx: usize) -> Session<'m> {
        let (pool, n_ubatch, n_ctx, rope, kv, s, n_vocab) = {
            let m = model.get();
            let hp = &m.hp;
            let n_ctx = n_ctx.max(1);
            let n_ubatch = DEFAULT_UBATCH.min(n_ctx);
            let pool = Arc::clone(m.pool());
            // LongRoPE: long factors once the context exceeds the original one
            // (get_rope_factors), judged on the context llama.cpp allocates: n_ctx padded to
            // a multiple of 256.
            let padded = n_ctx.div_ceil(256) * 256;
            let factors = m.w.rope_freqs.as_deref().or(if padded > hp.n_ctx_orig_yarn {
                m.w.rope_long.as_deref()
            } else {
                m.w.rope_short.as_deref()
            });
            let rope = Rope::new(hp, factors);
            let kv = KvCache {
                n_ctx,
                k: (0..hp.n_layer).map(|il| vec![0.0; n_ctx * hp.n_embd_k_gqa(il)]).collect(),
                v: (0..hp.n_layer).map(|il| vec![0.0; n_ctx * hp.n_embd_v_gqa(il)]).collect(),
            };
            let s = Scratch::new(m, n_ubatch, n_ctx, pool.n_threads());
            (pool, n_ubatch, n_ctx, rope, kv, s, hp.n_vocab)
        };
        Session {
            model,
            pool,
            n_ctx,
            n_ubatch,
            rope,
            kv,
            s,
            tokens: Vec::with_capacity(n_ctx),
            logits: vec![0.0; n_vocab],
            n_logit_rows: 0,
        }
    }

    pub fn model(&self) -> &Model<'m> {
        self.model.get()
    }
    pub fn n_ctx(&self) -> usize {
        self.n_ctx
    }
    /// Positions currently in the KV cache.
    pub fn n_past(&self) -> usize {
        self.tokens.len()
    }
    /// The cached tokens.
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }
    /// Forgets the cache (the buffers stay allocated).
    pub fn clear(&mut self) {
        self.tokens.clear();
        self.n_logit_rows = 0;
    }
    /// Caps the tokens per forward batch (at most the 512 the scratch was sized for; at
    /// least 1). Smaller batches use less cache-hungry matmuls; results are the same.
    pub fn set_n_ubatch(&mut self, n: usize) {
        self.n_ubatch = n.clamp(1, DEFAULT_UBATCH.min(self.n_ctx));
    }
    /// Uses another pool for this session's matmuls and attention.
    pub fn set_pool(&mut self, pool: Arc<ThreadPool>) {
        self.s.resize_slots(pool.n_threads(), self.n_ctx);
        self.pool = pool;
    }
    /// Logits of the last `eval` (same as its return value).
    pub fn logits(&self) -> &[f32] {
        &self.logits[..self.n_logit_rows * self.model.get().hp.n_vocab]
    }

    /// Evaluates the token list `tokens` (the whole context, position 0 first) and returns
    /// the logits of its last token, or with `all_logits` one row of `n_vocab` per token.
    ///
    /// The cached prefix that matches `tokens` is reused: only the rest is computed, in
    /// batches of up to 512 tokens (one token goes through the mat-vec path). With
    /// `all_logits` every position needs its row, so the cache is recomputed from 0.
    pub fn eval(&mut self, tokens: &[u32], all_logits: bool) -> Result<&[f32], ModelError> {
        let n_vocab = self.model.get().hp.n_vocab;
        if tokens.is_empty() {
            return Err(ModelError::EmptyInput);
        }
        if tokens.len() > self.n_ctx {
            return Err(ModelError::ContextFull { n_tokens: tokens.len(), n_ctx: self.n_ctx });
        }
        if let Some(&t) = tokens.iter().find(|&&t| t as usize >= n_vocab) {
            return Err(ModelError::BadToken { token: t, n_vocab });
        }
        let mut start = if all_logits { 0 } else { common_prefix(&self.tokens, tokens) };
        if start == tokens.len() {
            start -= 1; // everything is cached, but the last token's logits are needed
        }
        self.tokens.truncate(start);

        let n_rows = if all_logits { tokens.len() } else { 1 };
        if self.logits.len() < n_rows * n_vocab {
            self.logits.resize(n_rows * n_vocab, 0.0);
        }
        let m = self.model.get();
        let mut row = 0;
        let mut pos = start;
        while pos < tokens.len() {
            let end = (pos + self.n_ubatch).min(tokens.len());
            let batch = &tokens[pos..end];
            // Rows of this batch that need logits: all, the very last token, or none.
            let out_from = if all_logits {
                0
            } else if end == tokens.len() {
                batch.len() - 1
            } else {
                batch.len()
            };
            let n_out = batch.len() - out_from;
            let dst = &mut self.logits[row * n_vocab..(row + n_out) * n_vocab];
            forward(m, &self.pool, &self.rope, &mut self.kv, &mut self.s, batch, pos, out_from, dst);
            self.tokens.extend_from_slice(batch);
            row += n_out;
            pos = end;
        }
        self.n_logit_rows = n_rows;
        Ok(&self.logits[..n_rows * n_vocab])
    }
}

fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}
