// TQ2_0 (256 per block): qs[64] (2-bit q, value q - 1), d (f16). Element 128j + 32l + m is
// bits 2l of byte 32j + m.
#define QK 256
#define BLOCK_BYTES 66
inline float deq(blk_t b, uint e) {
    const uint j = e / 128, l = (e % 128) / 32, m = e % 32;
    const int t = (int)((b[32 * j + m] >> (2 * l)) & 3) - 1;
    return (float)t * f16_at(b + 64);
}
