//! Incremental detokenization for streamed generation: token ids in, complete UTF-8
//! out. Bytes of a character split across tokens (emoji, CJK in byte-level BPE, SPM
//! byte fallback) are held back until the token that completes them arrives.
//!
//! The concatenated output of `push`es and `flush` equals `Tokenizer::decode` of all
//! pushed ids (made valid UTF-8), including BOS/EOS removal, the SPM leading-space strip
//! and the clean-up of spaces before punctuation. Clean-up needs a little lookahead, so
//! text just after a space or apostrophe may be held back until the next token.

use super::decode::{clean_up_spaces, piece};
use super::{DecodeOptions, Tokenizer};

pub struct StreamDecoder<'t> {
    tok: &'t Tokenizer,
    opts: DecodeOptions,
    /// No token pushed yet: a BOS here may be removed.
    at_start: bool,
    /// The next token's piece loses one leading space (consumed by the first token).
    strip_first_space: bool,
    /// With `remove_special`: an EOS that is dropped if nothing follows it.
    held_eos: Option<(u32, bool)>,
    /// Bytes awaiting space clean-up (only when the vocab cleans spaces).
    uncleaned: Vec<u8>,
    /// Bytes awaiting the rest of their UTF-8 sequence.
    incomplete: Vec<u8>,
}

/// Clean-up decisions look at most 3 bytes back from a cut: a cut is safe when none of
/// those is a space or an apostrophe (see `clean_up_spaces`).
const CLEANUP_CONTEXT: usize = 3;

impl<'t> StreamDecoder<'t> {
    /// Decodes a whole sequence from its first token, like `decode` with default options
    /// (special tokens hidden, nothing removed).
    pub fn new(tok: &'t Tokenizer) -> StreamDecoder<'t> {
        StreamDecoder::with_options(tok, DecodeOptions::default())
    }

    pub fn with_options(tok: &'t Tokenizer, opts: DecodeOptions) -> StreamDecoder<'t> {
        StreamDecoder {
            tok,
            opts,
            at_start: true,
            strip_first_space: tok.vocab.flags.add_space_prefix,
            held_eos: None,
            uncleaned: Vec::new(),
            incomplete: Vec::new(),
        }
    }

    /// For tokens that continue an earlier sequence (e.g. generated after a prompt):
    /// no BOS removal and no leading-space strip.
    pub fn continuing(tok: &'t Tokenizer, opts: DecodeOptions) -> StreamDecoder<'t> {
        let mut d = StreamDecoder::with_options(tok, opts);
        d.at_start = false;
        d.strip_first_space = false;
        d
    }

    /// Adds one token; returns the text that is now complete (possibly empty).
    pub fn push(&mut self, id: u32) -> String {
        let vocab = &self.tok.vocab;
        let at_start = std::mem::replace(&mut self.at_start, false);
        if at_start && self.opts.remove_special && vocab.flags.add_bos && Some(id) == vocab.ids.bos {
            // A removed BOS also cancels the leading-space strip, as in llama_detokenize.
            self.strip_first_space = false;
            return String::new();
        }
        let strip = std::mem::replace(&mut self.strip_first_space, false);

        if let Some((held, held_strip)) = self.held_eos.take() {
            self.feed_token(held, held_strip);
        }
        if self.opts.remove_special && vocab.flags.add_eos && Some(id) == vocab.ids.eos {
            self.held_eos = Some((id, strip));
        } else {
            self.feed_token(id, strip);
        }
        self.take_complete(false)
    }

    /// Ends the stream: returns everything still held back (a trailing EOS is dropped
    /// under `remove_special`; an unfinished UTF-8 sequence becomes U+FFFD).
    pub fn flush(&mut self) -> String {
        self.held_eos = None;
        let mut rest = std::mem::take(&mut self.uncleaned);
        clean_up_spaces(&mut rest);
        self.incomplete.extend_from_slice(&rest);
        self.take_complete(true)
    }

    fn feed_token(&mut self, id: u32, strip: bool) {
        let p = piece(&self.tok.vocab, &self.tok.pieces, id, self.opts.unparse_special);
        let p = if strip { p.strip_prefix(b" ").unwrap_or(p) } else { p };
        if !self.tok.vocab.flags.clean_spaces {
            self.incomplete.extend_from_slice(p);
            return;
        }
        self.uncleaned.extend_from_slice(p);
        let risky = |b: &u8| *b == b' ' || *b == b'\'';
        let safe_cut = (1..=self.uncleaned.len())
            .rev()
            .find(|&c| !self.uncleaned[c.saturating_sub(CLEANUP_CONTEXT)..c].iter().any(risky));
        if let Some(cut) = safe_cut {
            let mut ready: Vec<u8> = self.uncleaned.drain(..cut).collect();
            clean_up_spaces(&mut ready);
            self.incomplete.extend_from_slice(&ready);
        }
    }

    /// Moves the valid UTF-8 prefix of `incomplete` out; invalid bytes become U+FFFD,
    /// an unfinished sequence at the end waits unless `at_end`.
    fn take_complete(&mut self, at_end: bool) -> String {
        let mut out = String::new();
        let mut rest: &[u8] = &self.incomplete;
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(s);
                    rest = &[];
                    break;
                }
                Err(e) => {
                    let (valid, tail) = rest.split_at(e.valid_up_to());
                    out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                    match e.error_len() {
                        Some(bad) => {
                            out.push('\u{FFFD}');
                            rest = &tail[bad..];
                        }
                        None if at_end => {
                            out.push('\u{FFFD}');
                            rest = &[];
                            break;
                        }
                        None => {
                            rest = tail;
                            break;
                        }
                    }
                }
            }
        }
        let keep = rest.len();
        let len = self.incomplete.len();
        self.incomplete.drain(..len - keep);
        out
    }
}
