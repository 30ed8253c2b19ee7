//! The KV cache and its element type (llama.cpp's `-ctk` / `-ctv`, one type for both here).
//!
//! * `f32`: K rows (position-major) and V transposed (dimension-major, ggml's `v_trans`) in
//!   f32. The reference: llama.cpp's fixture logits were made with an f32 cache.
//! * `f16`: the same layouts in IEEE half (round to nearest even). Attention reproduces
//!   llama.cpp's non-flash CPU path for an F16 cache: q and the softmax probabilities are
//!   rounded to f16 before the dot products (F16's `vec_dot_type` is F16).
//! * `q8_0`: K rows and V rows (both position-major: V is *not* transposed) as Q8_0 blocks of
//!   32 along each head, so both head sizes must be multiples of 32. See
//!   [`attention`](super::ops::attention) for how this relates to llama.cpp, which only
//!   accepts a quantized V cache with flash attention.
//!
//! A sliding-window layer (`HParams::window`) holds only the positions its queries can still
//! see: a run `base..` of at most [`window_cells`] rows, whose oldest rows are dropped by
//! moving the needed ones to the front when a batch would not fit (every ~512 positions; a
//! ring would split the keys in two runs and change the order of every sum). `base` stays a
//! multiple of 64, so attention's sums see their lanes and flash tiles where a full cache
//! puts them and the results are the full cache's bit for bit (masked keys add exact zeros).

use super::hparams::HParams;
use super::ops::attention::KvView;
use super::session::DEFAULT_UBATCH;
use super::ModelError;
use crate::quant::float::{f16_to_f32, f32_to_f16};
use crate::quant::{quantize_row, row_bytes};
use crate::GgmlType;

/// Element type of a session's KV cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum KvType {
    /// The default. f16 would be the default if it kept SmolLM2-135M Q4_1's perplexity within
    /// 0.05% of f32 on `gpl-3.0.txt` at context 512; it moved it by -0.065% (-0.01% and
    /// -0.02% at 256 and 1024: likely that model's chaotic sensitivity, but over the bar;
    /// bench/README.md, "KV cache types"). f32 is also what llama.cpp's fixture references
    /// were made with.
    #[default]
    F32,
    F16,
    Q8_0,
}

impl KvType {
    pub const ALL: [KvType; 3] = [KvType::F32, KvType::F16, KvType::Q8_0];

    /// The name the SDK, CLI and server use (`f32`, `f16`, `q8_0`).
    pub fn name(self) -> &'static str {
        match self {
            KvType::F32 => "f32",
            KvType::F16 => "f16",
            KvType::Q8_0 => "q8_0",
        }
    }

    /// Parses a name; the only place the bindings' strings are validated.
    pub fn parse(s: &str) -> Result<KvType, ModelError> {
        KvType::ALL.into_iter().find(|t| t.name() == s).ok_or_else(|| ModelError::KvTypeUnsupported {
            kv_type: s.to_string(),
            reason: "expected one of f32, f16, q8_0".into(),
        })
    }

    fn ggml(self) -> GgmlType {
        match self {
            KvType::F32 => GgmlType::F32,
            KvType::F16 => GgmlType::F16,
            KvType::Q8_0 => GgmlType::Q8_0,
        }
    }

    /// Whether a model's heads can be stored in this type: Q8_0 blocks of 32 must not
    /// straddle two heads (each head's dot products start on a block).
    pub fn check(self, hp: &HParams) -> Result<(), ModelError> {
        if self == KvType::Q8_0 && hp.kv_latent() {
            return Err(ModelError::KvTypeUnsupported {
                kv_type: self.name().into(),
                reason: "a multi-head latent attention cache is f32 or f16 (its values are read as a prefix of its keys)".into(),
            });
        }
        let swa = hp.swa_heads.map_or((0, 0), |s| (s.head_dim_k, s.head_dim_v));
        if self == KvType::Q8_0 && [hp.head_dim_k, hp.head_dim_v, swa.0, swa.1].iter().any(|d| d % 32 != 0) {
            return Err(ModelError::KvTypeUnsupported {
                kv_type: self.name().into(),
                reason: format!(
                    "head sizes {} (K) and {} (V) must be multiples of 32 for Q8_0 blocks",
                    hp.head_dim_k, hp.head_dim_v
                ),
            });
        }
        Ok(())
    }

    /// Bytes of a cache row of `n` elements.
    pub fn row_bytes(self, n: usize) -> usize {
        row_bytes(self.ggml(), n)
    }

    /// Bytes one position takes in layer `il`'s cache (K and V; none where it reuses another
    /// layer's).
    pub fn layer_bytes_per_token(self, hp: &HParams, il: usize) -> usize {
        if hp.kv_reuse[il].is_some() {
            return 0;
        }
        self.row_bytes(hp.n_embd_k_gqa(il)) + self.row_bytes(hp.n_embd_v_cache(il))
    }

    /// Bytes one position takes in the cache, over all layers (K and V); windowed layers hold
    /// at most [`window_cells`] positions of theirs.
    pub fn bytes_per_token(self, hp: &HParams) -> usize {
        (0..hp.n_layer).map(|il| self.layer_bytes_per_token(hp, il)).sum()
    }
}

