// IQ1_S (256 per block): d (f16), qs[32] (low bytes of 11-bit IQ1S_GRID indices, values in
// {-1, 0, 1}), qh[8] (u16 per 32: four 3-bit index highs, a 3-bit scale s in bits 12..15, the
// delta sign in bit 15); value d * (2 s + 1) * (grid ± IQ1S_DELTA).
#define QK 256
#define BLOCK_BYTES 50
inline float deq(blk_t b, uint e) {
    const uint g8 = e / 8, l = g8 % 4;
    const uint h = u16_at(b + 34 + 2 * (g8 / 4));
    const uint idx = b[2 + g8] | (((h >> (3 * l)) & 7) << 8);
    const float delta = h & 0x8000 ? -IQ1S_DELTA : IQ1S_DELTA;
    const float dl = f16_at(b) * (float)(2 * ((h >> 12) & 7) + 1);
    return dl * ((float)grid_byte(IQ1S_GRID[idx], e % 8) + delta);
}
