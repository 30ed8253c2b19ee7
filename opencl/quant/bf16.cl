// BF16: the high half of an f32.
#define QK 1
#define BLOCK_BYTES 2
inline float deq(blk_t b, uint e) { return bf16_at(b); }