impl std::fmt::Display for KvType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Alignment of a windowed layer's first held position (flash attention's tile, a multiple
/// of every sum's lane count).
const BASE_ALIGN: usize = 64;

/// Rows a layer with sliding window `window` keeps in a context of `n_ctx` positions: the
/// window before a batch's first query, up to 63 more for alignment, and the batch.
pub fn window_cells(window: usize, n_ctx: usize) -> usize {
    (window + DEFAULT_UBATCH + BASE_ALIGN - 1).next_multiple_of(BASE_ALIGN).min(n_ctx)
}

/// Per-layer K and V of one sequence: `cells[il]` rows per layer holding positions
/// `base[il]..`, at most `cap[il]` (n_ctx, or fewer for a windowed layer). A session's cache is
/// allocated whole at creation; a batch scheduler's starts empty and grows to what a request
/// reserves ([`KvCache::reserve`]), so idle sequences cost no memory.
pub(crate) struct KvCache {
    pub ty: KvType,
    /// (n_layer,) rows allocated per layer
    cells: Vec<usize>,
    /// (n_layer,) the most rows each layer ever needs
    cap: Vec<usize>,
    /// (n_layer,) K and V row widths (values)
    width: Vec<(usize, usize)>,
    /// (n_layer,) the position in row 0 (0 but for windowed layers), a multiple of 64
    base: Vec<usize>,
    /// (n_layer,) each layer's sliding window
    window: Vec<Option<usize>>,
    /// F32 only, per layer: K (cells, n_head_kv * head_dim_k) and V transposed
    /// (n_head_kv * head_dim_v, cells).
    k32: Vec<Vec<f32>>,
    v32: Vec<Vec<f32>>,
    /// F16 and Q8_0, per layer, as bytes: K (cells, row_bytes(n_head_kv * head_dim_k)); V
    /// transposed (n_head_kv * head_dim_v, cells) f16, or (cells, row_bytes(n_head_kv *
    /// head_dim_v)) Q8_0 rows.
    kb: Vec<Vec<u8>>,
    vb: Vec<Vec<u8>>,
    /// F32 only: store values rounded to f16 (flash attention, which llama.cpp runs on an f16
    /// copy of an f32 cache; the f32 storage saves widening them at every read).
    pub round_f16: bool,
    /// MLA latents: K rows only, V is the first `head_dim_v` values of each (no V stored).
    latent: bool,
}

