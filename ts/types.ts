// The SDK's model and session contracts, shared by both backends, the CLI and the server.
// No `node:` imports: the Hono app depends on these types on edge runtimes.
import type { BackendName } from './backend.js';
import type { ChatMessage, ChatTool } from './chat-template.js';
import type { Inspection } from './inspect.js';

export interface LoadProgress {
  /** 0..1 */
  progress: number;
  stage: 'read' | 'parse' | 'weights' | 'ready';
}

/**
 * Element type of a session's KV cache (llama.cpp's `-ctk/-ctv`): `f32` (the default; exact
 * against llama.cpp's f32-cache references), `f16` (half the memory; q, K, V and the attention
 * probabilities rounded to f16 as llama.cpp does for an F16 cache) or `q8_0` (about a quarter
 * of f32: K and V in 8-bit blocks of 32; needs head sizes that are multiples of 32). Checked by
 * the engine: anything else fails with `LlmError` code `MODEL_KV_TYPE_UNSUPPORTED`.
 */
export type KvType = 'f32' | 'f16' | 'q8_0';

/** See `LoadModelOptions.rounding`. */
export type Rounding = 'avx2' | 'avx512';

export interface SessionOptions {
  /** Context size (tokens). Default: the model's `contextSize`. */
  contextSize?: number;
  /** KV cache type. Default: the model's (`LoadModelOptions.kvType`, else `f32`). */
  kvType?: KvType;
}

export interface LoadModelOptions {
  /** Default: native when its binary loads, else WASM (or `LLMPLAYER_BACKEND`). */
  backend?: BackendName | 'auto';
  /** Native compute threads (default: physical cores). WASM is single-threaded. */
  threads?: number;
  /** Default context size of sessions (default: the model's training context, capped at 4096). */
  contextSize?: number;
  /**
   * Default KV cache type of this model's sessions and perplexity runs (default `f32`).
   * Validated at load against the model (`q8_0` needs head sizes that are multiples of 32).
   */
  kvType?: KvType;
  /**
   * Round attention as llama.cpp's flash attention does (`-fa on`, its default on the CPU)
   * instead of its two-pass softmax (`-fa off`, the default here). llama.cpp's flash attention
   * reads K and V as f16 whatever the cache type, so an `f32` cache is kept as `f16` in this
   * mode. The same attention up to rounding; use it to reproduce `llama-perplexity` numbers.
   */
  flashAttn?: boolean;
  /**
   * Which llama.cpp x86 build's rounding to reproduce where builds differ (the vector exp under
   * softmax and SiLU): `avx2` (the default, on every machine and in WASM: the common
   * x86-64-v3 build) or `avx512` (exact for flash attention; the two-pass attention's f32 dot
   * products keep the AVX2 order). Anything else fails with code `MODEL_ROUNDING_UNKNOWN`.
   */
  rounding?: Rounding;
  /** Load only the tokenizer and template (a vocab-only GGUF always loads this way). */
  vocabOnly?: boolean;
  /**
   * Layers whose matrix products run on an OpenCL device (llama.cpp's `-ngl`: the last N
   * blocks, plus the output projection when N exceeds the block count; `'all'` for every one).
   * Native backend only. Default 0 (the CPU): the device takes each product with its weights
   * uploaded once, but activations still go there and back per product; whole layers on the
   * device come next. `model.offload` says what was taken, or why nothing was (no OpenCL
   * runtime or device: the model runs on the CPU, the load does not fail).
   */
  gpuLayers?: number | 'all';
  /** Which OpenCL device: its index in `listDevices()` or part of its name (default: the first GPU, else the first device; env `LLMPLAYER_OPENCL_DEVICE`). */
  device?: string;
  onProgress?: (p: LoadProgress) => void;
}

export interface TokenizeOptions {
  /** Recognise special tokens (`<|im_start|>` …) written in the text. Default false. */
  special?: boolean;
  /** Add BOS/EOS as the vocabulary asks. Default true. */
  addSpecial?: boolean;
  /**
   * With `special`: string index ranges `[start, end)` where control tokens are not
   * recognised (text that must stay text, such as message content in a rendered template).
   */
  plain?: ReadonlyArray<readonly [number, number]>;
}

/** How `embed` combines the positions' hidden states (llama.cpp's pooling types). */
export type Pooling = 'mean' | 'cls' | 'last';

export interface EmbedOptions {
  /** Scale the vector to unit length (L2), after `dimensions`. Default true. */
  normalize?: boolean;
  /** Default: the model's own (`{arch}.pooling_type`), `mean` when the file has none. */
  pooling?: Pooling;
  /** Keep only the first N dimensions (1..=n_embd), then normalize (OpenAI's `dimensions`). */
  dimensions?: number;
  /** The longest input accepted, in tokens. Default: the model's `contextSize`. */
  contextSize?: number;
}

