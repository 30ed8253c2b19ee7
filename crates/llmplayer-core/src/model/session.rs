//! A session: one sequence's KV cache and every scratch buffer, allocated when the session
//! is created (llama2.c's `RunState`), so decoding a token allocates nothing.
//!
//! KV cache precision: chosen per session ([`KvType`]: f32, f16, q8_0; see `kv.rs`). f32 is
//! the default: it is what llama.cpp's fixture references were made with (f16 moves the
//! fixture logits by 8e-3 .. 2.3e-2, well beyond their 1e-3 budget), and on the real model f16
//! did not stay within the 0.05% perplexity bar (bench/README.md, "KV cache types").

use super::blocks::Pass;
use super::forward::{forward, Scratch};
use super::kv::{KvCache, KvType};
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
    /// attention rounded as llama.cpp's flash attention (f32 cache only)
    flash_attn: bool,
    /// positions the last `eval` kept from the cache instead of computing them
    n_reused: usize,
}

impl<'m> Session<'m> {
    /// `kv` must have passed [`KvType::check`] for the model.
    pub(crate) fn new(model: ModelRef<'m>, n_ctx: usize, kv: KvType) -> Session<'m> {
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
            let factors = m.net.rope_freqs.as_deref().or(if padded > hp.n_ctx_orig_yarn {
                m.net.rope_long.as_deref()
            } else {
                m.net.rope_short.as_deref()
            });
            let rope = Rope::new(hp, factors);
            let s = Scratch::new(m, n_ubatch, n_ctx, pool.n_threads(), kv);
            let kv = KvCache::new(hp, n_ctx, kv);
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
            flash_attn: false,
            n_reused: 0,
        }
    }

    pub fn model(&self) -> &Model<'m> {
        self.model.get()
    }
    pub fn n_ctx(&self) -> usize {
        self.n_ctx
    }
    /// The KV cache's element type.
    pub fn kv_type(&self) -> KvType {
        self.kv.ty
    }
    /// Bytes the KV cache takes per position (all layers, K and V); the cache holds
    /// `n_ctx()` of them.
    pub fn kv_bytes_per_token(&self) -> usize {
        self.kv.ty.bytes_per_token(&self.model.get().hp)
    }
    /// Positions currently in the KV cache.
    pub fn n_past(&self) -> usize {
        self.tokens.len()
    }
    /// The cached tokens.
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }
    /// Positions the last [`Session::eval`] took from the cache rather than computing them (the
    /// server's `cached_tokens`).
    pub fn n_reused(&self) -> usize {
        self.n_reused
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
    /// Rounds attention as llama.cpp's flash attention does (`-fa on`, its CPU default) instead
    /// of its two-pass softmax (`-fa off`, the default here); see `ops::flash`. llama.cpp's
    /// flash attention reads K and V as f16 whatever the cache type, so an f32 cache then
    /// stores f16-rounded values (emptied; call before the first `eval`). A q8_0 cache keeps
    /// its own path. The same attention either way, up to rounding.
    pub fn set_flash_attn(&mut self, on: bool) {
        self.flash_attn = on;
        if self.kv.ty == KvType::F32 && self.kv.round_f16 != on {
            self.kv.round_f16 = on;
            self.clear();
        }
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
        self.n_reused = start;

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
            let pass = Pass { file: m.file(), pool: &self.pool, hp: &m.hp, rope: &self.rope, rounding: m.rounding, flash: self.flash_attn };
            forward(&pass, &m.net, &mut self.kv, &mut self.s, batch, pos, out_from, dst);
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
