// Writes random-weight GGUFs with real model shapes for the engine benchmark. Speed does not
// depend on the weights' values, but they are finite and scaled like trained weights (std
// ~0.02) so logits and attention scores stay in range. Quantized blocks are random bytes with
// a fixed f16 scale; norms are 1, biases 0. The tokenizer (every `tokenizer.*` key) is copied
// from the vocab fixtures so both engines load the files as real models.
//
//   node bench/gen-models.mjs [NAME ...] [--force]     (default: every model but the `byName`
//                                                      ones; skips existing)
//
// Models go to bench/models/ (gitignored): ~0.8 GB, 1.3 GB, 0.5 GB, 0.4 GB, 3.3 GB, 2.1 GB,
// 0.8 GB, 0.4 GB (mamba2) and 4.3 GB (qwen3-next); only when named: gpt-oss-20b-mxfp4, 11.8 GB (all 24 layers: it fits a 24 GB machine,
// though llama.cpp's AVX2 repacking of the MXFP4 experts keeps ~10 GB of copies besides the map),
// kimi-linear-48b-a3b-4l-q4_k_m 3.9 GB and gemma-4-e2b-q4_k_m 3.4 GB.
import { randomFillSync } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, statfsSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixtures, modelsDir } from './lib.mjs';
import { RECURRENT_SHAPES, recurrentKeys, recurrentLayer } from './gen-recurrent.mjs';
import { ROADMAP_SHAPES, roadmapFf, roadmapKeys, roadmapTensors } from './gen-roadmap.mjs';

// ggml types: id, block elements, block bytes.
const T = {
  F32: { id: 0, blk: 1, bytes: 4 },
  F16: { id: 1, blk: 1, bytes: 2 },
  Q5_0: { id: 6, blk: 32, bytes: 22 },
  Q8_0: { id: 8, blk: 32, bytes: 34 },
  Q4_K: { id: 12, blk: 256, bytes: 144 },
  Q6_K: { id: 14, blk: 256, bytes: 210 },
  // One E8M0 exponent byte, then 32 4-bit E2M1 codes (ggml-common.h `block_mxfp4`).
  MXFP4: { id: 39, blk: 32, bytes: 17 },
};
// llama.h: LLAMA_FTYPE_MOSTLY_MXFP4_MOE = 38 (experts MXFP4, the other matrices Q8_0).
const FTYPE = { Q8_0: 7, Q4_K_M: 15, MXFP4_MOE: 38 };
const WEIGHT_STD = 0.02;

