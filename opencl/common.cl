// Shared by every program: exact IEEE f32 arithmetic as ggml's scalar reference (no contraction
// of a*b+c into an FMA, so dequantized values match bit for bit), byte readers for the packed,
// unaligned GGUF blocks.
#pragma OPENCL FP_CONTRACT OFF

typedef __global const uchar* blk_t;

inline float f16_at(blk_t p) { return vload_half(0, (__global const half*)p); }
inline float bf16_at(blk_t p) { return as_float(((uint)p[0] << 16) | ((uint)p[1] << 24)); }
inline float f32_at(blk_t p) { return as_float((uint)p[0] | ((uint)p[1] << 8) | ((uint)p[2] << 16) | ((uint)p[3] << 24)); }
inline uint u16_at(blk_t p) { return (uint)p[0] | ((uint)p[1] << 8); }
// An f16 given by its bits (assembled from scattered fields), widened exactly.
inline float f16_bits(ushort h) { return vload_half(0, (const __private half*)&h); }
// Byte j of a packed grid entry, as the signed value it holds.
inline int grid_byte(ulong entry, uint j) { return (int)as_char((uchar)(entry >> (8 * j))); }
inline uint u32_at(blk_t p) { return (uint)p[0] | ((uint)p[1] << 8) | ((uint)p[2] << 16) | ((uint)p[3] << 24); }
