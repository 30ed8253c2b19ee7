//! The model's vocabulary as llguidance sees it: one byte string per token id, built once per
//! model (see [`Grammars`](super::Grammars)) and shared by every generation.
//!
//! toktrie's conventions (llguidance's `docs/special_tokens.md`): a text token is the bytes it
//! decodes to; a special token is `0xFF` followed by its name, so no text grammar (whose bytes
//! are UTF-8, where `0xFF` never occurs) can produce it, while Lark's `<|name|>` syntax still can
//! name it; an empty byte string is a token nothing ever matches. The end-of-generation ids are
//! toktrie's EOS set: the grammar allows them exactly when it accepts.

use crate::tokenizer::Tokenizer;
use toktrie::{ApproximateTokEnv, TokEnv, TokRxInfo, TokTrie};

/// Bytes of each token for the trie. Control and unknown tokens (hidden in text output) and
/// every end-of-generation token are special; byte and normal tokens are their decoded bytes;
/// user-defined tokens (`<think>`) are text, as the tokenizer treats them. Ids the output layer
/// has beyond the tokenizer's vocabulary (padding rows) are empty: never allowed.
fn token_bytes(tok: &Tokenizer, n_vocab: usize) -> Vec<Vec<u8>> {
    (0..n_vocab as u32)
        .map(|id| {
            if id as usize >= tok.n_vocab() {
                return Vec::new();
            }
            let piece = tok.token_to_piece(id, true);
            let hidden = tok.token_to_piece(id, false).is_empty();
            if (hidden || tok.is_eog(id)) && !piece.is_empty() {
                let mut special = Vec::with_capacity(piece.len() + 1);
                special.push(TokTrie::SPECIAL_TOKEN_MARKER);
                special.extend_from_slice(piece);
                special
            } else {
                piece.to_vec()
            }
        })
        .collect()
}

/// The token environment of `tok` for an output layer of `n_vocab` logits, or None when the
/// vocabulary has no end-of-generation token (a grammar could then never end a generation).
pub(super) fn token_env(tok: &Tokenizer, n_vocab: usize) -> Option<TokEnv> {
    let eog: Vec<u32> = tok.eog_ids().iter().copied().filter(|&id| (id as usize) < n_vocab).collect();
    // The EOS the trie reports first: the vocabulary's EOS when it ends generation, else the
    // first end-of-generation id.
    let first = tok.eos().filter(|e| eog.contains(e)).or_else(|| eog.first().copied())?;
    let mut eos = vec![first];
    eos.extend(eog.iter().copied().filter(|&id| id != first));
    let info = TokRxInfo {
        vocab_size: n_vocab as u32,
        tok_eos: first,
        tok_bos: tok.bos().filter(|&b| (b as usize) < n_vocab),
        tok_pad: None,
        tok_unk: None,
        tok_end_of_turn: tok.eot().filter(|&t| (t as usize) < n_vocab),
    };
    let trie = TokTrie::from(&info, &token_bytes(tok, n_vocab)).with_eos_tokens(&eos);
    // Greedy tokenization of forced text: llguidance only uses it for fast-forward tokens and
    // prompt healing, which this sampler does not use (the model samples every token).
    Some(std::sync::Arc::new(ApproximateTokEnv::new(trie)))
}
