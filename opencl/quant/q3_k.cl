// Q3_K (256 per block): hmask[32], qs[64], scales[12] (16 six-bit scales, biased by 32), d (f16).
#define QK 256
#define BLOCK_BYTES 110
inline float deq(blk_t b, uint e) {
    const uint n = e / 128, j = (e % 128) / 32, l = e % 32;
    const int low = (b[32 + 32 * n + l] >> (2 * j)) & 3;
    const int q = low - ((b[l] & (1 << (4 * n + j))) ? 0 : 4);
    const uint s = e / 16;
    blk_t sc = b + 96;
    const uint lo = s < 8 ? (sc[s] & 0x0f) : (sc[s - 8] >> 4);
    const uint hi = (sc[8 + s % 4] >> (2 * (s / 4))) & 3;
    const int scale = (int)(char)(lo | (hi << 4)) - 32;
    return (f16_at(b + 108) * (float)scale) * (float)q;
}
