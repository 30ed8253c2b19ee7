//! The libm functions llama.cpp's CPU code calls, rounded as its reference build gets them
//! from glibc, whatever this platform's libm is.
//!
//! `sinf` / `cosf` (rope's tables), ported: as llama.cpp's reference build gets them from glibc (2.28 and later, x86_64
//! with FMA: the ARM optimized-routines algorithm, `sysdeps/ieee754/flt-32/s_sinf.c`, built
//! with `-mfma` so every `a + b * c` is one fused step). Rope's cos/sin tables come from it,
//! and glibc's results are not the correctly rounded ones (about 1% of rope's angles differ
//! by an ulp), so Rust's `f32::cos` gives other bits on every other libm: wasm32's (a musl
//! port), macOS's, Windows'. One flipped ulp in a rope table moved SmolLM2's WASM
//! perplexity by 0.2%.
//!
//! The method, in f64 throughout: |x| < pi/4 straight to the polynomials; |x| < 120 reduced
//! by one multiply-subtract of a rounded quadrant times pi/2; larger x by an exact integer
//! product with 4/pi to 192 bits. Then a degree-8 cosine or degree-7 sine polynomial, signs
//! and the cos/sin swap chosen by the quadrant. Constants from glibc's `s_sincosf_data.c`.

/// `f64::from_bits` of glibc's constants (hex floats in its source).
const HPI_INV: f64 = f64::from_bits(0x41645f306dc9c883); // 2/pi * 2^24
const HPI: f64 = f64::from_bits(0x3ff921fb54442d18); // pi/2
const PI63: f64 = f64::from_bits(0x3c1921fb54442d18); // 2pi * 2^-64
/// Cosine polynomial c0..c4 (c0 = 1) and sine polynomial s1..s3.
const C: [f64; 5] = [
    1.0,
    f64::from_bits(0xbfdffffffd0c621c),
    f64::from_bits(0x3fa55553e1068f19),
    f64::from_bits(0xbf56c087e89a359d),
    f64::from_bits(0x3ef99343027bf8c3),
];
const S: [f64; 3] = [f64::from_bits(0xbfc555545995a603), f64::from_bits(0x3f81107605230bc4), f64::from_bits(0xbf2994eb3774cf24)];
/// Sign of the sine in quadrants 0..3.
const SIGN: [f64; 4] = [1.0, -1.0, -1.0, 1.0];

/// 4/pi (equivalently 2/pi's hex digits a2f9836e...) to 192 bits, 8 new bits per 32-bit entry.
const INV_PIO4: [u32; 24] = [
    0xa2, 0xa2f9, 0xa2f983, 0xa2f9836e, 0xf9836e4e, 0x836e4e44, 0x6e4e4415, 0x4e441529, 0x441529fc, 0x1529fc27, 0x29fc2757, 0xfc2757d1,
    0x2757d1f5, 0x57d1f534, 0xd1f534dd, 0xf534ddc0, 0x34ddc0db, 0xddc0db62, 0xc0db6295, 0xdb629599, 0x6295993c, 0x95993c43, 0x993c4390, 0x3c439041,
];

/// `a + b * c`, one rounding (the FMA build's contraction).
#[inline(always)]
fn fma(b: f64, c: f64, a: f64) -> f64 {
    b.mul_add(c, a)
}

/// The exponent bits of `x` (glibc's `abstop12`).
#[inline(always)]
fn top12(x: f32) -> u32 {
    (x.to_bits() >> 20) & 0x7ff
}

/// The sine (`cos` false) or cosine polynomial at `x` (|x| <= pi/4), `x2 = x * x`; `neg`: the
/// cosine negated (glibc's second table).
#[inline(always)]
fn poly(x: f64, x2: f64, cos: bool, neg: bool) -> f32 {
    if !cos {
        let x3 = x * x2;
        let s1 = fma(x2, S[2], S[1]);
        let x7 = x3 * x2;
        let s = fma(x3, S[0], x);
        fma(x7, s1, s) as f32
    } else {
        let sg = if neg { -1.0 } else { 1.0 };
        let x4 = x2 * x2;
        let c2 = fma(x2, sg * C[4], sg * C[3]);
        let c1 = fma(x2, sg * C[1], sg * C[0]);
        let x6 = x4 * x2;
        let c = fma(x4, sg * C[2], c1);
        fma(x6, c2, c) as f32
    }
}

/// `x` (|x| < 120) minus its nearest multiple of pi/2, and that multiple's quadrant.
#[inline(always)]
fn reduce_fast(x: f64) -> (f64, i32) {
    let r = x * HPI_INV;
    let n = ((r as i32).wrapping_add(0x80_0000)) >> 24;
    (fma(-(n as f64), HPI, x), n)
}

/// The same for any finite `xi` (an f32's bits, |x| >= 2, sign ignored), exactly: a
/// 32 x 96-bit product with 4/pi in 2.62 fixed point.
#[inline(always)]
fn reduce_large(xi: u32) -> (f64, i32) {
    let arr = &INV_PIO4[((xi >> 26) & 15) as usize..];
    let shift = (xi >> 23) & 7;
    let xi = ((xi & 0xff_ffff) | 0x80_0000) << shift;
    let res0 = xi.wrapping_mul(arr[0]) as u64;
    let res1 = xi as u64 * arr[4] as u64;
    let res2 = xi as u64 * arr[8] as u64;
    let mut r = ((res2 >> 32) | (res0 << 32)).wrapping_add(res1);
    let n = (r.wrapping_add(1 << 61)) >> 62;
    r = r.wrapping_sub(n << 62);
    ((r as i64) as f64 * PI63, n as i32)
}

