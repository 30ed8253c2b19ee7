// The roadmap shapes of the engine benchmark (gen-models.mjs writes the files): Kimi-Linear's
// hybrid of Kimi delta attention (KDA) and MLA with 256 experts, and Gemma 4 E2B's text model
// (per-layer embeddings, KV-shared layers, local/global layers of different head sizes). Keys
// and tensors are named and shaped as llama.cpp's converter writes them (the tiny fixtures
// models-roadmap/kimi-linear.gguf and gemma4.gguf have the same key and per-layer tensor sets),
// typed as llama-quantize's Q4_K_M leaves them, and with the dimensions gguf keeps after
// llama-quantize (it drops trailing 1s: the KDA convs are 3-D, ssm_a 2-D).

/** Real hyperparameters (from the published configs). */
export const ROADMAP_SHAPES = {
  // moonshotai/Kimi-Linear-48B-A3B-Instruct's layers (27 in the published model; one period of
  // its 3 KDA : 1 MLA pattern here, layer 0 dense as in the model). KDA: 32 heads of 128, short
  // convs of 4 on q, k and v, low-rank (128) decay and output-gate projections. MLA: 32 heads, q
  // without LoRA, kv_lora 512, 128 + 64 q/k dims per head (no rope: llama.cpp runs the arch
  // with rope type none), v 128, in the split attn_k_b / attn_v_b layout. MoE: 256 experts (8
  // used) of 1024 and 1 shared expert, sigmoid router with a selection bias (exp_probs_b),
  // routed scale 2.446; dense FFN 9216. Its kimi-k2 tokenizer (163,840 tokens) has no fixture
  // and no llmplayer pre-tokenizer: qwen2's (151,936) stands in.
  'kimi-linear-48b-a3b-4l': {
    arch: 'kimi-linear', roadmap: 'kimi', vocab: 'ggml-vocab-qwen2.gguf', nEmbd: 2304, nLayer: 4, nHead: 32,
    nFf: 9216, ctxTrain: 1048576, ropeBase: 10000, rmsEps: 1e-5, fullAttnLayers: [3],
    kda: { headDim: 128, conv: 4 },
    mla: { kvLora: 512, nope: 128, rope: 64, v: 128 },
    moe: { nExpert: 256, nUsed: 8, nFf: 1024, nShared: 1, denseLead: 1, scale: 2.446 },
  },
  // google/gemma-4-E2B's text model, all 35 layers: hidden 1536, 8 query heads and 1 KV head;
  // 4 local layers (window 512, head 256, rope base 10k, all dims rotated) to 1 global (head
  // 512, rope base 1M on a quarter of the dims: rope_freqs 1e30 for the rest); the last 20
  // layers have no K/V of their own (they reuse layer 13's or 14's cache) and a double-wide
  // FFN (12288 instead of 6144); per-layer embeddings of 256 per layer (a 262144 × 35·256
  // table, a 1536 → 8960 projection and a gate/projection pair in each layer); q/k norms, a
  // norm after attention, after the FFN and after the per-layer block, a per-layer output
  // scale; GeGLU; tied 262k-token embeddings, final logit softcap 30. The real Gemma 4
  // tokenizer has no fixture: the real Gemma 3 270M's (same 262,144 size, SentencePiece
  // instead of gemma4 BPE) stands in, as for gemma-3-1b.
  'gemma-4-e2b': {
    arch: 'gemma4', roadmap: 'gemma4', vocabModel: 'gemma-3-270m-q4_k_m.gguf', nEmbd: 1536, nLayer: 35, nHead: 8,
    nHeadKv: 1, nFf: 6144, ctxTrain: 131072, ropeBase: 1000000, rmsEps: 1e-6,
    gemma4: {
      headDim: 512, headDimSwa: 256, window: 512, pattern: 5, ropeBaseSwa: 10000, ropeFraction: 0.25,
      sharedKvLayers: 20, perLayer: 256, softcap: 30,
    },
  },
};

const isGlobal = (g, il) => il % g.pattern === g.pattern - 1;

/** Gemma 4's FFN width per layer: double-wide on the KV-shared layers. */
function gemma4Ff(shape) {
  const first = shape.nLayer - shape.gemma4.sharedKvLayers;
  return Array.from({ length: shape.nLayer }, (_, il) => (il < first ? shape.nFf : 2 * shape.nFf));
}

/**
 * The architecture keys besides the common ones gen-models.mjs writes (`kv(key, type, value)`;
 * an array value writes a GGUF array of that element type: 5 int32, 7 bool).
 */
