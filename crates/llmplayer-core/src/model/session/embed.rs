//! Pooled embeddings: one vector for a token list, pooled from the hidden states after the
//! output norm, before the LM head (llama.cpp's `t_embd`, `build_pooling` in
//! `llama-graph.cpp`). Attention stays causal for the decoder architectures this engine runs,
//! as llama.cpp keeps it for them (`hparams.causal_attn`); no encoder (BERT-like) architecture
//! is supported here, so none pools bidirectionally.
//!
//! The head is never computed, and only the rows a pooling needs leave the last layer (mean:
//! every row; cls: the first; last: the last), as llama.cpp's `inp_out_ids` does.

use super::Session;
use crate::model::{HParams, ModelError};

/// How positions combine into one vector (llama.cpp `llama_pooling_type` 1..=3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pooling {
    /// The average over every position (llama.cpp multiplies each row by 1/n and sums, in
    /// the order of its SIMD dot product: see [`Pooling::fold`]).
    Mean,
    /// The first position (BERT's `[CLS]`).
    Cls,
    /// The last position (what a causal model has read everything by).
    Last,
}

impl Pooling {
    pub fn name(self) -> &'static str {
        match self {
            Pooling::Mean => "mean",
            Pooling::Cls => "cls",
            Pooling::Last => "last",
        }
    }

    /// `mean`, `cls` or `last`.
    pub fn parse(name: &str) -> Result<Pooling, ModelError> {
        match name {
            "mean" => Ok(Pooling::Mean),
            "cls" => Ok(Pooling::Cls),
            "last" => Ok(Pooling::Last),
            other => Err(ModelError::PoolingUnsupported(format!("\"{other}\": expected mean, cls or last"))),
        }
    }

    /// The model's own pooling, from `{arch}.pooling_type`: mean when the key is absent or
    /// says `none` (0: per-token vectors, which cannot be one vector; mean is what a caller
    /// asking for one gets), cls or last as it says. `rank` (4) needs a classifier head this
    /// engine does not run, so it is refused rather than answered with something else.
    pub fn for_model(hp: &HParams) -> Result<Pooling, ModelError> {
        match hp.pooling_type {
            None | Some(0) | Some(1) => Ok(Pooling::Mean),
            Some(2) => Ok(Pooling::Cls),
            Some(3) => Ok(Pooling::Last),
            Some(4) => Err(ModelError::PoolingUnsupported("rank, the model's pooling_type, needs a reranker's classifier head, which this engine does not run".into())),
            Some(n) => Err(ModelError::PoolingUnsupported(format!("{n}, the model's pooling_type, is not one llama.cpp defines"))),
        }
    }

    /// Whether position `i` of `n` is pooled.
    fn wants(self, i: usize, n: usize) -> bool {
        match self {
            Pooling::Mean => true,
            Pooling::Cls => i == 0,
            Pooling::Last => i + 1 == n,
        }
    }

    /// Accumulator floats per embedding dimension: the pooled value, then (mean) the 32 lanes
    /// of ggml's SIMD dot product.
    pub(super) const ACC: usize = 1 + LANES;

    /// Adds one forward pass's output `rows` ((k, n_embd), k ≥ 0; the first is position `t0`)
    /// of a sequence of `n` positions into `acc` ((ACC, n_embd): pooled values, then lanes),
    /// which starts at zero; [`Pooling::finish`] completes it.
    ///
    /// Mean is rounded as llama.cpp computes it: `ggml_mul_mat` of the transposed states with
    /// a column of `1/n` (`build_pooling`), i.e. per dimension `ggml_vec_dot_f32` over the
    /// positions (no llamafile sgemm for a single column), whose AVX2 form fmas the first
    /// `n & !31` positions into 4 × 8 lanes, reduces them pairwise, then adds the rest's
    /// products in order (multiplied, then added: a GCC build's `sumf += x*y` loop is
    /// `vmulps` then one `vaddss` per lane). Measured against `llama-embedding` (built from the
    /// same llama.cpp) the result agrees to f32 rounding, not yet bit for bit: some components
    /// differ by an ulp (test/embeddings.test.ts); last and cls copy a state and are exact.
    pub(super) fn fold(self, acc: &mut [f32], rows: &[f32], t0: usize, n: usize) {
        let d = acc.len() / Self::ACC;
        let (out, lanes) = acc.split_at_mut(d);
        let inv = 1.0 / n as f32;
        let np = n & !(LANES - 1);
        for (k, r) in rows.chunks_exact(d).enumerate() {
            let t = t0 + k;
            match self {
                Pooling::Mean if t < np => {
                    let lane = t % LANES;
                    lanes.chunks_exact_mut(LANES).zip(r).for_each(|(l, &x)| l[lane] = x.mul_add(inv, l[lane]));
                }
                Pooling::Mean => {
                    if t == np {
                        reduce_lanes(out, lanes);
                    }
                    out.iter_mut().zip(r).for_each(|(a, &x)| *a += x * inv);
                }
                Pooling::Cls | Pooling::Last => out.copy_from_slice(r),
            }
        }
    }

    /// Completes `acc` after the last [`Pooling::fold`]: the pooled vector is `acc[..n_embd]`.
    pub(super) fn finish(self, acc: &mut [f32], n: usize) {
        let d = acc.len() / Self::ACC;
        if self == Pooling::Mean && n % LANES == 0 {
            let (out, lanes) = acc.split_at_mut(d);
            reduce_lanes(out, lanes);
        }
    }
}