/** Real hyperparameters (from the published configs). */
const SHAPES = {
  'llama-3.2-1b': {
    arch: 'llama', vocab: 'ggml-vocab-llama-bpe.gguf', nEmbd: 2048, nLayer: 16, nHead: 32, nHeadKv: 8, headDim: 64,
    nFf: 8192, ctxTrain: 131072, ropeBase: 500000, rmsEps: 1e-5, qkvBias: false,
    // Llama 3 rope scaling, stored as `rope_freqs.weight` like convert_hf_to_gguf does.
    llama3Rope: { factor: 32, low: 1, high: 4, origCtx: 8192 },
  },
  'qwen2.5-0.5b': {
    arch: 'qwen2', vocab: 'ggml-vocab-qwen2.gguf', nEmbd: 896, nLayer: 24, nHead: 14, nHeadKv: 2, headDim: 64,
    nFf: 4864, ctxTrain: 32768, ropeBase: 1000000, rmsEps: 1e-6, qkvBias: true,
  },
  // Qwen3-30B-A3B's layers (48 in the published model; 8 here keep a run within minutes).
  'qwen3-30b-a3b-8l': {
    arch: 'qwen3moe', vocab: 'ggml-vocab-qwen2.gguf', nEmbd: 2048, nLayer: 8, nHead: 32, nHeadKv: 4, headDim: 128,
    nFf: 6144, ctxTrain: 40960, ropeBase: 1000000, rmsEps: 1e-6, qkvBias: false, qkNorm: true,
    moe: { nExpert: 128, nUsed: 8, nFf: 768 },
  },
  // DeepSeek-V2-Lite's layers (27 in the published model; 6 here): multi-head latent
  // attention (q without LoRA, kv_lora 512, 128 + 64 rope dims per q/k head, v 128) in the
  // current split `attn_k_b`/`attn_v_b` layout, one dense lead layer, then 64 routed experts
  // (6 used) + 2 shared. YaRN as its config (factor 40, mscale_all_dim 0.707).
  'deepseek-v2-lite-6l': {
    arch: 'deepseek2', vocab: 'ggml-vocab-deepseek-llm.gguf', nEmbd: 2048, nLayer: 6, nHead: 16, nHeadKv: 16, headDim: 128,
    nFf: 10944, ctxTrain: 163840, ropeBase: 10000, rmsEps: 1e-6, qkvBias: false,
    mla: { kvLora: 512, nope: 128, rope: 64, v: 128 },
    moe: { nExpert: 64, nUsed: 6, nFf: 1408, nShared: 2, denseLead: 1 },
    yarn: { factor: 40, origCtx: 4096, logMul: 0.0707 },
  },
  // Gemma 3 1B: 5 sliding-window layers (window 512, rope base 10k) to 1 global (1M), q/k
  // norms, norms after attention and FFN, GeGLU, tied 262k-token embeddings (the tokenizer of
  // the real Gemma 3 270M, fetched by scripts/fetch-models.sh). 1152-wide rows are no
  // multiple of 256, so Q4_K_M falls back to Q5_0 / Q8_0 for them, as llama-quantize does.
  'gemma-3-1b': {
    arch: 'gemma3', vocabModel: 'gemma-3-270m-q4_k_m.gguf', nEmbd: 1152, nLayer: 26, nHead: 4, nHeadKv: 1, headDim: 256,
    nFf: 6912, ctxTrain: 32768, ropeBase: 1000000, rmsEps: 1e-6, qkvBias: false, qkNorm: true,
    gemma: { window: 512, pattern: 6, ropeBaseSwa: 10000 },
  },
  // OpenAI gpt-oss-20b (llama.cpp's `gpt-oss`, src/models/openai-moe.cpp), all 24 layers: 64/8
  // heads × 64 with q/k/v/output biases and a learned sink logit per head, a 128-token window on
  // every other layer (llama.cpp's default pattern of 2 for this arch: the published GGUF has no
  // pattern key), norms before attention and after it (no ffn_norm), 32 experts (4 used) 2880
  // wide with biases and a biased f32 router, YaRN factor 32 from 4096, untied output. The real
  // tokenizer is o200k_harmony (201,088 tokens); there is no fixture of it, so qwen2's (151,936)
  // stands in: the embedding and output are ~25% smaller than the published file's.
  'gpt-oss-20b': {
    arch: 'gpt-oss', vocab: 'ggml-vocab-qwen2.gguf', nEmbd: 2880, nLayer: 24, nHead: 64, nHeadKv: 8, headDim: 64,
    nFf: 2880, ctxTrain: 131072, ropeBase: 150000, rmsEps: 1e-5, qkvBias: true,
    moe: { nExpert: 32, nUsed: 4, nFf: 2880 },
    yarn: { factor: 32, origCtx: 4096 },
    oai: { window: 128 },
  },
  ...RECURRENT_SHAPES,
  ...ROADMAP_SHAPES,
};

