// The packed 6-bit scales and mins of Q4_K / Q5_K: sub-block j (0..8) of the 12-byte field.
inline uint k4_scale(blk_t s, uint j) { return j < 4 ? (s[j] & 63) : ((s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4)); }
inline uint k4_min(blk_t s, uint j) { return j < 4 ? (s[j + 4] & 63) : ((s[j + 4] >> 4) | ((s[j] >> 6) << 4)); }
