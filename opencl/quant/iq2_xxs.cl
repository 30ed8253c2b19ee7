// IQ2_XXS (256 per block): d (f16), then per 32 elements two u32: a0 = four 8-bit indices into
// IQ2XXS_GRID (8 magnitudes each), a1 = four 7-bit sign sets (KSIGNS_IQ2XS) and a 4-bit scale
// ls in bits 28..32; value d * (0.5 + ls) * 0.25 * ±grid.
#define QK 256
#define BLOCK_BYTES 66
inline float deq(blk_t b, uint e) {
    const uint ib = e / 32, l = (e % 32) / 8, j = e % 8;
    const uint a0 = u32_at(b + 2 + 8 * ib), a1 = u32_at(b + 6 + 8 * ib);
    const int g = grid_byte(IQ2XXS_GRID[(a0 >> (8 * l)) & 0xff], j);
    const int q = (KSIGNS_IQ2XS[(a1 >> (7 * l)) & 127] >> j) & 1 ? -g : g;
    const float dl = f16_at(b) * (0.5f + (float)(a1 >> 28)) * 0.25f;
    return dl * (float)q;
}