/** The benchmark's models: shape + quantization mix. */
export const MODELS = {
  'llama-3.2-1b-q4_k_m': { shape: 'llama-3.2-1b', ftype: 'Q4_K_M' },
  'llama-3.2-1b-q8_0': { shape: 'llama-3.2-1b', ftype: 'Q8_0' },
  'qwen2.5-0.5b-q8_0': { shape: 'qwen2.5-0.5b', ftype: 'Q8_0' },
  // n_embd 896 is not a multiple of 256: llama-quantize falls back to Q5_0 / Q8_0 for the
  // tensors with 896-element rows, so this file is mostly Q5_0 (as the published one).
  'qwen2.5-0.5b-q4_k_m': { shape: 'qwen2.5-0.5b', ftype: 'Q4_K_M' },
  'qwen3-30b-a3b-8l-q4_k_m': { shape: 'qwen3-30b-a3b-8l', ftype: 'Q4_K_M' },
  'deepseek-v2-lite-6l-q4_k_m': { shape: 'deepseek-v2-lite-6l', ftype: 'Q4_K_M' },
  'gemma-3-1b-q4_k_m': { shape: 'gemma-3-1b', ftype: 'Q4_K_M' },
  // llama-quantize's MXFP4_MOE mix (ggml-org's 12.1 GB gpt-oss-20b-mxfp4.gguf has that size with
  // the 201k vocabulary): MXFP4 experts (the published checkpoint's own format), Q8_0 attention,
  // embedding and output, f32 norms, sinks, router and biases. `byName`: only when named
  // (--model): 11.8 GB, and llama.cpp alone takes ~35 s per 512-token prefill on 2 cores.
  'gpt-oss-20b-mxfp4': { shape: 'gpt-oss-20b', ftype: 'MXFP4_MOE', byName: true },
  // Recurrent (issue 15): attention-free Mamba-2, and Qwen3-Next's hybrid of gated DeltaNet
  // and gated attention with 512 experts (gen-recurrent.mjs).
  'mamba2-370m-q8_0': { shape: 'mamba2-370m', ftype: 'Q8_0' },
  'qwen3-next-80b-a3b-4l-q4_k_m': { shape: 'qwen3-next-80b-a3b-4l', ftype: 'Q4_K_M' },
  // Roadmap architectures (gen-roadmap.mjs): Kimi-Linear's KDA/MLA hybrid with 256 experts, and
  // Gemma 4 E2B's text model (per-layer embeddings, KV-shared layers). `byName`: 7.3 GB
  // together, and the Gemma 4 row alone takes ~4 minutes with both engines on 2 cores.
  'kimi-linear-48b-a3b-4l-q4_k_m': { shape: 'kimi-linear-48b-a3b-4l', ftype: 'Q4_K_M', byName: true },
  'gemma-4-e2b-q4_k_m': { shape: 'gemma-4-e2b', ftype: 'Q4_K_M', byName: true },
  // A real model (trained weights), not generated: the file scripts/fetch-models.sh caches.
  'gemma-3-270m-q4_k_m': { real: 'gemma-3-270m-q4_k_m.gguf' },
};

/** The models a run takes when none is named. */
export const DEFAULT_MODELS = Object.keys(MODELS).filter((n) => !MODELS[n].byName);

/** Where scripts/fetch-models.sh caches the real models (same variable, same default). */
function realModelPath(file) {
  const dir = process.env.LLMPLAYER_MODELS ? resolve(process.env.LLMPLAYER_MODELS) : join(homedir(), '.cache', 'llmplayer', 'models');
  const path = join(dir, file);
  if (!existsSync(path)) throw new Error(`${path} not found: run scripts/fetch-models.sh`);
  return path;
}

export function modelPath(name) {
  if (MODELS[name]?.real) return realModelPath(MODELS[name].real);
  return join(modelsDir, `${name}.gguf`);
}

// ---- reading the fixture's tokenizer keys -------------------------------------------------

const SCALAR_BYTES = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

/** Every key-value of a GGUF as raw bytes (key included), by key. */
function readKvs(buf) {
  if (buf.toString('latin1', 0, 4) !== 'GGUF') throw new Error('not a GGUF file');
  let p = 8;
  const nTensors = buf.readBigUInt64LE(p);
  const nKv = Number(buf.readBigUInt64LE(p + 8));
  p += 16;
  const str = () => {
    const n = Number(buf.readBigUInt64LE(p));
    const s = buf.toString('utf8', p + 8, p + 8 + n);
    p += 8 + n;
    return s;
  };
  const skipValue = (type) => {
    if (type === 8) return void str();
    if (type === 9) {
      const et = buf.readUInt32LE(p);
      const n = Number(buf.readBigUInt64LE(p + 4));
      p += 12;
      if (et in SCALAR_BYTES) p += n * SCALAR_BYTES[et];
      else for (let i = 0; i < n; i++) skipValue(et);
      return;
    }
    if (!(type in SCALAR_BYTES)) throw new Error(`bad GGUF value type ${type}`);
    p += SCALAR_BYTES[type];
  };
  const kvs = new Map();
  for (let i = 0; i < nKv; i++) {
    const start = p;
    const key = str();
    const type = buf.readUInt32LE(p);
    p += 4;
    const valueAt = p;
    skipValue(type);
    kvs.set(key, { raw: buf.subarray(start, p), type, valueAt });
  }
  return { kvs, nTensors };
}

