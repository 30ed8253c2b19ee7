// The recurrent and hybrid shapes of the engine benchmark (gen-models.mjs writes the files):
// their hyperparameters, the keys llama.cpp reads for them and each layer's tensors, named and
// shaped as convert_hf_to_gguf writes them and typed as llama-quantize leaves them (the short
// conv, the decay A, D and the 1-D tensors stay f32).

/** Real hyperparameters (from the published configs). */
export const RECURRENT_SHAPES = {
  // state-spaces/mamba2-370m: 48 Mamba-2 layers, d_model 1024, d_inner 2048 in 32 heads of 64,
  // d_state 128, one B/C group, conv 4, no FFN; GPT-NeoX's tokenizer (gpt-2's stands in).
  'mamba2-370m': {
    arch: 'mamba2', vocab: 'ggml-vocab-gpt-2.gguf', nEmbd: 1024, nLayer: 48, ctxTrain: 1048576, rmsEps: 1e-5,
    ssm: { conv: 4, inner: 2048, state: 128, heads: 32, groups: 1 },
  },
  // Qwen/Qwen3-Next-80B-A3B's layers (48 in the published model; one period of 4 here: three
  // gated-DeltaNet layers, 16 key heads and 32 value heads of 128, conv 4, then one gated
  // full-attention layer, 16/2 heads of 256 with 64 rotary dims), 512 experts (10 used) of 512
  // plus a sigmoid-gated shared expert of 512 in every layer; qwen2's tokenizer.
  'qwen3-next-80b-a3b-4l': {
    arch: 'qwen3next', vocab: 'ggml-vocab-qwen2.gguf', nEmbd: 2048, nLayer: 4, nHead: 16, nHeadKv: 2, headDim: 256, nRot: 64,
    nFf: 5120, ctxTrain: 262144, ropeBase: 10000000, rmsEps: 1e-6, fullAttnInterval: 4,
    ssm: { conv: 4, inner: 4096, state: 128, heads: 32, groups: 16 },
    moe: { nExpert: 512, nUsed: 10, nFf: 512, nFfShared: 512 },
  },
};

/** The architecture keys (besides the common ones gen-models.mjs writes). */
export function recurrentKeys(a, shape, kv) {
  const { conv, inner, state, heads, groups } = shape.ssm;
  kv(`${a}.ssm.conv_kernel`, 4, conv);
  kv(`${a}.ssm.inner_size`, 4, inner);
  kv(`${a}.ssm.state_size`, 4, state);
  kv(`${a}.ssm.time_step_rank`, 4, heads);
  kv(`${a}.ssm.group_count`, 4, groups);
  if (shape.fullAttnInterval) {
    kv(`${a}.attention.head_count_kv`, 4, shape.nHeadKv);
    kv(`${a}.attention.key_length`, 4, shape.headDim);
    kv(`${a}.attention.value_length`, 4, shape.headDim);
    kv(`${a}.rope.dimension_count`, 4, shape.nRot);
    kv(`${a}.full_attention_interval`, 4, shape.fullAttnInterval);
    kv(`${a}.expert_shared_feed_forward_length`, 4, shape.moe.nFfShared);
  }
}

/** f32 fills: the decay A = -exp(A_log) with A_log = ln(1..16), as the models initialise it. */
function decay(n) {
  return Float32Array.from({ length: n }, (_, i) => -(1 + (i % 16)));
}

/**
 * Layer `il`'s tensors through `add(name, type, ne, fill)`; `main` / `more(il)` are the quant
 * types of ordinary and "more bits" matrices, `randomF32(n, std)` random f32 values.
 */
export function recurrentLayer(shape, il, add, main, more, randomF32) {
  const { nEmbd } = shape;
  const { conv, inner, state, heads, groups } = shape.ssm;
  const b = `blk.${il}.`;
  add(`${b}attn_norm.weight`, 'F32', [nEmbd], 1);
  if (shape.arch === 'mamba2') {
    const ch = inner + 2 * groups * state;
    add(`${b}ssm_in.weight`, main, [nEmbd, inner + ch + heads]);
    add(`${b}ssm_conv1d.weight`, 'F32', [conv, ch], randomF32(conv * ch, 0.2));
    add(`${b}ssm_conv1d.bias`, 'F32', [ch], 0);
    // softplus(-4.6) ~ 0.01: a time step of the trained models' range.
    add(`${b}ssm_dt.bias`, 'F32', [heads], -4.6);
    add(`${b}ssm_a`, 'F32', [1, heads], decay(heads));
    add(`${b}ssm_d`, 'F32', [1, heads], 1);
    add(`${b}ssm_norm.weight`, 'F32', [inner / groups, groups], 1);
    add(`${b}ssm_out.weight`, more(il), [inner, nEmbd]);
    return;
  }
  // qwen3next: gated DeltaNet on every layer but each `fullAttnInterval`-th.
  const { nHead, nHeadKv, headDim } = shape;
  if ((il + 1) % shape.fullAttnInterval !== 0) {
    const qkv = 2 * groups * state + inner;
    add(`${b}attn_qkv.weight`, main, [nEmbd, qkv]);
    add(`${b}attn_gate.weight`, main, [nEmbd, inner]);
    add(`${b}ssm_conv1d.weight`, 'F32', [conv, qkv], randomF32(conv * qkv, 0.2));
    add(`${b}ssm_dt.bias`, 'F32', [heads], 1);
    add(`${b}ssm_a`, 'F32', [heads], decay(heads));
    add(`${b}ssm_ba.weight`, main, [nEmbd, 2 * heads]);
    add(`${b}ssm_norm.weight`, 'F32', [state], 1);
    add(`${b}ssm_out.weight`, more(il), [inner, nEmbd]);
  } else {
    // attn_q holds [q | gate] per head.
    add(`${b}attn_q.weight`, main, [nEmbd, 2 * nHead * headDim]);
    add(`${b}attn_k.weight`, main, [nEmbd, nHeadKv * headDim]);
    add(`${b}attn_v.weight`, more(il), [nEmbd, nHeadKv * headDim]);
    add(`${b}attn_output.weight`, main, [nHead * headDim, nEmbd]);
    add(`${b}attn_q_norm.weight`, 'F32', [headDim], 1);
    add(`${b}attn_k_norm.weight`, 'F32', [headDim], 1);
  }
  add(`${b}post_attention_norm.weight`, 'F32', [nEmbd], 1);
  const { nExpert, nFf, nFfShared } = shape.moe;
  add(`${b}ffn_gate_inp.weight`, 'F32', [nEmbd, nExpert], randomF32(nEmbd * nExpert));
  add(`${b}ffn_gate_exps.weight`, main, [nEmbd, nFf, nExpert]);
  add(`${b}ffn_up_exps.weight`, main, [nEmbd, nFf, nExpert]);
  add(`${b}ffn_down_exps.weight`, more(il), [nFf, nEmbd, nExpert]);
  add(`${b}ffn_gate_inp_shexp.weight`, 'F32', [nEmbd], randomF32(nEmbd));
  add(`${b}ffn_gate_shexp.weight`, main, [nEmbd, nFfShared]);
  add(`${b}ffn_up_shexp.weight`, main, [nEmbd, nFfShared]);
  add(`${b}ffn_down_shexp.weight`, more(il), [nFfShared, nEmbd]);
}
