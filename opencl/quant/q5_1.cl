// Q5_1: d, m (f16), qh (u32), 16 bytes of nibbles: q * d + m.
#define QK 32
#define BLOCK_BYTES 24
inline float deq(blk_t b, uint e) {
    const uchar q = b[8 + (e & 15)];
    const uint h = (u32_at(b + 4) >> e) & 1;
    const uint v = (e < 16 ? (q & 0x0f) : (q >> 4)) | (h << 4);
    return (float)v * f16_at(b) + f16_at(b + 2);
}
