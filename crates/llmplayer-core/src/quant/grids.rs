//! Small lookup tables shared by the IQ and FP4 kernels.
//!
//! Values carried over from ggml (llama.cpp de3ff815, ggml/src/ggml-common.h, MIT licence).
//! The large IQ codebooks live in [`super::grids_iq2`] and [`super::grids_iq1_iq3`].

pub use super::grids_iq1_iq3::{IQ1S_GRID, IQ3S_GRID, IQ3XXS_GRID};
pub use super::grids_iq2::{IQ2S_GRID, IQ2XS_GRID, IQ2XXS_GRID};

/// The 16 non-linear levels of IQ4_NL / IQ4_XS (`kvalues_iq4nl`).
pub const KVALUES_IQ4NL: [i8; 16] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

/// E2M1 values doubled, shared by MXFP4 and NVFP4 (`kvalues_fp4`).
pub const KVALUES_FP4: [i8; 16] = [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12];

/// Offset added to IQ1_S / IQ1_M grid values (`IQ1S_DELTA`, `IQ1M_DELTA`).
pub const IQ1S_DELTA: f32 = 0.125;

/// `ksigns_iq2xs[i]`: the 7 sign bits `i` completed with an 8th bit giving even parity.
pub const KSIGNS_IQ2XS: [u8; 128] = {
    let mut t = [0u8; 128];
    let mut i = 0;
    while i < 128 {
        let parity = (i as u8).count_ones() as u8 & 1;
        t[i] = i as u8 | (parity << 7);
        i += 1;
    }
    t
};

/// Sign bytes for SIMD: byte `j` of `SIGNS8_PM1[b]` is -1 (0xff) where bit `j` of `b` is set,
/// else +1.
pub const SIGNS8_PM1: [u64; 256] = {
    let mut t = [0u64; 256];
    let mut b = 0;
    while b < 256 {
        let mut j = 0;
        while j < 8 {
            let byte: u64 = if b & (1 << j) != 0 { 0xff } else { 0x01 };
            t[b] |= byte << (8 * j);
            j += 1;
        }
        b += 1;
    }
    t
};

/// [`SIGNS8_PM1`] of the 7-bit sign sets completed by [`KSIGNS_IQ2XS`].
pub const SIGNS7_PM1: [u64; 128] = {
    let mut t = [0u64; 128];
    let mut i = 0;
    while i < 128 {
        t[i] = SIGNS8_PM1[KSIGNS_IQ2XS[i] as usize];
        i += 1;
    }
    t
};

/// Byte `j` of a grid entry (element `j` of its group).
#[inline(always)]
pub fn grid_byte_u64(entry: u64, j: usize) -> u8 {
    (entry >> (8 * j)) as u8
}

#[inline(always)]
pub fn grid_byte_u32(entry: u32, j: usize) -> u8 {
    (entry >> (8 * j)) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ksigns_matches_ggml_prefix() {
        // First and last rows of ggml's literal table.
        assert_eq!(&KSIGNS_IQ2XS[..16], &[0, 129, 130, 3, 132, 5, 6, 135, 136, 9, 10, 139, 12, 141, 142, 15]);
        assert_eq!(&KSIGNS_IQ2XS[112..], &[240, 113, 114, 243, 116, 245, 246, 119, 120, 249, 250, 123, 252, 125, 126, 255]);
    }
}
