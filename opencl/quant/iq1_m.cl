// IQ1_M (256 per block): qs[32] (low bytes of 11-bit IQ1S_GRID indices), qh[16] (a nibble per 8
// elements: 3 index-high bits, delta sign in bit 3), scales[8] (four u16: 3-bit s per 16
// elements in bits 0..12; the f16 super-scale d spread over their top nibbles);
// value d * (2 s + 1) * (grid ± IQ1S_DELTA).
#define QK 256
#define BLOCK_BYTES 56
inline float deq(blk_t b, uint e) {
    const uint ib = e / 32, l = (e % 32) / 8;
    const uint h = (b[32 + 2 * ib + l / 2] >> (4 * (l % 2))) & 0x0f;
    const uint idx = b[e / 8] | ((h & 7) << 8);
    const float delta = h & 0x08 ? -IQ1S_DELTA : IQ1S_DELTA;
    const uint sc0 = u16_at(b + 48), sc1 = u16_at(b + 50), sc2 = u16_at(b + 52), sc3 = u16_at(b + 54);
    const float d = f16_bits((ushort)((sc0 >> 12) | ((sc1 >> 8) & 0x00f0) | ((sc2 >> 4) & 0x0f00) | (sc3 & 0xf000)));
    const uint s = (u16_at(b + 48 + 2 * (ib / 2)) >> (6 * (ib % 2) + 3 * (l / 2))) & 7;
    const float dl = d * (float)(2 * s + 1);
    return dl * ((float)grid_byte(IQ1S_GRID[idx], e % 8) + delta);
}