function arrayLength(buf, kv) {
  return Number(buf.readBigUInt64LE(kv.valueAt + 4));
}

// ---- writing ------------------------------------------------------------------------------

class Header {
  parts = [];
  n = 0;
  raw(b) {
    this.parts.push(b);
  }
  u32(v) {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.parts.push(b);
  }
  u64(v) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.parts.push(b);
  }
  str(s) {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.parts.push(b);
  }
  kv(key, type, v) {
    this.str(key);
    if (Array.isArray(v)) {
      // An array of int32 (type 5) or bool (type 7) elements.
      this.u32(9);
      this.u32(type);
      this.u64(v.length);
      const b = Buffer.alloc(v.length * (type === 7 ? 1 : 4));
      v.forEach((x, i) => (type === 7 ? b.writeUInt8(x ? 1 : 0, i) : b.writeInt32LE(x, 4 * i)));
      this.parts.push(b);
      this.n++;
      return;
    }
    this.u32(type);
    if (type === 4) this.u32(v);
    else if (type === 6) {
      const b = Buffer.alloc(4);
      b.writeFloatLE(v);
      this.parts.push(b);
    } else if (type === 8) this.str(v);
    else throw new Error(`kv type ${type}`);
    this.n++;
  }
}

function f16(x) {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer)[0];
  const exp = ((u >>> 23) & 0xff) - 127 + 15;
  if (exp <= 0 || exp >= 31) throw new Error(`f16 scale ${x} is out of the normal range`);
  return ((u >>> 16) & 0x8000) | (exp << 10) | ((u >>> 13) & 0x3ff);
}

function largestPrimeBelow(n) {
  const prime = (k) => {
    for (let d = 2; d * d <= k; d++) if (k % d === 0) return false;
    return true;
  };
  while (!prime(n)) n--;
  return n;
}

/**
 * ~64 MiB of valid random blocks of `ty`, scaled to WEIGHT_STD. Tensors repeat the pool; its
 * block count is prime, so rows of a tensor repeat only after that many rows (more than any
 * vocabulary here): no duplicated embedding/output rows, hence no tied logits.
 */
function blockPool(ty, seedByte) {
  const t = T[ty];
  const nBlocks = largestPrimeBelow(Math.floor((64 << 20) / t.bytes));
  const pool = Buffer.alloc(nBlocks * t.bytes);
  randomFillSync(pool);
  if (ty === 'F16') {
    // Values of std WEIGHT_STD, those under f16's normal range flushed to zero.
    const v = randomF32(nBlocks);
    for (let i = 0; i < nBlocks; i++) pool.writeUInt16LE(Math.abs(v[i]) < 2 ** -14 ? 0 : f16(v[i]), 2 * i);
  }
  for (let b = 0; b < nBlocks; b++) {
    const o = b * t.bytes;
    if (ty === 'Q8_0') {
      // x = d * q, q uniform in [-128, 127]: std(q) ~ 73.9.
      pool.writeUInt16LE(f16(WEIGHT_STD / 73.9), o);
    } else if (ty === 'Q4_K') {
      // x = d*sc*q - dmin*m, sc, m in 0..63, q in 0..15: dmin = 7.5 d centres it, std ~ 257 d.
      const d = WEIGHT_STD / 257;
      pool.writeUInt16LE(f16(d), o);
      pool.writeUInt16LE(f16(7.5 * d), o + 2);
    } else if (ty === 'Q5_0') {
      // x = d * (q - 16), q in 0..31: std ~ 9.2.
      pool.writeUInt16LE(f16(WEIGHT_STD / 9.2), o);
    } else if (ty === 'Q6_K') {
      // x = d * sc * (q - 32), sc in [-16, 15] (i8), q in 0..63: std ~ 171 d.
      for (let k = 0; k < 16; k++) pool[o + 192 + k] = (pool[o + 192 + k] & 31) - 16;
      pool.writeUInt16LE(f16(WEIGHT_STD / 171), o + 208);
    } else if (ty === 'MXFP4') {
      // x = kvalues_mxfp4[q] * ggml_e8m0_to_fp32_half(e) = k * 2^(e-128), k = 2 × the E2M1 value
      // (0, ±1, ±2, ±3, ±4, ±6, ±8, ±12), q uniform: std(k) ~ 5.85; e = 120 gives std ~ 0.023.
      pool[o] = 120;
    }
  }
  pool[0] ^= seedByte; // pools of the same type differ per file
  return pool;
}

