//! The deterministic arithmetic every sampling stage shares: the total candidate order, the
//! logit cleaning, `exp`/`ln` from IEEE `+ - * /` only, and the integer RNG. Whatever feeds a
//! draw or a reported logprob goes through here, so x86_64 and wasm32 agree bit for bit.

use super::Candidate;

/// Total order as one integer, smaller = better: higher logit first, then lower id.
/// Logits are never NaN nor -0.0 here (see [`clean`]), so the bit trick is exact.
pub(crate) fn rank(c: &Candidate) -> u64 {
    let b = c.logit.to_bits();
    let ord = if b >> 31 == 1 { !b } else { b | 1 << 31 }; // monotone in the float value
    ((!ord as u64) << 32) | c.id as u64
}

/// NaN → -inf (never chosen), +inf → f32::MAX (keeps softmax finite), -0.0 → +0.0.
pub(crate) fn clean(x: f32) -> f32 {
    if x.is_nan() { f32::NEG_INFINITY } else { x.min(f32::MAX) + 0.0 }
}

/// Puts the `k` best candidates first, sorted; the rest in unspecified order.
pub(crate) fn sort_top(c: &mut [Candidate], k: usize) {
    let k = k.min(c.len());
    if k < c.len() && k > 0 {
        c.select_nth_unstable_by_key(k - 1, rank);
    }
    c[..k].sort_unstable_by_key(rank);
}

/// The largest logit: the first one when `sorted` (rank order), else a scan.
pub(crate) fn max_logit(c: &[Candidate], sorted: bool) -> f64 {
    if sorted {
        return c.first().map_or(f64::NEG_INFINITY, |x| x.logit as f64);
    }
    c.iter().fold(f32::NEG_INFINITY, |m, x| m.max(x.logit)) as f64
}

/// `e^x` from IEEE `+ - *` only, so identical on every target (unlike `f64::exp`).
/// Relative error ~1e-16 (Cody–Waite reduction, degree-13 Taylor). `x < -708` gives 0.
pub fn exp_det(x: f64) -> f64 {
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000); // fdlibm; k*LN2_HI is exact
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
    const C: [f64; 14] = {
        let mut c = [1.0; 14];
        let mut i = 1;
        while i < 14 {
            c[i] = c[i - 1] / i as f64;
            i += 1;
        }
        c
    };
    if x.is_nan() {
        return x;
    }
    if x < -708.0 {
        return 0.0;
    }
    if x > 709.0 {
        return f64::INFINITY;
    }
    const SHIFT: f64 = 6_755_399_441_055_744.0; // 1.5 * 2^52: (y + SHIFT) - SHIFT = round(y)
    let k = (x * std::f64::consts::LOG2_E + SHIFT) - SHIFT;
    let r = (x - k * LN2_HI) - k * LN2_LO; // |r| <= 0.3466
    let mut p = C[13];
    for &c in C[..13].iter().rev() {
        p = p * r + c;
    }
    p * f64::from_bits(((k as i64 + 1023) as u64) << 52) // k in [-1022, 1023]
}

/// `ln x` from IEEE `+ - * /` only, so identical on every target (unlike `f64::ln`, which is
/// the system libm natively and a Rust libm on wasm32). `x = 2^k m` with m in (√½, √2], then
/// `ln m = 2 atanh(s)`, `s = (m-1)/(m+1)`, |s| <= 0.1716, summed to s^23 (< 1e-17 left).
/// Relative error ~2e-16. 0 → -inf, negative or NaN → NaN, +inf → +inf.
pub fn ln_det(x: f64) -> f64 {
    const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
    const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
    if x.is_nan() || x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 {
        return f64::NEG_INFINITY;
    }
    if x == f64::INFINITY {
        return x;
    }
    let (x, mut k) = if x < f64::MIN_POSITIVE { (x * (1u64 << 54) as f64, -54i64) } else { (x, 0) };
    let bits = x.to_bits();
    k += ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000); // [1, 2)
    if m > std::f64::consts::SQRT_2 {
        m *= 0.5; // exact
        k += 1;
    }
    let s = (m - 1.0) / (m + 1.0); // m - 1 is exact (Sterbenz)
    let s2 = s * s;
    let mut p = 1.0 / 23.0;
    let mut n = 21.0;
    while n > 0.0 {
        p = p * s2 + 1.0 / n;
        n -= 2.0;
    }
    let k = k as f64;
    k * LN2_HI + (k * LN2_LO + 2.0 * s * p)
}

/// `log p(id)` under softmax(logits), in f64; for perplexity. Uses `f64::ln`, so not
/// bit-identical across targets (it does not feed any draw). Panics if `id` is out of range.
pub fn log_softmax_at(logits: &[f32], id: u32) -> f64 {
    let m = logits.iter().fold(f32::NEG_INFINITY, |m, &l| m.max(l)) as f64;
    let sum: f64 = logits.iter().map(|&l| exp_det(l as f64 - m)).sum();
    logits[id as usize] as f64 - m - sum.ln()
}

/// xoshiro256** seeded by splitmix64: integer-only, identical on every target.
#[derive(Clone, Debug)]
pub(crate) struct Rng([u64; 4]);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        let mut z = seed;
        let mut next = || {
            z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut x = z;
            x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            x ^ (x >> 31)
        };
        Rng([next(), next(), next(), next()])
    }

    fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let out = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        out
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}