/// ggml's AVX2 `GGML_F32_STEP`: 4 vectors of 8 lanes.
const LANES: usize = 32;

/// `GGML_F32x8_REDUCE` of each dimension's 32 lanes (4 vectors v0..v3 of 8) into `out`:
/// v0 + v2, v1 + v3, then their sum, then the two halves, then `_mm_hadd_ps` twice.
fn reduce_lanes(out: &mut [f32], lanes: &[f32]) {
    for (o, l) in out.iter_mut().zip(lanes.chunks_exact(LANES)) {
        let v = |i: usize| (l[i] + l[16 + i]) + (l[8 + i] + l[24 + i]);
        let t: [f32; 4] = std::array::from_fn(|r| v(r) + v(r + 4));
        *o = (t[0] + t[1]) + (t[2] + t[3]);
    }
}

impl Session<'_> {
    /// The pooled embedding of `tokens` (n_embd,): evaluated as sequence 0's whole context
    /// from position 0, whatever it held before (nothing is reused, so the vector never
    /// depends on the session's past). Afterwards sequence 0 holds `tokens` and there are no
    /// logits. Grows a buffer of `(n_ubatch + 1) * n_embd` floats on the first call.
    pub fn embed(&mut self, tokens: &[u32], pooling: Pooling) -> Result<&[f32], ModelError> {
        if tokens.is_empty() {
            return Err(ModelError::EmptyInput);
        }
        if tokens.len() > self.n_ctx {
            return Err(ModelError::ContextFull { n_tokens: tokens.len(), n_ctx: self.n_ctx });
        }
        self.check_tokens(tokens)?;
        self.mem.truncate(0, 0)?;
        self.n_reused = 0;
        let d = self.model.get().hp.n_embd;
        let need = (self.n_ubatch + Pooling::ACC) * d;
        if self.embd.len() < need {
            self.embd.resize(need, 0.0);
        }
        self.embd[..Pooling::ACC * d].fill(0.0);

        let mut batch = std::mem::take(&mut self.batch);
        batch.clear();
        for (i, &t) in tokens.iter().enumerate() {
            batch.push(t, i, 0, pooling.wants(i, tokens.len()));
        }
        self.run_with(&batch, Some(pooling));
        self.batch = batch;
        pooling.finish(&mut self.embd[..Pooling::ACC * d], tokens.len());
        Ok(&self.embd[..d])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Model;
    use crate::GgufFile;
    // The session tests' fixture loader (skip when missing, a panic under CI=true).
    use super::super::tests::fixture_named;

    /// Each pooling is what it says over the normed hidden states, which are computed the same
    /// whatever the batch split: last = the last row of a pass that outputs every row, cls =
    /// the first, mean = their average; and a session's past never leaks into the vector.
    #[test]
    fn poolings_agree_with_every_row_and_ignore_the_past() {
        let Some(bytes) = fixture_named("llama") else { return };
        let f = GgufFile::parse(&bytes).unwrap();
        let model = Model::load(&f).unwrap();
        let d = model.hp.n_embd;
        let nv = model.hp.n_vocab as u32;
        let tokens: Vec<u32> = (0..37u32).map(|i| (i * 7919 + 5) % nv).collect();
        let mut s = model.new_session(64);
        let last = s.embed(&tokens, Pooling::Last).unwrap().to_vec();
        let cls = s.embed(&tokens, Pooling::Cls).unwrap().to_vec();
        let mean = s.embed(&tokens, Pooling::Mean).unwrap().to_vec();
        assert!(s.logits().is_empty());
        assert_eq!(Pooling::for_model(&model.hp), Ok(Pooling::Mean));

        // Every row, by small ubatches of a fresh session (mean pooling, one row at a time).
        let mut rows = Vec::new();
        for n in [1, tokens.len()] {
            let mut t = model.new_session(64);
            t.set_n_ubatch(5);
            t.embed(&tokens[..n], Pooling::Mean).unwrap();
            rows.push(t.embd[..d].to_vec());
        }
        let close = |a: &[f32], b: &[f32], tol: f32| a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol * (1.0 + y.abs()));
        assert!(close(&rows[0], &cls, 1e-5), "cls is the first position's state");
        assert_eq!(rows[1], mean, "mean depends on the batch split");
        let fresh_last = model.new_session(64).embed(&tokens, Pooling::Last).unwrap().to_vec();
        assert_eq!(last, fresh_last, "the session's past leaked into the vector");
        assert!(mean.iter().zip(&last).any(|(a, b)| a != b));
        // A single token: every pooling is that token's state.
        let one = &tokens[..1];
        let a = s.embed(one, Pooling::Mean).unwrap().to_vec();
        assert!(close(&a, s.embed(one, Pooling::Last).unwrap(), 1e-6));
        assert!(close(&a, &cls, 1e-5));
        assert_eq!(s.embed(&[], Pooling::Mean).unwrap_err(), ModelError::EmptyInput);
        assert_eq!(s.embed(&[nv], Pooling::Mean).unwrap_err(), ModelError::BadToken { token: nv, n_vocab: nv as usize });
        let long = vec![1u32; 65];
        assert_eq!(s.embed(&long, Pooling::Mean).unwrap_err(), ModelError::ContextFull { n_tokens: 65, n_ctx: 64 });
    }

    #[test]
    fn pooling_names_and_the_model_key() {
        for p in [Pooling::Mean, Pooling::Cls, Pooling::Last] {
            assert_eq!(Pooling::parse(p.name()), Ok(p));
        }
        assert!(Pooling::parse("rank").is_err());
        assert!(Pooling::parse("none").is_err());
    }

    /// `{arch}.pooling_type` chooses the default: absent or none → mean, 2 → cls, 3 → last;
    /// rank and unknown values are refused.
    #[test]
    fn the_model_key_picks_the_default() {
        let Some(bytes) = fixture_named("llama") else { return };
        let f = GgufFile::parse(&bytes).unwrap();
        let model = Model::load(&f).unwrap();
        assert_eq!(model.hp.pooling_type, None);
        let mut hp = model.hp.clone();
        let got: Vec<_> = [None, Some(0), Some(1), Some(2), Some(3), Some(4), Some(9)]
            .into_iter()
            .map(|t| {
                hp.pooling_type = t;
                Pooling::for_model(&hp).ok()
            })
            .collect();
        use Pooling::*;
        assert_eq!(got, [Some(Mean), Some(Mean), Some(Mean), Some(Cls), Some(Last), None, None]);
    }
}
