// TQ1_0 (256 per block): qs[48] (five trits per byte), qh[4] (four per byte), d (f16).
// Elements 0..160: trit n of byte m < 32 is element 32n + m; 160..240: trit n of byte 32 + m
// is 160 + 16n + m; 240..256: trit n of qh[j] is 240 + 4n + j. A byte is a base-3 fraction
// scaled by 256/243: multiplying by 3^n (mod 256) brings trit n to the top, (q * 3) >> 8 reads it.
#define QK 256
#define BLOCK_BYTES 54
inline float deq(blk_t b, uint e) {
    uint byte, n;
    if (e < 160) { byte = b[e % 32]; n = e / 32; }
    else if (e < 240) { byte = b[32 + (e - 160) % 16]; n = (e - 160) / 16; }
    else { byte = b[48 + (e - 240) % 4]; n = (e - 240) / 4; }
    uint pow3 = 1;
    for (uint k = 0; k < n; k++) pow3 *= 3;
    const uint q = (byte * pow3) & 0xff;
    const int t = (int)((q * 3) >> 8) - 1;
    return (float)t * f16_at(b + 52);
}