export function roadmapKeys(a, shape, kv) {
  if (shape.roadmap === 'kimi') {
    const { kvLora, nope, rope, v } = shape.mla;
    // 0 marks a KDA (recurrent) layer; the MLA layers are one MQA head of [latent | rope key].
    kv(`${a}.attention.head_count_kv`, 5, Array.from({ length: shape.nLayer }, (_, il) => (shape.fullAttnLayers.includes(il) ? 1 : 0)));
    kv(`${a}.expert_group_used_count`, 4, 1);
    kv(`${a}.expert_gating_func`, 4, 2); // sigmoid
    kv(`${a}.attention.key_length`, 4, kvLora + rope);
    kv(`${a}.attention.value_length`, 4, v);
    kv(`${a}.ssm.conv_kernel`, 4, shape.kda.conv);
    kv(`${a}.kda.head_dim`, 4, shape.kda.headDim);
    kv(`${a}.attention.kv_lora_rank`, 4, kvLora);
    kv(`${a}.rope.dimension_count`, 4, rope);
    kv(`${a}.attention.key_length_mla`, 4, nope + rope);
    kv(`${a}.attention.value_length_mla`, 4, v);
    kv(`${a}.expert_shared_count`, 4, shape.moe.nShared);
    kv(`${a}.leading_dense_block_count`, 4, shape.moe.denseLead);
    kv(`${a}.expert_weights_scale`, 6, shape.moe.scale);
    return;
  }
  const g = shape.gemma4;
  kv(`${a}.attention.head_count_kv`, 4, shape.nHeadKv);
  kv(`${a}.rope.freq_base_swa`, 6, g.ropeBaseSwa);
  kv(`${a}.attention.key_length`, 4, g.headDim);
  kv(`${a}.attention.value_length`, 4, g.headDim);
  kv(`${a}.final_logit_softcapping`, 6, g.softcap);
  kv(`${a}.attention.sliding_window`, 4, g.window);
  kv(`${a}.attention.shared_kv_layers`, 4, g.sharedKvLayers);
  kv(`${a}.embedding_length_per_layer_input`, 4, g.perLayer);
  kv(`${a}.attention.sliding_window_pattern`, 7, Array.from({ length: shape.nLayer }, (_, il) => !isGlobal(g, il)));
  kv(`${a}.attention.key_length_swa`, 4, g.headDimSwa);
  kv(`${a}.attention.value_length_swa`, 4, g.headDimSwa);
  // The global layers "rotate" all dims; rope_freqs keeps 3/4 of them still (1e30).
  kv(`${a}.rope.dimension_count`, 4, g.headDim);
  kv(`${a}.rope.dimension_count_swa`, 4, g.headDimSwa);
}

/** The feed_forward_length value: Gemma 4 stores one width per layer. */
export function roadmapFf(shape) {
  return shape.roadmap === 'gemma4' ? gemma4Ff(shape) : shape.nFf;
}

/**
 * Every tensor of the file through `add(name, type, ne, fill)` (which applies llama-quantize's
 * fallback for rows that are no multiple of 256); `main` is the mix's type, `more(i, n)` Q6_K
 * where Q4_K_M's use_more_bits(i, n) picks it, `randomF32(n, std)` random f32 values.
 */
