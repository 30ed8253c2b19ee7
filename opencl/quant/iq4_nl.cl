// IQ4_NL: d (f16), 16 bytes of nibbles indexing the 16 non-linear levels KVALUES_IQ4NL; byte j
// holds element j (low nibble) and j + 16 (high nibble).
#define QK 32
#define BLOCK_BYTES 18
inline float deq(blk_t b, uint e) {
    const uint q = (b[2 + (e & 15)] >> (4 * (e / 16))) & 0x0f;
    return f16_at(b) * (float)KVALUES_IQ4NL[q];
}
