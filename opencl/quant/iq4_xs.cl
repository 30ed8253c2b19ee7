// IQ4_XS (256 per block): d (f16), scales_h (u16: high 2 bits of eight 6-bit scales),
// scales_l[4] (low nibbles), qs[128] (16 bytes of KVALUES_IQ4NL nibbles per 32, as IQ4_NL).
#define QK 256
#define BLOCK_BYTES 136
inline float deq(blk_t b, uint e) {
    const uint ib = e / 32, j = e % 32;
    const uint ls = ((b[4 + ib / 2] >> (4 * (ib % 2))) & 0x0f) | (((u16_at(b + 2) >> (2 * ib)) & 3) << 4);
    const float dl = f16_at(b) * (float)((int)ls - 32);
    const uint q = (b[8 + 16 * ib + (j & 15)] >> (4 * (j / 16))) & 0x0f;
    return dl * (float)KVALUES_IQ4NL[q];
}
