// IQ2_S (256 per block): d (f16), qs[64] (32 low bytes of 10-bit IQ2S_GRID indices, then 32
// sign bytes), qh[8] (the indices' high 2 bits, four per byte), scales[8] (4-bit ls per 16);
// value d * (0.5 + ls) * 0.25 * ±grid.
#define QK 256
#define BLOCK_BYTES 82
inline float deq(blk_t b, uint e) {
    const uint g8 = e / 8, j = e % 8, k = e / 16;
    const uint idx = b[2 + g8] | (((uint)b[66 + g8 / 4] << (8 - 2 * (g8 % 4))) & 0x300);
    const int g = grid_byte(IQ2S_GRID[idx], j);
    const int q = (b[34 + g8] >> j) & 1 ? -g : g;
    const uint ls = (b[74 + k / 2] >> (4 * (k % 2))) & 0x0f;
    const float dl = f16_at(b) * (0.5f + (float)ls) * 0.25f;
    return dl * (float)q;
}