/// `sin(y)` (`cos` false) or `cos(y)`, bit for bit as glibc's FMA build.
fn sin_cos(y: f32, cos: bool) -> f32 {
    let x = y as f64;
    if top12(y) < top12(std::f32::consts::FRAC_PI_4) {
        if top12(y) < top12(f32::from_bits(0x3980_0000)) {
            // |y| < 2^-12: sin y = y and cos y = 1 in f32.
            return if cos { 1.0 } else { y };
        }
        return poly(x, x * x, cos, false);
    }
    // `q` picks the sine's sign and the cosine's (quadrants 2, 3 negate it); `n` whether
    // sine and cosine swap. They differ only for large negative inputs, whose reduction
    // ignores the sign.
    let (x, n, q) = if top12(y) < top12(120.0) {
        let (r, n) = reduce_fast(x);
        (r, n, n)
    } else if y.is_finite() {
        let (r, n) = reduce_large(y.to_bits());
        (r, n, n + (y.to_bits() >> 31) as i32)
    } else {
        return f32::NAN;
    };
    poly(x * SIGN[(q & 3) as usize], x * x, cos ^ (n & 1 == 1), q & 2 != 0)
}

pub fn sinf(y: f32) -> f32 {
    sin_cos(y, false)
}

pub fn cosf(y: f32) -> f32 {
    sin_cos(y, true)
}

/// Whether this process's libm is glibc (on x86_64 the reference build's, function for
/// function).
const GLIBC: bool = cfg!(all(target_os = "linux", target_env = "gnu"));

/// glibc's `powf` (rope's `theta_scale`): glibc's own where it is the libm; elsewhere the
/// correctly rounded value by way of f64, which glibc's equals for all but 0.07% of (base,
/// head size) pairs, where musl's (wasm32's libm) differs for 12%.
pub fn powf(x: f32, y: f32) -> f32 {
    if GLIBC {
        x.powf(y)
    } else {
        (x as f64).powf(y as f64) as f32
    }
}

/// glibc's `expf` (flash attention's rescaling): as [`powf`]; the f64 route differs from
/// glibc for 0.009% of the inputs from -104 to 0, musl's for 0.9%.
pub fn expf(x: f32) -> f32 {
    if GLIBC {
        x.exp()
    } else {
        (x as f64).exp() as f32
    }
}

/// glibc's `logf` (YaRN's corrections), as [`powf`].
pub fn logf(x: f32) -> f32 {
    if GLIBC {
        x.ln()
    } else {
        (x as f64).ln() as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (x, glibc 2.36 x86_64 `cosf(x)`, `sinf(x)`) as bits, at inputs where glibc's result is
    /// not the correctly rounded one (so a different libm fails here), across the fast and
    /// the large reductions. Recorded with glibc on an FMA machine.
    const GLIBC: [(u32, u32, u32); 12] = [
        (0x3f800013, 0x3f0a5120, 0x3f576ab9),
        (0x40e999ec, 0x3f06aad3, 0x3f59b792),
        (0x4255294d, 0xbf7e41eb, 0x3dee8baa),
        (0x43c28297, 0x3f5bef0c, 0xbf03040a),
        (0x45317d92, 0x3f7d1035, 0xbe1aa8b1),
        (0x46a1f60a, 0xbf7071f7, 0x3eafc04b),
        (0x4813ca73, 0x3f0b4568, 0x3f56cd1b),
        (0x4986dc1c, 0x3f102ce1, 0xbf538a6d),
        (0x4af61e8c, 0x3efee3f3, 0xbf5e059a),
        (0x4c60957f, 0x3f625f39, 0x3eef1897),
        (0x4dcceedd, 0x3ef24317, 0x3f618764),
        (0x4f3b00b2, 0x3dcfb21c, 0xbf7eae1e),
    ];

    #[test]
    fn glibc_bits_where_glibc_is_not_correctly_rounded() {
        for (x, c, s) in GLIBC {
            let x = f32::from_bits(x);
            assert_eq!(cosf(x).to_bits(), c, "cosf({x:e})");
            assert_eq!(sinf(x).to_bits(), s, "sinf({x:e})");
            // Odd and even: the negative inputs take the sign paths.
            assert_eq!(cosf(-x).to_bits(), c, "cosf({:e})", -x);
            assert_eq!(sinf(-x).to_bits(), s ^ 0x8000_0000, "sinf({:e})", -x);
        }
        assert_eq!(cosf(0.0), 1.0);
        assert_eq!(sinf(-0.0).to_bits(), (-0.0f32).to_bits());
        assert!(cosf(f32::INFINITY).is_nan() && sinf(f32::NAN).is_nan());
    }

    /// Where this process's libm is glibc on x86_64 (as llama.cpp's reference build was),
    /// every rope angle of a long context agrees with it bit for bit.
    #[cfg(all(target_os = "linux", target_env = "gnu", target_arch = "x86_64"))]
    #[test]
    fn equals_this_glibc_on_rope_angles() {
        if !std::arch::is_x86_feature_detected!("fma") {
            return; // glibc then runs its non-FMA variant, which rounds its steps apart
        }
        for (base, dims) in [(10000.0f32, 128usize), (100000.0, 64), (1000000.0, 128)] {
            let ts = base.powf(-2.0 / dims as f32);
            for pos in (0..32768).step_by(7) {
                let mut th = pos as f32;
                for _ in 0..dims / 2 {
                    assert_eq!(cosf(th).to_bits(), th.cos().to_bits(), "cos {th:e}");
                    assert_eq!(sinf(th).to_bits(), th.sin().to_bits(), "sin {th:e}");
                    th *= ts;
                }
            }
        }
    }
}
