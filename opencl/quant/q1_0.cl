// Q1_0 (128 per block): d (f16), qs[16]: bit j set gives +d, clear -d.
#define QK 128
#define BLOCK_BYTES 18
inline float deq(blk_t b, uint e) {
    const float d = f16_at(b);
    return ((b[2 + e / 8] >> (e % 8)) & 1) ? d : -d;
}
