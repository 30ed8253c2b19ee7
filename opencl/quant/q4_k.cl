// Q4_K (256 per block): d, dmin (f16), scales[12], qs[128]; 8 sub-blocks of 32.
#define QK 256
#define BLOCK_BYTES 144
inline float deq(blk_t b, uint e) {
    const uint j = e / 64, hi = (e % 64) / 32, l = e % 32;
    const uint q = (b[16 + 32 * j + l] >> (4 * hi)) & 0x0f;
    const float d1 = f16_at(b) * (float)k4_scale(b + 4, e / 32);
    const float m1 = f16_at(b + 2) * (float)k4_min(b + 4, e / 32);
    return d1 * (float)q - m1;
}
