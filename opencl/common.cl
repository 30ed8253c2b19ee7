// Shared by every program: exact IEEE f32 arithmetic as ggml's scalar reference (no contraction
// of a*b+c into an FMA, so dequantized values match bit for bit), byte readers for the packed,
// unaligned GGUF blocks.
#pragma OPENCL FP_CONTRACT OFF

typedef __global const uchar* blk_t;

inline float f16_at(blk_t p) { return vload_half(0, (__global const half*)p); }
inline float bf16_at(blk_t p) { return as_float(((uint)p[0] << 16) | ((uint)p[1] << 24)); }
inline float f32_at(blk_t p) { return as_float((uint)p[0] | ((uint)p[1] << 8) | ((uint)p[2] << 16) | ((uint)p[3] << 24)); }
inline uint u32_at(blk_t p) { return (uint)p[0] | ((uint)p[1] << 8) | ((uint)p[2] << 16) | ((uint)p[3] << 24); }
