// Q5_0: d (f16), qh (32 high bits, little-endian u32), 16 bytes of nibbles; value - 16.
#define QK 32
#define BLOCK_BYTES 22
inline float deq(blk_t b, uint e) {
    const uchar q = b[6 + (e & 15)];
    const uint h = (u32_at(b + 2) >> e) & 1;
    const int v = (int)((e < 16 ? (q & 0x0f) : (q >> 4)) | (h << 4)) - 16;
    return (float)v * f16_at(b);
}
