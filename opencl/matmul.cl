// matmul: out[t][r] = sum_c W[r][c] * x[t][c] for weights W (rows, cols) of the program's type
// and f32 activations x (n, cols), accumulated in f32. One work-group of WG items per (row,
// tile of TN tokens): item i takes blocks i, i + WG, … of the row, decodes each element once
// for the whole tile, then a tree reduction in local memory. Global size (rows * WG,
// ceil(n / TN)), local size (WG, 1). A decode mat-vec is n = 1 (one partial tile).
__kernel void matmul(__global const uchar* w, __global const float* x, __global float* out, const uint rows, const uint cols, const uint n) {
    const uint r = get_group_id(0), t0 = get_group_id(1) * TN, lid = get_local_id(0);
    const uint nb = cols / QK;
    const uint tn = min((uint)TN, n - t0);
    __global const uchar* row = w + (ulong)r * nb * BLOCK_BYTES;
    float acc[TN];
    for (uint j = 0; j < TN; j++) acc[j] = 0.0f;
    for (uint b = lid; b < nb; b += WG) {
        __global const uchar* blk = row + (ulong)b * BLOCK_BYTES;
        __global const float* xb = x + (ulong)t0 * cols + b * QK;
        float s[TN];
        for (uint j = 0; j < TN; j++) s[j] = 0.0f;
        for (uint e = 0; e < QK; e++) {
            const float v = deq(blk, e);
            for (uint j = 0; j < tn; j++) s[j] += v * xb[(ulong)j * cols + e];
        }
        for (uint j = 0; j < TN; j++) acc[j] += s[j];
    }
    __local float part[TN][WG];
    for (uint j = 0; j < TN; j++) part[j][lid] = acc[j];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint half_n = WG / 2; half_n > 0; half_n /= 2) {
        if (lid < half_n)
            for (uint j = 0; j < TN; j++) part[j][lid] += part[j][lid + half_n];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid < tn) out[(ulong)(t0 + lid) * rows + r] = part[lid][0];
}
