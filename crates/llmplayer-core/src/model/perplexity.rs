//! Perplexity of a token list, by the two protocols of the reference data:
//!
//! * [`full_context`]: evaluate the tokens in one context and score every next-token
//!   prediction.
//! * [`chunked`]: llama.cpp's `llama-perplexity`: cut the tokens into chunks of `n_ctx`,
//!   replace each chunk's first token with BOS, evaluate each chunk in a fresh context, and
//!   score only the second half of the chunk's predictions (positions n_ctx/2 .. n_ctx-2).
//!
//! Log-probabilities are computed like llama.cpp's `log_softmax` (max-subtracted, f64 sum).

use super::{KvType, Model, ModelError};

/// The result of a perplexity run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Perplexity {
    pub ppl: f64,
    /// Mean negative log-likelihood (nats).
    pub nll: f64,
    pub n_predictions: usize,
}

/// -log softmax(logits)[target].
fn nll_of(logits: &[f32], target: u32) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f64 = logits.iter().map(|&l| ((l - max) as f64).exp()).sum();
    -((logits[target as usize] - max) as f64 - sum.ln())
}

fn finish(nll_sum: f64, n: usize) -> Perplexity {
    let nll = nll_sum / n as f64;
    Perplexity { ppl: nll.exp(), nll, n_predictions: n }
}

/// Perplexity of `tokens` evaluated in one context of `tokens.len()` positions, with a KV
/// cache of type `kv` (`flash_attn`: see `Session::set_flash_attn`).
pub fn full_context(model: &Model, tokens: &[u32], kv: KvType, flash_attn: bool) -> Result<Perplexity, ModelError> {
    if tokens.len() < 2 {
        return Err(ModelError::EmptyInput);
    }
    let mut session = model.new_session_kv(tokens.len(), kv)?;
    session.set_flash_attn(flash_attn);
    let logits = session.eval(tokens, true)?;
    let nv = model.n_vocab();
    let sum: f64 = (0..tokens.len() - 1).map(|i| nll_of(&logits[i * nv..(i + 1) * nv], tokens[i + 1])).sum();
    Ok(finish(sum, tokens.len() - 1))
}

/// llama.cpp `llama-perplexity -c n_ctx -b n_ctx` over `tokens.len() / n_ctx` chunks; `bos`
/// replaces each chunk's first token when the model adds BOS; `kv` is the cache type.
pub fn chunked(model: &Model, tokens: &[u32], n_ctx: usize, bos: Option<u32>, kv: KvType, flash_attn: bool) -> Result<Perplexity, ModelError> {
    let n_chunks = tokens.len() / n_ctx.max(1);
    if n_ctx < 4 || n_chunks == 0 {
        return Err(ModelError::EmptyInput);
    }
    let first = n_ctx / 2;
    let nv = model.n_vocab();
    let mut session = model.new_session_kv(n_ctx, kv)?;
    session.set_flash_attn(flash_attn);
    let mut chunk = vec![0u32; n_ctx];
    let (mut sum, mut count) = (0.0f64, 0usize);
    for c in 0..n_chunks {
        chunk.copy_from_slice(&tokens[c * n_ctx..(c + 1) * n_ctx]);
        if let Some(b) = bos {
            chunk[0] = b;
        }
        session.clear();
        let logits = session.eval(&chunk, true)?;
        for j in first..n_ctx - 1 {
            // The original token (not BOS) is the target for position 0's successor too.
            sum += nll_of(&logits[j * nv..(j + 1) * nv], tokens[c * n_ctx + j + 1]);
            count += 1;
        }
    }
    Ok(finish(sum, count))
}