/** One input's embedding. */
export interface Embedding {
  /** (n_embd,) or (dimensions,): the pooled hidden state after the output norm. */
  embedding: Float32Array;
  /** Tokens the input came to (a string as `tokenize(text)` gives them). */
  nTokens: number;
}

export interface DetokenizeOptions {
  /** Render special tokens as their text instead of dropping them. Default false. */
  special?: boolean;
}

export interface ApplyChatTemplateOptions {
  addGenerationPrompt?: boolean;
  tools?: ChatTool[] | null;
  /** Extra template variables (`enable_thinking`, …). */
  extra?: Record<string, unknown>;
  now?: Date;
}

export interface ChatTemplateInfo {
  source: string;
  /** `gguf` when the file carries `tokenizer.chat_template`, else the fallback's name. */
  name: string;
  fallback: boolean;
}

export interface SamplingOptions {
  /** 0 = greedy. Default 0.8. */
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  repeatPenalty?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  /** Window of recent tokens the penalties look at. Default 64. */
  penaltyLastN?: number;
  /** Token id → bias added to its logit (-Infinity bans it). */
  logitBias?: Record<number, number>;
  seed?: number;
}

/**
 * A grammar the generated text must follow (constrained decoding, by llguidance): every token
 * is drawn from those that keep the text inside the grammar, and once the grammar is complete
 * the generation ends (`finishReason: 'stop'`). A grammar the engine cannot compile (bad syntax,
 * an unsupported JSON Schema keyword, over 256 KiB of text) fails `generate` with `LlmError`
 * code `GRAMMAR_INVALID`; one that fails mid-generation (a limit hit) with `GRAMMAR_FAILED`.
 * - `json_schema`: JSON valid under `schema`, written compactly (`{"a": 1, "b": [2, 3]}`).
 *   `strict` (default true): unsupported keywords are an error; `false` ignores them.
 * - `json_object`: any JSON object.
 * - `lark`: llguidance's Lark dialect; `%json { ... }` embeds a JSON Schema.
 * - `regex`: the whole output matches the pattern (Rust `regex` syntax).
 */
export type Grammar =
  | { type: 'json_schema'; schema: object | boolean; strict?: boolean }
  | { type: 'json_object' }
  | { type: 'lark'; grammar: string }
  | { type: 'regex'; pattern: string };

export interface GenerateOptions extends SamplingOptions {
  /** Constrain the output to a grammar (see `Grammar`). Logprobs stay those of the raw logits. */
  grammar?: Grammar;
  /**
   * Token ids whose text appears in the output even though they are control tokens, normally
   * hidden (llama.cpp's "preserved tokens": Mistral's `[TOOL_CALLS]`, a tool-call parser needs it).
   */
  preserveTokens?: readonly number[];
  /**
   * Report each token's log-probability (`logprob` on chunks, `logprobs` on the result).
   * Natural log under the model's raw distribution (softmax of its logits, before logit bias,
   * penalties, filters and temperature; vLLM's default), identical on both backends.
   * Default false; never changes which tokens are drawn.
   */
  logprobs?: boolean;
  /** Also report the N most likely tokens at each step, 0..=20 (OpenAI's range); implies `logprobs`. */
  topLogprobs?: number;
  /** Default: until an end-of-generation token or the context is full. */
  maxTokens?: number;
  /** Strings that end generation; matched across token boundaries and not emitted. */
  stop?: string[];
  signal?: AbortSignal;
  /** For string prompts: parse special tokens written in the prompt. Default true. */
  special?: boolean;
  /**
   * For string prompts: add BOS as the vocabulary asks (when the prompt does not already start
   * with it, as a rendered chat template does; see `Model.tokenizePrompt`). Default true.
   */
  addSpecial?: boolean;
}

/** A token and its log-probability (natural log). */
export interface TokenLogprob {
  id: number;
  logprob: number;
}

/** One generated token's logprob and the most likely alternatives at its position. */
export interface TokenLogprobs {
  token: number;
  logprob: number;
  /** `topLogprobs` entries, logprob descending then id ascending; [] when not asked for. */
  topLogprobs: TokenLogprob[];
}

/** One generated token and the text it completes (may be '' while UTF-8 is incomplete). */
export interface GenerateChunk {
  token: number;
  text: string;
  /** With `logprobs` (or `topLogprobs`): the token's logprob. */
  logprob?: number;
  /** With `logprobs` (or `topLogprobs`): the `topLogprobs` most likely tokens here ([] for 0). */
  topLogprobs?: TokenLogprob[];
}

