// IQ2_XS (256 per block): d (f16), qs[32] (u16 per 8 elements: 9-bit IQ2XS_GRID index, 7-bit
// sign set), scales[8] (a 4-bit ls per 16 elements); value d * (0.5 + ls) * 0.25 * ±grid.
#define QK 256
#define BLOCK_BYTES 74
inline float deq(blk_t b, uint e) {
    const uint v = u16_at(b + 2 + 2 * (e / 8)), j = e % 8, k = e / 16;
    const int g = grid_byte(IQ2XS_GRID[v & 511], j);
    const int q = (KSIGNS_IQ2XS[v >> 9] >> j) & 1 ? -g : g;
    const uint ls = (b[66 + k / 2] >> (4 * (k % 2))) & 0x0f;
    const float dl = f16_at(b) * (0.5f + (float)ls) * 0.25f;
    return dl * (float)q;
}
