// Block scales of MXFP4 / NVFP4, halved (KVALUES_FP4 holds the E2M1 values doubled).
// E8M0: 2^(e - 127) / 2, built from its bits (subnormal for e < 2).
inline float e8m0_half(uchar e) { return as_float(e < 2 ? (0x00200000u << e) : ((uint)(e - 1) << 23)); }
// UE4M3 (bias 7, 3 mantissa bits; 0 and 0x7f read as 0) / 2. `man * 0.125f` is ggml's
// `man / 8` (exact either way; a multiply avoids OpenCL's inexact division).
inline float ue4m3_half(uchar x) {
    if (x == 0 || x == 0x7f) return 0.0f;
    const uint exp = (x >> 3) & 0x0f;
    const float man = (float)(x & 7);
    const float raw = exp == 0 ? man * (1.0f / 512.0f) : (1.0f + man * 0.125f) * as_float((exp + 127 - 7) << 23);
    return raw * 0.5f;
}