export type FinishReason = 'stop' | 'length' | 'abort';

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  /**
   * Prompt tokens the session's KV cache already held, counted by the engine (at most
   * `promptTokens - 1`: the last one is evaluated again for its logits).
   */
  cachedTokens: number;
}

export interface Timings {
  promptMs: number;
  generateMs: number;
  promptTokensPerSecond: number;
  generateTokensPerSecond: number;
}

/** The last item of `generate()`. */
export interface GenerateResult {
  text: string;
  tokens: number[];
  finishReason: FinishReason;
  usage: Usage;
  timings: Timings;
  /** With `logprobs` (or `topLogprobs`): one entry per item of `tokens`. */
  logprobs?: TokenLogprobs[];
  /** The `stop` string that ended the generation (`finishReason: 'stop'`), when one did. */
  stopSequence?: string;
}

export interface EvaluateOptions {
  /** Return logits for every position (rows of nVocab), not only the last. */
  allLogits?: boolean;
}

export interface Session {
  readonly contextSize: number;
  /** The KV cache's element type. */
  readonly kvType: KvType;
  /**
   * Bytes the KV cache takes per context position (all layers, K and V); the cache holds
   * `contextSize` of them, allocated when the session is created.
   */
  readonly kvBytesPerToken: number;
  /** Tokens currently held in the KV cache. */
  readonly nPast: number;
  /**
   * Tokens of `prompt` a generation would take from this session's cache instead of computing:
   * the shared prefix with what it holds, as far as its memory can return there (a recurrent
   * model's state returns only to the end of an earlier prompt, or to its live end).
   */
  reusablePrefix(prompt: ArrayLike<number>): number;
  /**
   * Streams `{ token, text }` items and ends with a `GenerateResult`. A prompt sharing a prefix
   * with what the session already evaluated reuses that part of the cache.
   */
  generate(prompt: string | ArrayLike<number>, options?: GenerateOptions): AsyncIterable<GenerateChunk | GenerateResult>;
  /** Runs `generate` to the end and returns its result. */
  complete(prompt: string | ArrayLike<number>, options?: GenerateOptions): Promise<GenerateResult>;
  /** Evaluates tokens (appending to the cache, reusing a common prefix) and returns logits. */
  evaluate(tokens: ArrayLike<number>, options?: EvaluateOptions): Promise<Float32Array>;
  clear(): void;
  dispose(): void;
}

export interface BatchSchedulerOptions {
  /** Sequences decoded together in one forward pass. Default 4. */
  parallel?: number;
  /** Positions each sequence can hold (prompt plus generated). Default: the model's `contextSize`. */
  contextSize?: number;
  /**
   * KV cache positions shared by all sequences. Default `contextSize * parallel`. A request is
   * admitted when its prompt plus `maxTokens` (at most `contextSize`) fits beside the running
   * ones; until then it waits, in arrival order.
   */
  kvSize?: number;
  /** KV cache type. Default: the model's. */
  kvType?: KvType;
  /** Rows per forward pass (decode rows first, prompt chunks in the rest). Default 512. */
  batchSize?: number;
}

/** What a scheduler holds now. */
export interface BatchStats {
  /** Generations running (admitted, not finished). */
  active: number;
  /** Generations waiting for a sequence or KV room. */
  waiting: number;
  /** The KV budget, in positions. */
  kvSize: number;
  /** Positions allocated to running generations. */
  kvActive: number;
  /** Positions allocated in all: running, and finished ones kept as a prefix cache (given back on demand). */
  kvAllocated: number;
  /** Bytes the KV cache holds. */
  kvBytes: number;
}

/**
 * Continuous batching: concurrent `generate` calls share one forward pass per token (each with
 * its own sampler, seed, stops and signal), prompts are prefilled in chunks beside running
 * streams, and a prompt sharing a prefix with cached cells (another request's system prompt, a
 * conversation's earlier turns) reuses them (`usage.cachedTokens`).
 */
export interface BatchScheduler {
  readonly parallel: number;
  readonly contextSize: number;
  readonly stats: BatchStats;
  /** As `Session.generate`; runs beside every other generation of this scheduler. */
  generate(prompt: string | ArrayLike<number>, options?: GenerateOptions): AsyncIterable<GenerateChunk | GenerateResult>;
  complete(prompt: string | ArrayLike<number>, options?: GenerateOptions): Promise<GenerateResult>;
  /** Ends every generation (`finishReason: 'abort'`) and frees the KV cache. */
  dispose(): void;
}

