// dequant: every element of `n_blocks` consecutive blocks of the type to f32 (the oracle check,
// and the CPU fallback's view of a device-resident tensor). Global size: n_blocks * QK.
__kernel void dequant(__global const uchar* w, __global float* out, const ulong n_elems) {
    const ulong i = get_global_id(0);
    if (i >= n_elems) return;
    out[i] = deq(w + (i / QK) * BLOCK_BYTES, (uint)(i % QK));
}
