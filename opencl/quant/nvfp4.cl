// NVFP4 (64 per block): d[4] (UE4M3 scale per 16), qs[32]: sub-block s takes bytes 8s..8s+8,
// element j of it the low nibble of byte j % 8 (j < 8) or the high one (KVALUES_FP4).
#define QK 64
#define BLOCK_BYTES 36
inline float deq(blk_t b, uint e) {
    const uint s = e / 16, j = e % 16;
    const uint q = (b[4 + 8 * s + j % 8] >> (4 * (j / 8))) & 0x0f;
    return (float)KVALUES_FP4[q] * ue4m3_half(b[s]);
}
