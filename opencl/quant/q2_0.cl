// Q2_0 (64 per block): d (f16), qs[16]: element j is bits 2*(j%4) of byte j/4, value d*(q - 1).
#define QK 64
#define BLOCK_BYTES 18
inline float deq(blk_t b, uint e) {
    const int q = (b[2 + e / 4] >> (2 * (e % 4))) & 3;
    return (float)(q - 1) * f16_at(b);
}
