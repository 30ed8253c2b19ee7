// Q2_K (256 per block): scales[16] (low nibble scale, high nibble min), qs[64], d, dmin (f16).
#define QK 256
#define BLOCK_BYTES 84
inline float deq(blk_t b, uint e) {
    const uint n = e / 128, j = (e % 128) / 32, l = e % 32;
    const uint q = (b[16 + 32 * n + l] >> (2 * j)) & 3;
    const uchar sc = b[e / 16];
    const float dl = f16_at(b + 80) * (float)(sc & 0x0f);
    const float ml = f16_at(b + 82) * (float)(sc >> 4);
    return dl * (float)q - ml;
}
