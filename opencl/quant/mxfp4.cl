// MXFP4 (17 bytes, so blocks sit at odd addresses): e (E8M0 exponent), 16 bytes of E2M1
// nibbles (KVALUES_FP4); byte j holds element j (low nibble) and j + 16 (high nibble).
#define QK 32
#define BLOCK_BYTES 17
inline float deq(blk_t b, uint e) {
    const uint q = (b[1 + (e & 15)] >> (4 * (e / 16))) & 0x0f;
    return (float)KVALUES_FP4[q] * e8m0_half(b[0]);
}
