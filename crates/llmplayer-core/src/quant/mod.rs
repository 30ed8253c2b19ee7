//! Quantization kernels (in progress).
