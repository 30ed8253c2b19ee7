// `loadModel()` and the Model both backends share: tokenizer, detokenizer, chat template.
import { getBackend, type BackendName, type PerplexityResult, type RawModel } from './backend.js';
import { fromBackendError } from './errors.js';
import { LlmSession } from './session.js';
import { LlmBatchScheduler } from './batch.js';
import { fallbackChatTemplate, renderChatTemplate, type ChatMessage } from './chat-template.js';
import { withChatTemplate, type Inspection } from './inspect.js';
import { embed, embedMany } from './embed.js';
import type {
  ApplyChatTemplateOptions,
  BatchScheduler,
  BatchSchedulerOptions,
  ChatTemplateInfo,
  DetokenizeOptions,
  EmbedOptions,
  Embedding,
  Grammar,
  LoadModelOptions,
  Model,
  OffloadInfo,
  Session,
  SessionOptions,
  TokenizeOptions,
} from './types.js';

const utf8 = new TextDecoder('utf-8');
/** Sessions default to the training context, capped: a 128k-context KV cache would not fit. */
const DEFAULT_CONTEXT_CAP = 4096;

/**
 * Ids as the bindings take them (a Uint32Array would silently wrap or truncate anything else).
 * With `nVocab`, also within the vocabulary: for the calls whose engine side renders unknown
 * ids as nothing (detokenize, tokenPiece); evaluation refuses them itself (`MODEL_BAD_TOKEN`).
 */
function toIds(ids: ArrayLike<number>, nVocab?: number): Uint32Array {
  const out = new Uint32Array(ids.length);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) {
      throw new RangeError(`token id ${id} at index ${i} is not a token id (a non-negative 32-bit integer)`);
    }
    if (nVocab !== undefined && id >= nVocab) {
      throw new RangeError(`token id ${id} at index ${i} is not in the vocabulary (0..${nVocab - 1})`);
    }
    out[i] = id;
  }
  return out;
}

/** `tokens` without the BOS the vocabulary added when the text itself began with BOS. */
/** String index ranges as the engine takes them: flat UTF-8 byte offsets. */
function utf8Ranges(text: string, ranges: ReadonlyArray<readonly [number, number]>): Uint32Array {
  const enc = new TextEncoder();
  const points = [...new Set(ranges.flat())].sort((a, b) => a - b);
  const bytes = new Map<number, number>();
  let at = 0;
  let total = 0;
  for (const p of points) {
    const to = Math.max(at, Math.min(p, text.length));
    total += enc.encode(text.slice(at, to)).length;
    at = to;
    bytes.set(p, total);
  }
  return Uint32Array.from(ranges.flatMap(([a, b]) => [bytes.get(a)!, bytes.get(b)!]));
}

export function dropDoubleBos(tokens: number[], bos: number | null): number[] {
  if (bos !== null && tokens.length >= 2 && tokens[0] === bos && tokens[1] === bos) tokens.shift();
  return tokens;
}

export class LlmModel implements Model {
  readonly info: Inspection;
  readonly vocabOnly: boolean;
  readonly nVocab: number;
  readonly contextSize: number;
  readonly bos: number | null;
  readonly eos: number | null;
  readonly chatTemplate: ChatTemplateInfo;
  readonly offload: OffloadInfo | null;
  readonly #eog: Set<number>;
  #raw: RawModel | null;

  constructor(
    raw: RawModel,
    readonly backend: BackendName,
    options: LoadModelOptions,
  ) {
    this.#raw = raw;
    this.offload = raw.offload ?? (options.gpuLayers && backend !== 'native' ? { layers: 0, output: false, tensors: 0, bytes: 0, cpuTensors: 0, cpuTypes: [], error: `OpenCL needs the native backend (this model runs on ${backend}); running on the CPU` } : null);
    this.info = withChatTemplate(backend, JSON.parse(raw.infoJson()) as Omit<Inspection, 'backend' | 'chatTemplate'>);
    this.vocabOnly = options.vocabOnly === true || !raw.hasWeights();
    this.nVocab = raw.nVocab();
    this.bos = raw.bos() ?? null;
    this.eos = raw.eos() ?? null;
    this.#eog = new Set(raw.eogIds());
    const trained = this.info.contextLength ?? DEFAULT_CONTEXT_CAP;
    this.contextSize = options.contextSize ?? Math.min(trained, DEFAULT_CONTEXT_CAP);
    const source = raw.chatTemplate();
    if (source) {
      this.chatTemplate = { source, name: 'gguf', fallback: false };
    } else {
      const specials = new Set(this.info.specialTokens);
      const fb = fallbackChatTemplate(this.info.architecture ?? '', { has: (t) => specials.has(t) });
      this.chatTemplate = { source: fb.template, name: fb.name, fallback: true };
    }
  }

