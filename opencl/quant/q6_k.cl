// Q6_K (256 per block): ql[128], qh[64], scales[16] (i8), d (f16); value - 32.
#define QK 256
#define BLOCK_BYTES 210
inline float deq(blk_t b, uint e) {
    const uint n = e / 128, part = (e % 128) / 32, l = e % 32;
    const uint low = (b[64 * n + 32 * (part & 1) + l] >> (4 * (part >> 1))) & 0x0f;
    const uint high = (b[128 + 32 * n + l] >> (2 * part)) & 3;
    const int q = (int)(low | (high << 4)) - 32;
    return f16_at(b + 208) * (float)(char)b[192 + e / 16] * (float)q;
}