function llama3RopeFactors(shape) {
  const { factor, low, high, origCtx } = shape.llama3Rope;
  const out = new Float32Array(shape.headDim / 2);
  for (let i = 0; i < out.length; i++) {
    const freq = 1 / shape.ropeBase ** ((2 * i) / shape.headDim);
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen < origCtx / high) out[i] = 1;
    else if (wavelen > origCtx / low) out[i] = factor;
    else {
      const smooth = (origCtx / wavelen - low) / (high - low);
      out[i] = 1 / ((1 - smooth) / factor + smooth);
    }
  }
  return out;
}

/** llama.cpp's `use_more_bits`: the layers Q4_K_M gives Q6_K for attn_v and ffn_down. */
function useMoreBits(i, n) {
  return i < n / 8 || i >= (7 * n) / 8 || (i - Math.floor(n / 8)) % 3 === 2;
}

/** `n` f32 values of standard deviation `std` (a sum of uniforms), for f32 matrices. */
function randomF32(n, std = WEIGHT_STD) {
  const bytes = Buffer.alloc(4 * n);
  randomFillSync(bytes);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = (bytes[4 * i] + bytes[4 * i + 1] + bytes[4 * i + 2] - 382.5) / 127.7; // ~unit std
    out[i] = u * std;
  }
  return out;
}

