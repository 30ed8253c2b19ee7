//! IEEE half (f16) and bfloat16 conversions, and the F32 / F16 / BF16 row kernels.
//!
//! Conversions are exact to the bit: widening is exact, narrowing rounds to nearest, ties to
//! even (as F16C's `vcvtps2ph` with imm 0 and ggml's `GGML_FP32_TO_BF16` do).

/// Widens f16 bits to f32 (exact, including subnormals, infinities and NaN payloads).
#[inline]
pub fn f16_to_f32(h: u16) -> f32 {
    let abs = (h & 0x7fff) as u32;
    let sign = ((h & 0x8000) as u32) << 16;
    let v = if abs >= 0x7c00 {
        f32::from_bits(0x7f80_0000 | ((abs & 0x3ff) << 13)) // inf / NaN
    } else {
        // Place exponent and mantissa in f32 position, then rescale by 2^(127-15): exact for
        // normals and subnormals alike.
        f32::from_bits(abs << 13) * f32::from_bits(0x7780_0000)
    };
    f32::from_bits(v.to_bits() | sign)
}

/// Narrows f32 to f16 bits, rounding to nearest even; overflow gives ±inf, NaN stays NaN.
#[inline]
pub fn f32_to_f16(f: f32) -> u16 {
    let x = f.to_bits();
    let sign = ((x >> 16) & 0x8000) as u16;
    let abs = x & 0x7fff_ffff;
    if abs > 0x7f80_0000 {
        return sign | 0x7e00; // NaN (quiet)
    }
    if abs >= 0x477f_f000 {
        return sign | 0x7c00; // >= 65520 rounds to infinity
    }
    if abs < 0x3880_0000 {
        // Below the smallest normal f16 (2^-14). Adding 0.5 puts the value's f16-subnormal
        // grid (2^-24) at the f32 ulp, so the hardware addition performs the RNE rounding.
        let r = f32::from_bits(abs) + 0.5;
        return sign | (r.to_bits() - 0x3f00_0000) as u16;
    }
    // Normal: rebias the exponent and round the 13 dropped mantissa bits to nearest even.
    let odd = (abs >> 13) & 1;
    let r = abs.wrapping_add(((15u32.wrapping_sub(127)) << 23).wrapping_add(0xfff) + odd);
    sign | (r >> 13) as u16
}

/// Widens bfloat16 bits to f32 (exact).
#[inline]
pub fn bf16_to_f32(h: u16) -> f32 {
    f32::from_bits((h as u32) << 16)
}

/// Narrows f32 to bfloat16 bits, rounding to nearest even; NaN stays a quiet NaN.
#[inline]
pub fn f32_to_bf16(f: f32) -> u16 {
    let x = f.to_bits();
    if x & 0x7fff_ffff > 0x7f80_0000 {
        return ((x >> 16) | 64) as u16;
    }
    (x.wrapping_add(0x7fff + ((x >> 16) & 1)) >> 16) as u16
}

#[inline]
fn read_u16(b: &[u8]) -> u16 {
    u16::from_le_bytes([b[0], b[1]])
}

