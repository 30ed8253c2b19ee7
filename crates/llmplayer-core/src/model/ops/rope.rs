//! Rotary position embedding exactly as ggml's CPU `rope_ext` computes it (ops.cpp):
//! theta_i = p * theta_scale^i by repeated f32 multiplication, optional frequency factors
//! (Llama-3 `rope_freqs`, LongRoPE), linear scaling, YaRN ramp and magnitude factor.
//! A per-position cache holds (cos, sin) pairs shared by every head and layer.

use super::expf::fma;
use super::glibc::{cosf, logf, powf, sinf};
use crate::model::hparams::{HParams, RopeKind};

/// Rope parameters of one session (LongRoPE factors depend on the session's context).
#[derive(Clone, Debug)]
pub struct Rope {
    pub n_rot: usize,
    pub kind: RopeKind,
    theta_scale: f32,
    freq_scale: f32,
    ext_factor: f32,
    /// Magnitude multiplying cos and sin (`attn_factor` in ggml).
    mscale: f32,
    corr_dims: [f32; 2],
    /// Divisors of each pair's frequency (`n_rot / 2` values).
    factors: Option<Vec<f32>>,
}

/// ggml_rope_yarn_corr_dim: the dimension where `n_rot` rotations fit in `n_ctx_orig`.
fn corr_dim(n_dims: usize, n_ctx_orig: usize, n_rot: f32, base: f32) -> f32 {
    n_dims as f32 * logf(n_ctx_orig as f32 / (n_rot * 2.0 * std::f32::consts::PI)) / (2.0 * logf(base))
}

impl Rope {
    pub fn new(hp: &HParams, factors: Option<&[f32]>) -> Rope {
        Rope::with_base(hp, hp.n_rot, factors, hp.rope_freq_base, hp.effective_freq_scale(), hp.rope_ext_and_attn_factor())
    }

    /// The rope of the windowed layers where they have their own (`HParams::rope_swa`,
    /// llama.cpp `get_rope_freq_base/scale`), else None. It rotates `HParams::n_rot_swa`
    /// dims, and takes the factors unless they are the other layers' only.
    pub fn for_windows(hp: &HParams, factors: Option<&[f32]>) -> Option<Rope> {
        let factors = factors.filter(|_| !hp.rope_factors_full_only);
        hp.rope_swa.map(|w| {
            let ext_and_mag = if w.no_yarn { (0.0, 1.0) } else { hp.rope_ext_and_attn_factor() };
            Rope::with_base(hp, hp.n_rot_swa(), factors, w.base, w.freq_scale, ext_and_mag)
        })
    }

    fn with_base(hp: &HParams, n_rot: usize, factors: Option<&[f32]>, base: f32, freq_scale: f32, (ext_factor, mscale): (f32, f32)) -> Rope {
        let start = corr_dim(n_rot, hp.n_ctx_orig_yarn, hp.yarn_beta_fast, base).floor();
        let end = corr_dim(n_rot, hp.n_ctx_orig_yarn, hp.yarn_beta_slow, base).ceil();
        Rope {
            n_rot,
            kind: hp.rope_kind,
            theta_scale: powf(base, -2.0 / n_rot as f32),
            freq_scale,
            ext_factor,
            mscale,
            corr_dims: [start.max(0.0), end.min(n_rot as f32 - 1.0)],
            factors: factors.map(|f| f[..n_rot / 2].to_vec()),
        }
    }

    /// Writes (cos, sin) of each rotary pair for position `pos`: `cache[2i]`, `cache[2i+1]`.
    pub fn fill(&self, pos: usize, cache: &mut [f32]) {
        let mut theta = pos as f32;
        for (i, cs) in cache[..self.n_rot].chunks_exact_mut(2).enumerate() {
            let ff = self.factors.as_ref().map_or(1.0, |f| f[i]);
            let theta_extrap = theta / ff;
            let theta_interp = self.freq_scale * theta_extrap;
            let mut th = theta_interp;
            let mut mscale = self.mscale;
            if self.ext_factor != 0.0 {
                let [low, high] = self.corr_dims;
                let y = (i as f32 - low) / (high - low).max(0.001);
                let ramp_mix = (1.0 - y.clamp(0.0, 1.0)) * self.ext_factor;
                // Fused as the reference build contracts it (checked on deepseek2's YaRN ramp).
                th = fma(theta_interp, 1.0 - ramp_mix, theta_extrap * ramp_mix);
                mscale *= 1.0 + 0.1 * logf(1.0 / self.freq_scale);
            }
            // glibc's cosf / sinf, not this platform's (see `glibc`).
            cs[0] = cosf(th) * mscale;
            cs[1] = sinf(th) * mscale;
            theta *= self.theta_scale;
        }
    }

    /// Rotates the first `n_rot` dims of one head in place with a cache from [`Rope::fill`]:
    /// `x0 cos - x1 sin`, `x0 sin + x1 cos` with the first product fused, as the reference
    /// build of ggml's scalar `rotate_pairs` contracts them (checked bit for bit on SmolLM2's
    /// layer-0 queries; unfused, 15% of the values are one ulp apart).
    #[inline(always)]
    pub fn apply(&self, cache: &[f32], head: &mut [f32]) {
        let half = self.n_rot / 2;
        match self.kind {
            RopeKind::Norm => {
                for (x, cs) in head[..self.n_rot].chunks_exact_mut(2).zip(cache.chunks_exact(2)) {
                    let (x0, x1) = (x[0], x[1]);
                    x[0] = fma(x0, cs[0], -(x1 * cs[1]));
                    x[1] = fma(x0, cs[1], x1 * cs[0]);
                }
            }
            RopeKind::Neox => {
                let (a, b) = head[..self.n_rot].split_at_mut(half);
                for ((x0, x1), cs) in a.iter_mut().zip(b.iter_mut()).zip(cache.chunks_exact(2)) {
                    let (v0, v1) = (*x0, *x1);
                    *x0 = fma(v0, cs[0], -(v1 * cs[1]));
                    *x1 = fma(v0, cs[1], v1 * cs[0]);
                }
            }
        }
    }

    /// Rotates every `head_dim`-wide head of each row of `x` (`n_tok` rows of `row` floats),
    /// row `t` with the cache slice `caches[t * n_rot..]`.
    pub fn apply_rows(&self, caches: &[f32], x: &mut [f32], row: usize, head_dim: usize) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("fma") {
                // SAFETY: the CPU has FMA (checked just above).
                return unsafe { self.apply_rows_fma(caches, x, row, head_dim) };
            }
        }
        self.apply_rows_any(caches, x, row, head_dim)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "fma")]
    unsafe fn apply_rows_fma(&self, caches: &[f32], x: &mut [f32], row: usize, head_dim: usize) {
        self.apply_rows_any(caches, x, row, head_dim)
    }

    #[inline(always)]
    fn apply_rows_any(&self, caches: &[f32], x: &mut [f32], row: usize, head_dim: usize) {
        // A file may say `rope.dimension_count` 0: nothing rotates (as in llama.cpp).
        if self.n_rot == 0 {
            return;
        }
        for (xr, cache) in x.chunks_exact_mut(row).zip(caches.chunks_exact(self.n_rot)) {
            for head in xr.chunks_exact_mut(head_dim) {
                self.apply(cache, head);
            }
        }
    }
}
