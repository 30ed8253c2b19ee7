// F32: one element per "block".
#define QK 1
#define BLOCK_BYTES 4
inline float deq(blk_t b, uint e) { return f32_at(b); }
