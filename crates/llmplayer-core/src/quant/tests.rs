//! Unit tests of the SIMD kernels against the scalar oracle on random data.