impl KvCache {
    /// The type must have passed [`KvType::check`] for `hp`. `swa_full` keeps every position
    /// in windowed layers too (llama.cpp's `--swa-full`). `lazy`: allocate no rows yet.
    pub fn new(hp: &HParams, n_ctx: usize, ty: KvType, swa_full: bool, lazy: bool) -> KvCache {
        let width = (0..hp.n_layer).map(|il| (hp.n_embd_k_gqa(il), hp.n_embd_v_cache(il))).collect();
        let window: Vec<Option<usize>> = (0..hp.n_layer).map(|il| hp.window(il).filter(|_| !swa_full)).collect();
        // A layer that reuses another's cache holds no rows.
        let cap: Vec<usize> = (0..hp.n_layer)
            .map(|il| if hp.kv_reuse[il].is_some() { 0 } else { window[il].map_or(n_ctx, |w| window_cells(w, n_ctx)) })
            .collect();
        let n = hp.n_layer;
        let (f, b) = if ty == KvType::F32 { (n, 0) } else { (0, n) };
        let mut c = KvCache {
            ty,
            cells: vec![0; n],
            cap: cap.clone(),
            width,
            base: vec![0; n],
            window,
            k32: vec![vec![]; f],
            v32: vec![vec![]; f],
            kb: vec![vec![]; b],
            vb: vec![vec![]; b],
            round_f16: false,
            latent: hp.kv_latent(),
        };
        if !lazy {
            (0..n).for_each(|il| c.grow(il, cap[il]));
        }
        c
    }

    /// Bytes of layer `il`'s K and V rows (a latent cache has no V rows).
    fn row_pair(&self, il: usize) -> (usize, usize) {
        let (nk, nv) = self.width[il];
        (self.ty.row_bytes(nk), if self.latent { 0 } else { self.ty.row_bytes(nv) })
    }

    /// Bytes the cache holds now.
    pub fn bytes(&self) -> usize {
        (0..self.cells.len()).map(|il| self.cells[il] * (self.row_pair(il).0 + self.row_pair(il).1)).sum()
    }

    /// Reallocates layer `il` to `rows` rows (more than it has), keeping what it holds. V
    /// transposed is dimension-major with the row count as its stride, so each dimension's
    /// run moves to its new place.
    fn grow(&mut self, il: usize, rows: usize) {
        let old = self.cells[il];
        if rows <= old {
            return;
        }
        let (nk, nv) = self.width[il];
        match self.ty {
            KvType::F32 => {
                self.k32[il].resize(rows * nk, 0.0);
                if !self.latent {
                    let mut v = vec![0.0f32; rows * nv];
                    for (dst, src) in v.chunks_exact_mut(rows).zip(self.v32[il].chunks_exact(old.max(1))) {
                        dst[..old].copy_from_slice(&src[..old]);
                    }
                    self.v32[il] = v;
                }
            }
            KvType::F16 => {
                self.kb[il].resize(rows * nk * 2, 0);
                if !self.latent {
                    let mut v = vec![0u8; rows * nv * 2];
                    for (dst, src) in v.chunks_exact_mut(2 * rows).zip(self.vb[il].chunks_exact(2 * old.max(1))) {
                        dst[..2 * old].copy_from_slice(&src[..2 * old]);
                    }
                    self.vb[il] = v;
                }
            }
            KvType::Q8_0 => {
                let (rk, rv) = self.row_pair(il);
                self.kb[il].resize(rows * rk, 0);
                self.vb[il].resize(rows * rv, 0);
            }
        }
        self.cells[il] = rows;
    }

    /// Allocates room for positions `0..n` in every layer (a windowed layer: at most its
    /// window's rows), so storing them never allocates.
    pub fn reserve(&mut self, n: usize) {
        for il in 0..self.cells.len() {
            self.grow(il, n.min(self.cap[il]));
        }
    }

    /// Rows allocated in the layer that holds the most (positions the cache has room for).
    pub fn reserved(&self) -> usize {
        self.cells.iter().copied().max().unwrap_or(0)
    }

    /// Forgets every position and frees the rows.
    pub fn release(&mut self) {
        self.clear();
        self.cells.fill(0);
        for v in self.k32.iter_mut().chain(&mut self.v32) {
            *v = Vec::new();
        }
        for v in self.kb.iter_mut().chain(&mut self.vb) {
            *v = Vec::new();
        }
    }