function tensorList(shape, ftype, nVocab) {
  const { nEmbd, nLayer, nHead, nHeadKv, headDim, nFf } = shape;
  const q4km = ftype === 'Q4_K_M';
  const main = q4km ? 'Q4_K' : 'Q8_0';
  const more = (il, n = nLayer) => (q4km && useMoreBits(il, n) ? 'Q6_K' : main);
  // MXFP4_MOE: llama-quantize gives MXFP4 to the 3-D expert tensors only, Q8_0 to the rest.
  const exps = ftype === 'MXFP4_MOE' ? 'MXFP4' : null;
  const list = [];
  // llama-quantize's fallback for rows that are not a multiple of the K-quant block (256).
  const FALLBACK = { Q4_K: 'Q5_0', Q6_K: 'Q8_0' };
  const add = (name, type, ne, fill) => list.push({ name, type: ne[0] % 256 && FALLBACK[type] ? FALLBACK[type] : type, ne, fill });
  if (shape.roadmap) {
    roadmapTensors(shape, nVocab, add, main, more, randomF32);
    return list;
  }
  // Tied embeddings (no output.weight): llama.cpp's Q4_K_M stores token_embd as Q6_K then.
  add('token_embd.weight', q4km ? 'Q6_K' : main, [nEmbd, nVocab]);
  add('output_norm.weight', 'F32', [nEmbd], 1);
  // gpt-oss requires its own output matrix (openai-moe.cpp loads it without a fallback).
  if (shape.oai) add('output.weight', main, [nEmbd, nVocab]);
  if (shape.llama3Rope) add('rope_freqs.weight', 'F32', [headDim / 2], llama3RopeFactors(shape));
  for (let il = 0; il < nLayer; il++) {
    const b = `blk.${il}.`;
    if (shape.ssm) {
      recurrentLayer(shape, il, add, main, more, randomF32);
      continue;
    }
    add(`${b}attn_norm.weight`, 'F32', [nEmbd], 1);
    if (shape.mla) {
      const { kvLora, nope, rope, v } = shape.mla;
      add(`${b}attn_q.weight`, main, [nEmbd, nHead * (nope + rope)]);
      add(`${b}attn_kv_a_mqa.weight`, main, [nEmbd, kvLora + rope]);
      add(`${b}attn_kv_a_norm.weight`, 'F32', [kvLora], 1);
      add(`${b}attn_k_b.weight`, main, [nope, kvLora, nHead]);
      add(`${b}attn_v_b.weight`, more(il), [kvLora, v, nHead]);
      add(`${b}attn_output.weight`, main, [nHead * v, nEmbd]);
      add(`${b}ffn_norm.weight`, 'F32', [nEmbd], 1);
      if (il < shape.moe.denseLead) {
        add(`${b}ffn_gate.weight`, main, [nEmbd, nFf]);
        add(`${b}ffn_up.weight`, main, [nEmbd, nFf]);
        add(`${b}ffn_down.weight`, more(il), [nFf, nEmbd]);
      } else {
        const { nExpert, nFf: nFfExp, nShared } = shape.moe;
        add(`${b}ffn_gate_inp.weight`, 'F32', [nEmbd, nExpert], randomF32(nEmbd * nExpert));
        add(`${b}ffn_gate_exps.weight`, main, [nEmbd, nFfExp, nExpert]);
        add(`${b}ffn_up_exps.weight`, main, [nEmbd, nFfExp, nExpert]);
        add(`${b}ffn_down_exps.weight`, more(il), [nFfExp, nEmbd, nExpert]);
        add(`${b}ffn_gate_shexp.weight`, main, [nEmbd, nFfExp * nShared]);
        add(`${b}ffn_up_shexp.weight`, main, [nEmbd, nFfExp * nShared]);
        add(`${b}ffn_down_shexp.weight`, more(il), [nFfExp * nShared, nEmbd]);
      }
      continue;
    }
    add(`${b}attn_q.weight`, main, [nEmbd, nHead * headDim]);
    add(`${b}attn_k.weight`, main, [nEmbd, nHeadKv * headDim]);
    add(`${b}attn_v.weight`, more(il), [nEmbd, nHeadKv * headDim]);
    if (shape.qkvBias) {
      add(`${b}attn_q.bias`, 'F32', [nHead * headDim], 0);
      add(`${b}attn_k.bias`, 'F32', [nHeadKv * headDim], 0);
      add(`${b}attn_v.bias`, 'F32', [nHeadKv * headDim], 0);
    }
    if (shape.qkNorm) {
      add(`${b}attn_q_norm.weight`, 'F32', [headDim], 1);
      add(`${b}attn_k_norm.weight`, 'F32', [headDim], 1);
    }
    add(`${b}attn_output.weight`, main, [nHead * headDim, nEmbd]);
    if (shape.oai) {
      add(`${b}attn_output.bias`, 'F32', [nEmbd], 0);
      // One learned logit per head that joins each softmax (llama.cpp's `attn_sinks`): O(1), as
      // trained ones are, so that it takes a real share of the attention.
      add(`${b}attn_sinks.weight`, 'F32', [nHead], randomF32(nHead, 1));
    }
    if (shape.gemma || shape.oai) add(`${b}post_attention_norm.weight`, 'F32', [nEmbd], 1);
    // gpt-oss normalises the FFN input with post_attention_norm alone.
    if (!shape.oai) add(`${b}ffn_norm.weight`, 'F32', [nEmbd], 1);
    if (shape.gemma) add(`${b}post_ffw_norm.weight`, 'F32', [nEmbd], 1);
    if (shape.moe) {
      // The router stays f32 (as llama-quantize leaves it); its weights are random so that
      // tokens spread over the experts.
      const { nExpert, nFf: nFfExp } = shape.moe;
      add(`${b}ffn_gate_inp.weight`, 'F32', [nEmbd, nExpert], randomF32(nEmbd * nExpert));
      add(`${b}ffn_gate_exps.weight`, exps ?? main, [nEmbd, nFfExp, nExpert]);
      add(`${b}ffn_up_exps.weight`, exps ?? main, [nEmbd, nFfExp, nExpert]);
      add(`${b}ffn_down_exps.weight`, exps ?? more(il), [nFfExp, nEmbd, nExpert]);
      if (shape.oai) {
        // Zero biases: the random router weights alone spread the tokens over the experts.
        add(`${b}ffn_gate_inp.bias`, 'F32', [nExpert], 0);
        add(`${b}ffn_gate_exps.bias`, 'F32', [nFfExp, nExpert], 0);
        add(`${b}ffn_up_exps.bias`, 'F32', [nFfExp, nExpert], 0);
        add(`${b}ffn_down_exps.bias`, 'F32', [nEmbd, nExpert], 0);
      }
    } else {
      add(`${b}ffn_gate.weight`, main, [nEmbd, nFf]);
      add(`${b}ffn_up.weight`, main, [nEmbd, nFf]);
      add(`${b}ffn_down.weight`, more(il), [nFf, nEmbd]);
    }
  }
  return list;
}