#[inline]
fn read_f32(b: &[u8]) -> f32 {
    f32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

// ---------------------------------------------------------------- dequantize (widen)

pub fn dequantize_row_f32(x: &[u8], y: &mut [f32]) {
    let n = y.len();
    for (o, b) in y.iter_mut().zip(x[..n * 4].chunks_exact(4)) {
        *o = read_f32(b);
    }
}

pub fn dequantize_row_f16(x: &[u8], y: &mut [f32]) {
    let n = y.len();
    for (o, b) in y.iter_mut().zip(x[..n * 2].chunks_exact(2)) {
        *o = f16_to_f32(read_u16(b));
    }
}

pub fn dequantize_row_bf16(x: &[u8], y: &mut [f32]) {
    let n = y.len();
    for (o, b) in y.iter_mut().zip(x[..n * 2].chunks_exact(2)) {
        *o = bf16_to_f32(read_u16(b));
    }
}

// ---------------------------------------------------------------- activation conversion

pub fn quantize_row_f32(x: &[f32], y: &mut [u8]) {
    for (b, v) in y[..x.len() * 4].chunks_exact_mut(4).zip(x) {
        b.copy_from_slice(&v.to_le_bytes());
    }
}

pub fn quantize_row_f16(x: &[f32], y: &mut [u8]) {
    for (b, v) in y[..x.len() * 2].chunks_exact_mut(2).zip(x) {
        b.copy_from_slice(&f32_to_f16(*v).to_le_bytes());
    }
}

pub fn quantize_row_bf16(x: &[f32], y: &mut [u8]) {
    for (b, v) in y[..x.len() * 2].chunks_exact_mut(2).zip(x) {
        b.copy_from_slice(&f32_to_bf16(*v).to_le_bytes());
    }
}

// ---------------------------------------------------------------- dot products (scalar)

/// Sums `f(i)` for i in 0..n in eight interleaved f32 lanes (the shape SIMD code has).
#[inline]
fn lanes8(n: usize, f: impl Fn(usize) -> f32) -> f32 {
    let mut acc = [0.0f32; 8];
    let mut i = 0;
    while i + 8 <= n {
        for (l, a) in acc.iter_mut().enumerate() {
            *a += f(i + l);
        }
        i += 8;
    }
    let mut tail = 0.0f32;
    for j in i..n {
        tail += f(j);
    }
    acc.iter().sum::<f32>() + tail
}

pub fn vec_dot_f32(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let (x, y) = (&x[..n * 4], &y[..n * 4]);
    lanes8(n, |i| read_f32(&x[4 * i..]) * read_f32(&y[4 * i..]))
}

pub fn vec_dot_f16(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let (x, y) = (&x[..n * 2], &y[..n * 2]);
    lanes8(n, |i| f16_to_f32(read_u16(&x[2 * i..])) * f16_to_f32(read_u16(&y[2 * i..])))
}

pub fn vec_dot_bf16(n: usize, x: &[u8], y: &[u8]) -> f32 {
    let (x, y) = (&x[..n * 2], &y[..n * 2]);
    lanes8(n, |i| bf16_to_f32(read_u16(&x[2 * i..])) * bf16_to_f32(read_u16(&y[2 * i..])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_round_trips_every_pattern() {
        for h in 0..=u16::MAX {
            let f = f16_to_f32(h);
            if f.is_nan() {
                assert!(f16_to_f32(f32_to_f16(f)).is_nan());
            } else {
                assert_eq!(f32_to_f16(f), h, "{h:#06x} -> {f}");
            }
        }
    }

    #[test]
    fn f16_rounds_to_nearest_even() {
        // Midpoints between consecutive f16 values round to the even mantissa.
        for h in [0x0001u16, 0x0002, 0x03ff, 0x0400, 0x3c00, 0x3c01, 0x7bfe] {
            let lo = f16_to_f32(h) as f64;
            let hi = f16_to_f32(h + 1) as f64;
            let mid = ((lo + hi) / 2.0) as f32;
            let even = if h & 1 == 0 { h } else { h + 1 };
            assert_eq!(f32_to_f16(mid), even, "{h:#06x}");
            assert_eq!(f32_to_f16(-mid), even | 0x8000);
        }
        assert_eq!(f32_to_f16(65519.0), 0x7bff);
        assert_eq!(f32_to_f16(65520.0), 0x7c00);
        assert_eq!(f32_to_f16(1e-9), 0);
        assert_eq!(f32_to_f16(-0.0), 0x8000);
    }

    #[test]
    fn bf16_rounds_to_nearest_even() {
        assert_eq!(f32_to_bf16(f32::from_bits(0x3f80_8000)), 0x3f80); // tie, even stays
        assert_eq!(f32_to_bf16(f32::from_bits(0x3f81_8000)), 0x3f82); // tie, odd rounds up
        assert_eq!(f32_to_bf16(f32::from_bits(0x3f80_8001)), 0x3f81);
        assert_eq!(bf16_to_f32(0xbf80), -1.0);
    }
}
