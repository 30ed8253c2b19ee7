// Q5_K (256 per block): d, dmin (f16), scales[12], qh[32], qs[128].
#define QK 256
#define BLOCK_BYTES 176
inline float deq(blk_t b, uint e) {
    const uint j = e / 64, hi = (e % 64) / 32, l = e % 32;
    const uint low = (b[48 + 32 * j + l] >> (4 * hi)) & 0x0f;
    const uint high = (b[16 + l] >> (2 * j + hi)) & 1;
    const float d1 = f16_at(b) * (float)k4_scale(b + 4, e / 32);
    const float m1 = f16_at(b + 2) * (float)k4_min(b + 4, e / 32);
    return d1 * (float)(low | (high << 4)) - m1;
}
