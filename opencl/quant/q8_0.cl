// Q8_0: d (f16), 32 signed bytes.
#define QK 32
#define BLOCK_BYTES 34
inline float deq(blk_t b, uint e) { return (float)(char)b[2 + e] * f16_at(b); }