export function roadmapTensors(shape, nVocab, add, main, more, randomF32) {
  const { nEmbd, nLayer, nHead } = shape;
  if (shape.roadmap === 'kimi') {
    const { headDim, conv } = shape.kda;
    const inner = headDim * nHead;
    const { kvLora, nope, rope, v } = shape.mla;
    const { nExpert, nFf: nFfExp, nShared, denseLead } = shape.moe;
    // Untied: Q4_K_M keeps the embedding at Q4_K and gives the output Q6_K.
    add('token_embd.weight', main, [nEmbd, nVocab]);
    add('output_norm.weight', 'F32', [nEmbd], 1);
    add('output.weight', 'Q6_K', [nEmbd, nVocab]);
    // llama-quantize counts attn_v over the files' attn_v tensors (the KDA layers' only).
    const nKda = nLayer - shape.fullAttnLayers.length;
    let iKda = 0;
    for (let il = 0; il < nLayer; il++) {
      const b = `blk.${il}.`;
      add(`${b}attn_norm.weight`, 'F32', [nEmbd], 1);
      if (!shape.fullAttnLayers.includes(il)) {
        add(`${b}attn_q.weight`, main, [nEmbd, inner]);
        add(`${b}attn_k.weight`, main, [nEmbd, inner]);
        add(`${b}attn_v.weight`, more(iKda++, nKda), [nEmbd, inner]);
        for (const x of ['q', 'k', 'v']) add(`${b}ssm_conv1d_${x}.weight`, 'F32', [conv, 1, inner], randomF32(conv * inner, 0.2));
        add(`${b}ssm_f_a.weight`, main, [nEmbd, headDim]);
        add(`${b}ssm_f_b.weight`, main, [headDim, inner]);
        add(`${b}ssm_beta.weight`, main, [nEmbd, nHead]);
        // -exp(A_log), A_log = ln(1..16) as the models initialise it.
        add(`${b}ssm_a`, 'F32', [1, nHead], Float32Array.from({ length: nHead }, (_, h) => -(1 + (h % 16))));
        add(`${b}ssm_dt.bias`, 'F32', [inner], 0);
        add(`${b}ssm_g_a.weight`, main, [nEmbd, headDim]);
        add(`${b}ssm_g_b.weight`, main, [headDim, inner]);
        add(`${b}ssm_norm.weight`, 'F32', [headDim], 1);
        add(`${b}attn_output.weight`, main, [inner, nEmbd]);
      } else {
        add(`${b}attn_q.weight`, main, [nEmbd, nHead * (nope + rope)]);
        add(`${b}attn_kv_a_mqa.weight`, main, [nEmbd, kvLora + rope]);
        add(`${b}attn_kv_a_norm.weight`, 'F32', [kvLora], 1);
        add(`${b}attn_k_b.weight`, main, [nope, kvLora, nHead]);
        add(`${b}attn_v_b.weight`, main, [kvLora, v, nHead]);
        add(`${b}attn_output.weight`, main, [nHead * v, nEmbd]);
      }
      add(`${b}ffn_norm.weight`, 'F32', [nEmbd], 1);
      if (il < denseLead) {
        add(`${b}ffn_gate.weight`, main, [nEmbd, shape.nFf]);
        add(`${b}ffn_up.weight`, main, [nEmbd, shape.nFf]);
        add(`${b}ffn_down.weight`, more(il, nLayer), [shape.nFf, nEmbd]);
        continue;
      }
      // The router stays f32; random so that tokens spread over the experts, zero selection bias.
      add(`${b}ffn_gate_inp.weight`, 'F32', [nEmbd, nExpert], randomF32(nEmbd * nExpert));
      add(`${b}ffn_gate_exps.weight`, main, [nEmbd, nFfExp, nExpert]);
      add(`${b}ffn_up_exps.weight`, main, [nEmbd, nFfExp, nExpert]);
      add(`${b}ffn_down_exps.weight`, more(il, nLayer), [nFfExp, nEmbd, nExpert]);
      add(`${b}ffn_gate_shexp.weight`, main, [nEmbd, nFfExp * nShared]);
      add(`${b}ffn_up_shexp.weight`, main, [nEmbd, nFfExp * nShared]);
      add(`${b}ffn_down_shexp.weight`, more(il, nLayer), [nFfExp * nShared, nEmbd]);
      add(`${b}exp_probs_b.bias`, 'F32', [nExpert], 0);
    }
    return;
  }
  const g = shape.gemma4;
  const ff = gemma4Ff(shape);
  const nKvLayers = nLayer - g.sharedKvLayers;
  const pl = g.perLayer * nLayer;
  const nRot = (g.headDim * g.ropeFraction) / 2;
  add('rope_freqs.weight', 'F32', [g.headDim / 2], Float32Array.from({ length: g.headDim / 2 }, (_, i) => (i < nRot ? 1 : 1e30)));
  // Tied embeddings: Q4_K_M gives the output's type (Q6_K) to both token tables.
  add('token_embd.weight', 'Q6_K', [nEmbd, nVocab]);
  add('output_norm.weight', 'F32', [nEmbd], 1);
  add('per_layer_token_embd.weight', 'Q6_K', [pl, nVocab]);
  // llama-quantize leaves per_layer_model_proj as converted (f16).
  add('per_layer_model_proj.weight', 'F16', [nEmbd, pl]);
  add('per_layer_proj_norm.weight', 'F32', [g.perLayer], 1);
  for (let il = 0; il < nLayer; il++) {
    const b = `blk.${il}.`;
    const hd = isGlobal(g, il) ? g.headDim : g.headDimSwa;
    // Attention scale is 1: q/k norm weights of hd^-1/4 keep random scores O(1), as the fixture does.
    const qkNorm = hd ** -0.25;
    add(`${b}attn_norm.weight`, 'F32', [nEmbd], 1);
    add(`${b}attn_q.weight`, main, [nEmbd, nHead * hd]);
    add(`${b}attn_q_norm.weight`, 'F32', [hd], qkNorm);
    if (il < nKvLayers) {
      add(`${b}attn_k.weight`, main, [nEmbd, shape.nHeadKv * hd]);
      add(`${b}attn_k_norm.weight`, 'F32', [hd], qkNorm);
      // attn_v exists only in the first nKvLayers layers, so its index is the layer's.
      add(`${b}attn_v.weight`, more(il, nKvLayers), [nEmbd, shape.nHeadKv * hd]);
    }
    add(`${b}attn_output.weight`, main, [nHead * hd, nEmbd]);
    add(`${b}post_attention_norm.weight`, 'F32', [nEmbd], 1);
    add(`${b}ffn_norm.weight`, 'F32', [nEmbd], 1);
    add(`${b}ffn_gate.weight`, main, [nEmbd, ff[il]]);
    add(`${b}ffn_up.weight`, main, [nEmbd, ff[il]]);
    add(`${b}ffn_down.weight`, more(il, nLayer), [ff[il], nEmbd]);
    add(`${b}post_ffw_norm.weight`, 'F32', [nEmbd], 1);
    add(`${b}inp_gate.weight`, main, [nEmbd, g.perLayer]);
    add(`${b}proj.weight`, main, [g.perLayer, nEmbd]);
    add(`${b}post_norm.weight`, 'F32', [nEmbd], 1);
    add(`${b}layer_output_scale.weight`, 'F32', [1], 0.5 + 0.5 * ((il * 7) % 10) / 10);
  }
}
