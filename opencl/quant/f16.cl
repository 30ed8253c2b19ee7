// F16: one element per "block".
#define QK 1
#define BLOCK_BYTES 2
inline float deq(blk_t b, uint e) { return f16_at(b); }
