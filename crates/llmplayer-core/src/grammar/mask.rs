//! The grammar as a stage of the sampler's chain (a mask: see `sampling/mod.rs` for where
//! masks run). Each step bans (-inf) every token the grammar does not allow next; each accepted
//! token advances the grammar.
//!
//! The owner pushes the mask with [`Sampler::push_mask`](crate::sampling::Sampler::push_mask)
//! *after* the prompt's tokens were accepted, so it sees the generated tokens only: the grammar
//! constrains the output, not the prompt.

use llguidance::Matcher;
use toktrie::SimpleVob;

use super::{llg_message, GrammarError};
use crate::sampling::{Candidates, LogitProcessor};

pub struct GrammarMask {
    matcher: Matcher,
    /// The mask for the next `apply`, when already computed (the first one is, at compile time).
    next: Option<SimpleVob>,
    /// The end-of-generation ids: all that is allowed once the grammar is complete.
    eos: Vec<u32>,
    /// Why the grammar cannot go on (a token it refused, a mask it could not compute).
    failure: Option<GrammarError>,
}

impl std::fmt::Debug for GrammarMask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrammarMask").field("stopped", &self.matcher.is_stopped()).field("failure", &self.failure).finish()
    }
}

impl GrammarMask {
    pub(super) fn new(matcher: Matcher, first: SimpleVob, eos: Vec<u32>) -> Self {
        GrammarMask { matcher, next: Some(first), eos, failure: None }
    }

    /// Whether the grammar is complete: no token can follow, only an end-of-generation one.
    pub fn is_finished(&self) -> bool {
        self.failure.is_none() && self.matcher.is_stopped()
    }

    /// The tokens allowed next: the grammar's mask, or only end-of-generation tokens once the
    /// grammar is complete or has failed (the failure is reported by `failure`).
    fn allowed(&mut self) -> Option<SimpleVob> {
        if self.failure.is_some() || self.matcher.is_stopped() {
            return None;
        }
        if let Some(m) = self.next.take() {
            return Some(m);
        }
        match self.matcher.compute_mask() {
            Ok(m) => Some(m),
            Err(e) => {
                self.failure = Some(GrammarError::failed(llg_message(e)));
                None
            }
        }
    }
}

impl LogitProcessor for GrammarMask {
    fn apply(&mut self, c: &mut Candidates) {
        match self.allowed() {
            Some(mask) => c.ban_unless(|id| mask.is_allowed(id)),
            None => {
                let eos = &self.eos;
                c.ban_unless(|id| eos.contains(&id));
            }
        }
    }

    fn accept(&mut self, token: u32) {
        self.next = None;
        if self.failure.is_some() || self.matcher.is_stopped() {
            return;
        }
        if let Err(e) = self.matcher.consume_token(token) {
            self.failure = Some(GrammarError::failed(format!("token {token} does not fit the grammar: {}", llg_message(e))));
        }
    }

    fn reset(&mut self) {
        self.next = None;
        self.failure = self.matcher.reset().err().map(|e| GrammarError::failed(llg_message(e)));
    }

    fn failure(&self) -> Option<String> {
        self.failure.as_ref().map(|e| e.message.clone())
    }
}
