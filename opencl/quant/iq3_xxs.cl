// IQ3_XXS (256 per block): d (f16), qs[96]: 64 one-byte IQ3XXS_GRID indices (4 magnitudes
// each), then per 32 elements a u32 of four 7-bit sign sets (KSIGNS_IQ2XS) and a 4-bit ls in
// bits 28..32; value d * (0.5 + ls) * 0.5 * ±grid.
#define QK 256
#define BLOCK_BYTES 98
inline float deq(blk_t b, uint e) {
    const uint ib = e / 32, l = (e % 32) / 8, j = e % 8;
    const uint aux = u32_at(b + 66 + 4 * ib);
    const int g = grid_byte(IQ3XXS_GRID[b[2 + 8 * ib + 2 * l + j / 4]], j % 4);
    const int q = (KSIGNS_IQ2XS[(aux >> (7 * l)) & 127] >> j) & 1 ? -g : g;
    const float dl = f16_at(b) * (0.5f + (float)(aux >> 28)) * 0.5f;
    return dl * (float)q;
}