    /// Whether positions `0..n` of `other` can be copied here: every layer holds them from
    /// row 0 in both, and this cache has the rows.
    pub fn can_copy_from(&self, other: &KvCache, n: usize) -> bool {
        self.ty == other.ty
            && self.round_f16 == other.round_f16
            && self.base.iter().chain(&other.base).all(|&b| b == 0)
            && (0..self.cells.len()).all(|il| self.cap[il] == 0 || (self.cells[il] >= n && other.cells[il] >= n))
    }

    /// Copies positions `0..n` of every layer from `other` (checked by
    /// [`KvCache::can_copy_from`]): the same bytes a forward pass would have stored.
    pub fn copy_prefix_from(&mut self, other: &KvCache, n: usize) {
        debug_assert!(self.can_copy_from(other, n));
        for il in (0..self.cells.len()).filter(|&il| self.cap[il] > 0) {
            let (nk, nv) = self.width[il];
            let (dst_rows, src_rows) = (self.cells[il], other.cells[il]);
            match self.ty {
                KvType::F32 => {
                    self.k32[il][..n * nk].copy_from_slice(&other.k32[il][..n * nk]);
                    if !self.latent {
                        for (d, s) in self.v32[il].chunks_exact_mut(dst_rows).zip(other.v32[il].chunks_exact(src_rows)).take(nv) {
                            d[..n].copy_from_slice(&s[..n]);
                        }
                    }
                }
                KvType::F16 => {
                    self.kb[il][..2 * n * nk].copy_from_slice(&other.kb[il][..2 * n * nk]);
                    if !self.latent {
                        for (d, s) in self.vb[il].chunks_exact_mut(2 * dst_rows).zip(other.vb[il].chunks_exact(2 * src_rows)).take(nv) {
                            d[..2 * n].copy_from_slice(&s[..2 * n]);
                        }
                    }
                }
                KvType::Q8_0 => {
                    let (rk, rv) = self.row_pair(il);
                    self.kb[il][..n * rk].copy_from_slice(&other.kb[il][..n * rk]);
                    self.vb[il][..n * rv].copy_from_slice(&other.vb[il][..n * rv]);
                }
            }
        }
    }

    /// The position layer `il`'s row 0 holds (attention indexes the view from there).
    pub fn base(&self, il: usize) -> usize {
        self.base[il]
    }

    /// The longest prefix of at most `n` positions every layer can continue from: all of it,
    /// unless a windowed layer has dropped keys that position `n`'s query would see; then
    /// only the empty one.
    pub fn keepable(&self, n: usize) -> usize {
        let ok = self.window.iter().zip(&self.base).all(|(w, &b)| b == 0 || w.is_some_and(|w| (n + 1).saturating_sub(w) >= b));
        if ok { n } else { 0 }
    }

    /// Forgets every position (a windowed layer starts again from row 0).
    pub fn clear(&mut self) {
        self.base.fill(0);
    }

    /// Makes room in layer `il` for positions `pos0..pos0 + n`: when they would run past its
    /// rows, the rows still visible from position `pos0` on (aligned down) move to the front.
    fn make_room(&mut self, il: usize, pos0: usize, n: usize, n_k: usize, n_v: usize) {
        if pos0 == 0 {
            self.base[il] = 0;
        }
        let base = self.base[il];
        debug_assert!(pos0 >= base);
        if pos0 + n - base > self.cells[il] && self.cells[il] < self.cap[il] {
            // Not reserved (a lazily allocated cache): grow, doubling.
            let want = (pos0 + n - base).max(2 * self.cells[il]).min(self.cap[il]);
            self.grow(il, want);
        }
        let cells = self.cells[il];
        if pos0 + n - base <= cells {
            return;
        }
        let w = self.window[il].expect("only a windowed layer runs out of rows");
        let new_base = (pos0 + 1).saturating_sub(w) / BASE_ALIGN * BASE_ALIGN;
        assert!(new_base >= base && pos0 + n - new_base <= cells, "window cache: keepable() allows no such position");
        let (from, len) = (new_base - base, pos0 - new_base);
        match self.ty {
            KvType::F32 => {
                self.k32[il].copy_within(from * n_k..(from + len) * n_k, 0);
                for row in self.v32[il].chunks_exact_mut(cells) {
                    row.copy_within(from..from + len, 0);
                }
            }
            KvType::F16 => {
                self.kb[il].copy_within(2 * from * n_k..2 * (from + len) * n_k, 0);
                for row in self.vb[il].chunks_exact_mut(2 * cells) {
                    row.copy_within(2 * from..2 * (from + len), 0);
                }
            }
            KvType::Q8_0 => {
                let (rk, rv) = (self.ty.row_bytes(n_k), self.ty.row_bytes(n_v));
                self.kb[il].copy_within(from * rk..(from + len) * rk, 0);
                self.vb[il].copy_within(from * rv..(from + len) * rv, 0);
            }
        }
        self.base[il] = new_base;
    }

