// matmul: out[t][r] = sum_c W[r][c] * x[t][c] for weights W (rows, cols) of the program's type
// and f32 activations x (n, cols), accumulated in f32. One work-group of WG items per
// (row, token): item i takes blocks i, i + WG, … of the row, then a tree reduction in local
// memory. Global size (rows * WG, n), local size (WG, 1). A decode mat-vec is n = 1.
__kernel void matmul(__global const uchar* w, __global const float* x, __global float* out, const uint rows, const uint cols) {
    const uint r = get_group_id(0), t = get_global_id(1), lid = get_local_id(0);
    const uint nb = cols / QK;
    __global const uchar* row = w + (ulong)r * nb * BLOCK_BYTES;
    __global const float* xt = x + (ulong)t * cols;
    float acc = 0.0f;
    for (uint b = lid; b < nb; b += WG) {
        __global const uchar* blk = row + (ulong)b * BLOCK_BYTES;
        __global const float* xb = xt + b * QK;
        float s = 0.0f;
        for (uint e = 0; e < QK; e++) s += deq(blk, e) * xb[e];
        acc += s;
    }
    __local float part[WG];
    part[lid] = acc;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint half_n = WG / 2; half_n > 0; half_n /= 2) {
        if (lid < half_n) part[lid] += part[lid + half_n];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (lid == 0) out[(ulong)t * rows + r] = part[0];
}