  get raw(): RawModel {
    if (!this.#raw) throw new Error('model is disposed');
    return this.#raw;
  }

  /** Ids as the bindings take them (the engine checks them against the vocabulary). */
  toIds(ids: ArrayLike<number>): Uint32Array {
    return toIds(ids);
  }

  tokenize(text: string, options: TokenizeOptions = {}): number[] {
    const addSpecial = options.addSpecial ?? true;
    const ids =
      options.special && options.plain?.length
        ? this.raw.tokenizeWithPlain(text, addSpecial, utf8Ranges(text, options.plain))
        : this.raw.tokenize(text, addSpecial, options.special ?? false);
    // A plain loop into a sized array: Array.from on a typed array is several times slower.
    const out = new Array<number>(ids.length);
    for (let i = 0; i < ids.length; i++) out[i] = ids[i]!;
    return out;
  }

  tokenizePrompt(text: string, special = true, plain?: TokenizeOptions['plain']): number[] {
    return dropDoubleBos(this.tokenize(text, { special, addSpecial: true, plain }), this.bos);
  }

  detokenize(ids: ArrayLike<number>, options: DetokenizeOptions = {}): string {
    return utf8.decode(this.raw.detokenize(toIds(ids, this.nVocab), options.special ?? false));
  }

  /** The bytes of one token (special tokens shown); streaming decoders join these. */
  tokenBytes(id: number): Uint8Array {
    return this.raw.tokenPiece(toIds([id], this.nVocab)[0]!, true);
  }

  tokenPiece(id: number): string {
    return utf8.decode(this.tokenBytes(id));
  }

  isEndOfGeneration(id: number): boolean {
    return this.#eog.has(id);
  }

  applyChatTemplate(messages: ChatMessage[], options: ApplyChatTemplateOptions = {}): string {
    const piece = (id: number | null) => (id === null ? undefined : this.tokenPiece(id));
    return renderChatTemplate(this.chatTemplate.source, messages, {
      bosToken: piece(this.bos),
      eosToken: piece(this.eos),
      addGenerationPrompt: options.addGenerationPrompt ?? true,
      tools: options.tools,
      extra: options.extra,
      now: options.now,
    });
  }

  createSession(options: SessionOptions = {}): Session {
    // A vocab-only model is refused by the engine (MODEL_NO_WEIGHTS).
    const n = options.contextSize ?? this.contextSize;
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`contextSize must be a positive integer, got ${n}`);
    try {
      return new LlmSession(this, this.raw.createSession(n, options.kvType), this.backend);
    } catch (err) {
      throw fromBackendError(err);
    }
  }

  createBatchScheduler(options: BatchSchedulerOptions = {}): BatchScheduler {
    const int = (name: string, v: number | undefined, fallback: number) => {
      const n = v ?? fallback;
      if (!Number.isInteger(n) || n < 1) throw new RangeError(`${name} must be a positive integer, got ${n}`);
      return n;
    };
    const parallel = int('parallel', options.parallel, 4);
    const contextSize = int('contextSize', options.contextSize, this.contextSize);
    const kvSize = int('kvSize', options.kvSize, contextSize * parallel);
    const batchSize = int('batchSize', options.batchSize, 512);
    try {
      const raw = this.raw.createBatcher(parallel, contextSize, kvSize, options.kvType, batchSize);
      return new LlmBatchScheduler(this, raw, this.backend, parallel, contextSize);
    } catch (err) {
      throw fromBackendError(err);
    }
  }

  /**
   * Compiles `grammar` against this vocabulary without generating: throws `LlmError` with code
   * `GRAMMAR_INVALID` (the message names what is wrong) or `GRAMMAR_UNSUPPORTED`. A server
   * checks a request's grammar this way before it starts answering.
   */
  checkGrammar(grammar: Grammar): void {
    try {
      this.raw.checkGrammar(JSON.stringify(grammar));
    } catch (err) {
      throw fromBackendError(err);
    }
  }

  /**
   * Perplexity of `tokens`: in one context, or with `contextSize` llama.cpp's chunked
   * protocol (`llama-perplexity -c N`: chunks of N starting with BOS, second halves scored).
   */
  async perplexity(tokens: ArrayLike<number>, options: SessionOptions = {}): Promise<PerplexityResult> {
    const ids = this.toIds(tokens); // vocab-only models and unknown ids: refused by the engine
    try {
      return await this.raw.perplexity(ids, options.contextSize ?? null, options.kvType);
    } catch (err) {
      throw fromBackendError(err);
    }
  }

  /** The pooled embedding of a text or token ids (see ts/embed.ts). */
  embed(input: string | ArrayLike<number>, options?: EmbedOptions): Promise<Embedding> {
    return embed(this, input, options);
  }

  embedMany(inputs: Array<string | ArrayLike<number>>, options?: EmbedOptions): Promise<Embedding[]> {
    return embedMany(this, inputs, options);
  }

  dispose(): void {
    this.#raw?.free?.();
    this.#raw = null;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.dispose();
  }
}

/** `gpuLayers: 'all'` as the bindings take it (the largest u32: more than any model's blocks). */
const ALL_LAYERS = 0xffff_ffff;

/** Loads a GGUF model from a path (memory-mapped natively) or from bytes. */
export async function loadModel(source: string | Uint8Array | ArrayBuffer, options: LoadModelOptions = {}): Promise<Model> {
  const backend = await getBackend(options.backend);
  options.onProgress?.({ progress: 0, stage: 'read' });
  const bytes = typeof source === 'string' ? source : source instanceof Uint8Array ? source : new Uint8Array(source);
  if (options.threads !== undefined && !(Number.isInteger(options.threads) && options.threads >= 1)) {
    throw new RangeError(`threads must be a positive integer, got ${options.threads}`);
  }
  const gpuLayers = options.gpuLayers === 'all' ? ALL_LAYERS : options.gpuLayers;
  if (gpuLayers !== undefined && !(Number.isInteger(gpuLayers) && gpuLayers >= 0 && gpuLayers <= ALL_LAYERS)) {
    throw new RangeError(`gpuLayers must be a non-negative integer or 'all', got ${options.gpuLayers}`);
  }
  const raw = await backend.loadModel(bytes, {
    threads: options.threads,
    vocabOnly: options.vocabOnly,
    kvType: options.kvType,
    flashAttn: options.flashAttn,
    rounding: options.rounding,
    gpuLayers,
    device: options.device,
  });
  const model = new LlmModel(raw, backend.name, options);
  options.onProgress?.({ progress: 1, stage: 'ready' });
  return model;
}