function tensorBytes(t) {
  const ty = T[t.type];
  const n = t.ne.reduce((a, b) => a * b, 1);
  if (t.ne[0] % ty.blk) throw new Error(`${t.name}: ${t.ne[0]} columns are not a multiple of ${ty.blk}`);
  return (n / ty.blk) * ty.bytes;
}

const ALIGN = 32;
const pad = (n) => (ALIGN - (n % ALIGN)) % ALIGN;

export function generate(name, { force = false, log = console.log } = {}) {
  const spec = MODELS[name];
  if (!spec) throw new Error(`unknown model ${name}; known: ${Object.keys(MODELS).join(', ')}`);
  const path = modelPath(name);
  if (spec.real || (existsSync(path) && !force)) return path;
  const shape = SHAPES[spec.shape];
  const vocabBuf = readFileSync(shape.vocabModel ? realModelPath(shape.vocabModel) : join(fixtures, 'vocab', shape.vocab));
  const { kvs } = readKvs(vocabBuf);
  const tokens = kvs.get('tokenizer.ggml.tokens');
  if (!tokens) throw new Error(`${shape.vocab} has no tokenizer.ggml.tokens`);
  const nVocab = arrayLength(vocabBuf, tokens);
  const tensors = tensorList(shape, spec.ftype, nVocab);
  const dataBytes = tensors.reduce((s, t) => s + tensorBytes(t) + pad(tensorBytes(t)), 0);

  mkdirSync(modelsDir, { recursive: true });
  const fs = statfsSync(modelsDir);
  const free = fs.bavail * fs.bsize;
  if (free < dataBytes + (2 << 30)) {
    throw new Error(`${name} needs ${(dataBytes / 2 ** 30).toFixed(2)} GiB; ${(free / 2 ** 30).toFixed(1)} GiB free in ${modelsDir}`);
  }
  log(`writing ${path} (${(dataBytes / 2 ** 30).toFixed(2)} GiB, ${tensors.length} tensors, vocab ${nVocab})`);

  const a = shape.arch;
  const h = new Header();
  h.kv('general.architecture', 8, a);
  h.kv('general.name', 8, `${name} (random weights, llmplayer bench)`);
  h.kv('general.file_type', 4, FTYPE[spec.ftype]);
  h.kv('general.alignment', 4, ALIGN);
  h.kv(`${a}.vocab_size`, 4, nVocab);
  h.kv(`${a}.context_length`, 4, shape.ctxTrain);
  h.kv(`${a}.embedding_length`, 4, shape.nEmbd);
  h.kv(`${a}.block_count`, 4, shape.nLayer);
  h.kv(`${a}.feed_forward_length`, shape.roadmap === 'gemma4' ? 5 : 4, shape.roadmap ? roadmapFf(shape) : (shape.nFf ?? 0));
  h.kv(`${a}.attention.head_count`, 4, shape.nHead ?? 0);
  if (shape.ssm) {
    recurrentKeys(a, shape, (k, t, v) => h.kv(k, t, v));
  } else if (shape.roadmap) {
    roadmapKeys(a, shape, (k, t, v) => h.kv(k, t, v));
  } else if (shape.mla) {
    // The split layout's MQA view: one KV head of [latent | rope key], V the latent.
    const { kvLora, nope, rope, v } = shape.mla;
    h.kv(`${a}.attention.head_count_kv`, 4, 1);
    h.kv(`${a}.attention.key_length`, 4, kvLora + rope);
    h.kv(`${a}.attention.value_length`, 4, kvLora);
    h.kv(`${a}.attention.key_length_mla`, 4, nope + rope);
    h.kv(`${a}.attention.value_length_mla`, 4, v);
    h.kv(`${a}.attention.kv_lora_rank`, 4, kvLora);
    // llama.cpp lets only 26/27-layer files omit it.
    h.kv(`${a}.attention.q_lora_rank`, 4, 0);
    h.kv(`${a}.rope.dimension_count`, 4, rope);
    h.kv(`${a}.leading_dense_block_count`, 4, shape.moe.denseLead);
    h.kv(`${a}.expert_shared_count`, 4, shape.moe.nShared);
    h.kv(`${a}.expert_weights_scale`, 6, 1.0);
    h.kv(`${a}.expert_gating_func`, 4, 1);
  } else {
    h.kv(`${a}.attention.head_count_kv`, 4, shape.nHeadKv);
    h.kv(`${a}.attention.key_length`, 4, shape.headDim);
    h.kv(`${a}.attention.value_length`, 4, shape.headDim);
    h.kv(`${a}.rope.dimension_count`, 4, shape.headDim);
  }
  if (shape.yarn) {
    h.kv(`${a}.rope.scaling.type`, 8, 'yarn');
    h.kv(`${a}.rope.scaling.factor`, 6, shape.yarn.factor);
    h.kv(`${a}.rope.scaling.original_context_length`, 4, shape.yarn.origCtx);
    // gpt-oss's published GGUF has no log multiplier (llama.cpp then uses the plain YaRN mscale).
    if (shape.yarn.logMul !== undefined) h.kv(`${a}.rope.scaling.yarn_log_multiplier`, 6, shape.yarn.logMul);
  }
  if (shape.ropeBase) h.kv(`${a}.rope.freq_base`, 6, shape.ropeBase);
  h.kv(`${a}.attention.layer_norm_rms_epsilon`, 6, shape.rmsEps);
  if (shape.gemma) {
    h.kv(`${a}.attention.sliding_window`, 4, shape.gemma.window);
    h.kv(`${a}.attention.sliding_window_pattern`, 4, shape.gemma.pattern);
    h.kv(`${a}.rope.freq_base_swa`, 6, shape.gemma.ropeBaseSwa);
  }
  if (shape.oai) h.kv(`${a}.attention.sliding_window`, 4, shape.oai.window);
  if (shape.moe) {
    h.kv(`${a}.expert_count`, 4, shape.moe.nExpert);
    h.kv(`${a}.expert_used_count`, 4, shape.moe.nUsed);
    h.kv(`${a}.expert_feed_forward_length`, 4, shape.moe.nFf);
  }
  for (const [key, kv] of kvs) {
    if (key.startsWith('tokenizer.')) {
      h.raw(kv.raw);
      h.n++;
    }
  }
  let offset = 0;
  for (const t of tensors) {
    h.str(t.name);
    h.u32(t.ne.length);
    for (const d of t.ne) h.u64(d);
    h.u32(T[t.type].id);
    h.u64(offset);
    t.offset = offset;
    offset += tensorBytes(t) + pad(tensorBytes(t));
  }
  const head = Buffer.alloc(24);
  head.write('GGUF', 0, 'latin1');
  head.writeUInt32LE(3, 4);
  head.writeBigUInt64LE(BigInt(tensors.length), 8);
  head.writeBigUInt64LE(BigInt(h.n), 16);
  let header = Buffer.concat([head, ...h.parts]);
  header = Buffer.concat([header, Buffer.alloc(pad(header.length))]);

  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, header);
    const pools = {};
    let written = 0;
    let lastLog = 0;
    for (const t of tensors) {
      const n = tensorBytes(t);
      if (t.type === 'F32') {
        const v = t.fill instanceof Float32Array ? t.fill : new Float32Array(n / 4).fill(t.fill);
        writeSync(fd, Buffer.from(v.buffer, v.byteOffset, v.byteLength));
      } else {
        const pool = (pools[t.type] ??= blockPool(t.type, Object.keys(pools).length + 1));
        const blk = T[t.type].bytes;
        // Start each tensor at a different block of the pool.
        let at = ((t.offset / blk) % (pool.length / blk) | 0) * blk;
        for (let left = n; left > 0; ) {
          const k = Math.min(left, pool.length - at);
          writeSync(fd, pool, at, k);
          left -= k;
          at = 0;
        }
      }
      if (pad(n)) writeSync(fd, Buffer.alloc(pad(n)));
      written += n + pad(n);
      if (written - lastLog > 256 << 20) {
        lastLog = written;
        log(`  ${((100 * written) / dataBytes).toFixed(0)}%`);
      }
    }
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  return path;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const force = argv.includes('--force');
  const names = argv.filter((a) => !a.startsWith('--'));
  for (const name of names.length ? names : DEFAULT_MODELS) generate(name, { force });
}
