// IQ3_S (256 per block): d (f16), qs[64] (low bytes of 9-bit IQ3S_GRID indices, 4 magnitudes
// each), qh[8] (the 9th bits, a byte per 32), signs[32] (a byte per 8), scales[4] (4-bit ls
// per 32); value d * (1 + 2 ls) * ±grid.
#define QK 256
#define BLOCK_BYTES 110
inline float deq(blk_t b, uint e) {
    const uint ib = e / 32, l = (e % 32) / 8, j = e % 8, hi = j / 4;
    const uint qh = b[66 + ib];
    const uint idx = b[2 + 8 * ib + 2 * l + hi] | ((qh << (8 - 2 * l - hi)) & 256);
    const int g = grid_byte(IQ3S_GRID[idx], j % 4);
    const int q = (b[74 + 4 * ib + l] >> j) & 1 ? -g : g;
    const uint ls = (b[106 + ib / 2] >> (4 * (ib % 2))) & 0x0f;
    const float dl = f16_at(b) * (float)(1 + 2 * (int)ls);
    return dl * (float)q;
}
