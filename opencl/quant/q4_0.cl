// Q4_0: d (f16), 16 bytes of nibbles; element j < 16 is the low nibble of byte j, j >= 16 the high one.
#define QK 32
#define BLOCK_BYTES 18
inline float deq(blk_t b, uint e) {
    const uchar q = b[2 + (e & 15)];
    const int v = (e < 16 ? (q & 0x0f) : (q >> 4)) - 8;
    return (float)v * f16_at(b);
}