    /// Writes the batch's keys `k` (n, n_k) and values `v` (n, n_v) at positions `pos0..`
    /// (a latent cache takes no values: `v` empty).
    pub fn store(&mut self, il: usize, pos0: usize, k: &[f32], v: &[f32], n_k: usize, n_v: usize) {
        let n = k.len() / n_k;
        debug_assert!(!self.latent || v.is_empty());
        // A latent cache stores nothing for V (no rows to iterate; Q8_0 is refused for it).
        let n_v = n_v.max(1);
        self.make_room(il, pos0, n, n_k, n_v);
        // Row indices from here on: `n_ctx` is the layer's row count.
        let (pos0, n_ctx) = (pos0 - self.base[il], self.cells[il]);
        match self.ty {
            KvType::F32 => {
                let r = |x: f32| if self.round_f16 { f16_to_f32(f32_to_f16(x)) } else { x };
                let kd = &mut self.k32[il][pos0 * n_k..(pos0 + n) * n_k];
                kd.iter_mut().zip(k).for_each(|(d, &x)| *d = r(x));
                let vt = &mut self.v32[il];
                for (t, vr) in v.chunks_exact(n_v).enumerate() {
                    for (dim, &val) in vr.iter().enumerate() {
                        vt[dim * n_ctx + pos0 + t] = r(val);
                    }
                }
            }
            KvType::F16 => {
                quantize_row(GgmlType::F16, k, &mut self.kb[il][pos0 * n_k * 2..(pos0 + n) * n_k * 2]);
                let vt = &mut self.vb[il];
                for (t, vr) in v.chunks_exact(n_v).enumerate() {
                    for (dim, &val) in vr.iter().enumerate() {
                        let at = 2 * (dim * n_ctx + pos0 + t);
                        vt[at..at + 2].copy_from_slice(&f32_to_f16(val).to_le_bytes());
                    }
                }
            }
            KvType::Q8_0 => {
                // Rows are whole blocks (n_k, n_v multiples of 32), so the batch is one call.
                let (rk, rv) = (self.ty.row_bytes(n_k), self.ty.row_bytes(n_v));
                quantize_row(GgmlType::Q8_0, k, &mut self.kb[il][pos0 * rk..(pos0 + n) * rk]);
                quantize_row(GgmlType::Q8_0, v, &mut self.vb[il][pos0 * rv..(pos0 + n) * rv]);
            }
        }
    }

    /// Layer `il` as attention reads it.
    pub fn view(&self, il: usize) -> KvView<'_> {
        if self.latent {
            return match self.ty {
                KvType::F32 => KvView::LatentF32 { k: &self.k32[il] },
                KvType::F16 => KvView::LatentF16 { k: &self.kb[il] },
                KvType::Q8_0 => unreachable!("KvType::check refuses Q8_0 for latents"),
            };
        }
        match self.ty {
            KvType::F32 => KvView::F32 { k: &self.k32[il], v_t: &self.v32[il] },
            KvType::F16 => KvView::F16 { k: &self.kb[il], v_t: &self.vb[il] },
            KvType::Q8_0 => KvView::Q8_0 { k: &self.kb[il], v: &self.vb[il] },
        }
    }
}