export interface Model {
  readonly backend: BackendName;
  readonly info: Inspection;
  /** What `gpuLayers` got (null when none were asked for). */
  readonly offload?: OffloadInfo | null;
  readonly vocabOnly: boolean;
  readonly nVocab: number;
  readonly contextSize: number;
  readonly bos: number | null;
  readonly eos: number | null;
  readonly chatTemplate: ChatTemplateInfo;
  tokenize(text: string, options?: TokenizeOptions): number[];
  /**
   * A prompt's tokens as generation takes them: special tokens parsed (unless `special` is
   * false), BOS added as the vocabulary asks unless the text already starts with one (a chat
   * template that writes `bos_token`), so never two BOS.
   */
  tokenizePrompt(text: string, special?: boolean, plain?: TokenizeOptions['plain']): number[];
  detokenize(ids: ArrayLike<number>, options?: DetokenizeOptions): string;
  /** The text of one token (special tokens shown). */
  tokenPiece(id: number): string;
  /** The bytes of one token (special tokens shown): a piece may be part of a UTF-8 character. */
  tokenBytes?(id: number): Uint8Array;
  isEndOfGeneration(id: number): boolean;
  /** Compiles a grammar without generating; throws `LlmError` `GRAMMAR_INVALID` / `GRAMMAR_UNSUPPORTED`. */
  checkGrammar?(grammar: Grammar): void;
  applyChatTemplate(messages: ChatMessage[], options?: ApplyChatTemplateOptions): string;
  createSession(options?: SessionOptions): Session;
  /** A continuous-batching scheduler (present on every model `loadModel` returns). */
  createBatchScheduler?(options?: BatchSchedulerOptions): BatchScheduler;
  /** Perplexity of a token list, in one context or llama.cpp's chunked protocol. */
  perplexity(tokens: ArrayLike<number>, options?: SessionOptions): Promise<{ ppl: number; nll: number; nPredictions: number }>;
  /**
   * The pooled embedding of a text (tokenized as `tokenize(text)`: BOS/EOS as the vocabulary
   * asks, special tokens as plain text) or of token ids, in a session of its own (no other
   * session's cache is touched). Present on every model `loadModel` returns.
   */
  embed?(input: string | ArrayLike<number>, options?: EmbedOptions): Promise<Embedding>;
  /** `embed` of each input, one after another. */
  embedMany?(inputs: Array<string | ArrayLike<number>>, options?: EmbedOptions): Promise<Embedding[]>;
  dispose(): void;
  [Symbol.asyncDispose](): Promise<void>;
}

export function isGenerateResult(x: GenerateChunk | GenerateResult): x is GenerateResult {
  return (x as GenerateResult).finishReason !== undefined;
}

/** What kind of device an OpenCL device reports itself as. */
export type DeviceKind = 'gpu' | 'cpu' | 'accelerator' | 'other';

/** One OpenCL device, as `listDevices()` and `llmplayer devices` list it. */
export interface DeviceInfo {
  /** Position in the list (platforms in the ICD loader's order, then each platform's devices). */
  index: number;
  /** The OpenCL platform (driver), e.g. "NVIDIA CUDA" or "Portable Computing Language". */
  platform: string;
  name: string;
  vendor: string;
  kind: DeviceKind;
  /** Global memory, bytes. */
  memory: number;
  /** The largest single buffer the device allocates, bytes. */
  maxAlloc: number;
  computeUnits: number;
  /** The OpenCL C version the device compiles, e.g. "OpenCL C 1.2 PoCL". */
  cVersion: string;
  /** Whether the device has half-precision arithmetic (`cl_khr_fp16`). */
  fp16: boolean;
}

/**
 * The machine's OpenCL devices, or why none can be listed (no OpenCL runtime, no device, the
 * native addon not loaded). Not having OpenCL is an answer here, not an error.
 */
export type DeviceList =
  | { available: true; devices: DeviceInfo[] }
  /** `devices` is always empty here (typed as the list so code can read it either way). */
  | { available: false; reason: string; devices: DeviceInfo[] };

/**
 * What `gpuLayers` got: the matrix products of `layers` blocks (and of the output projection
 * when `output`) run on the OpenCL `device`; weights of types without a device kernel stay on
 * the CPU (`cpuTypes`). When the device cannot be used, `error` says why and the model runs on
 * the CPU (the load does not fail).
 */
export interface OffloadInfo {
  /** The device's name and platform; absent when `error` is set. */
  device?: string | null;
  layers: number;
  output: boolean;
  /** Weight matrices uploaded to the device, and their bytes. */
  tensors: number;
  bytes: number;
  /** Matrices of the offloaded layers left on the CPU (types without a device kernel yet). */
  cpuTensors: number;
  cpuTypes: string[];
  error?: string | null;
}
