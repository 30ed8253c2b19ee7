import { getBackend, type BackendName } from './backend.js';
import { fallbackChatTemplate } from './chat-template-fallback.js';

export interface InspectOptions {
  /** Force a backend; default: native when its binary loads, else WASM (or `LLMPLAYER_BACKEND`). */
  backend?: BackendName | 'auto';
  /** Include every element of large metadata arrays instead of a summary. */
  fullArrays?: boolean;
  /** Include the tensor list (default true). */
  tensors?: boolean;
}

export interface QuantMixEntry {
  type: string;
  tensors: number;
  bytes: number;
  elements: number;
}

export interface TensorSummary {
  name: string;
  /** ggml order: shape[0] is the contiguous dimension. */
  shape: number[];
  type: string;
  /** Offset in the data section. */
  offset: number;
  bytes: number;
}

/** A large metadata array shown by its length and first elements. */
export interface ArraySummary {
  type: 'array';
  itemType: string;
  length: number;
  head: MetadataValue[];
}

export type MetadataValue = number | string | boolean | MetadataValue[] | ArraySummary;

export interface Inspection {
  backend: BackendName;
  ggufVersion: number;
  alignment: number;
  fileBytes: number;
  dataOffset: number;
  architecture: string | null;
  name: string | null;
  parameterCount: number;
  fileType: { id: number; name: string | null } | null;
  quantMix: QuantMixEntry[];
  tensorCount: number;
  tensorBytes: number;
  contextLength: number | null;
  embeddingLength: number | null;
  layers: number | null;
  feedForwardLength: number | number[] | null;
  heads: number | number[] | null;
  headsKv: number | number[] | null;
  expertCount: number | null;
  expertUsedCount: number | null;
  vocabSize: number | null;
  tokenizerModel: string | null;
  tokenizerPre: string | null;
  hasChatTemplate: boolean;
  /** The template the SDK uses: the file's own, or a fallback chosen by architecture. */
  chatTemplate: { name: string; fallback: boolean };
  /** Texts of CONTROL and USER_DEFINED tokens (at most 1024). */
  specialTokens: string[];
  /**
   * KV-cache bytes per position over all layers, per cache type the model accepts (a
   * multi-head latent attention model caches only its latents); null when the engine does not
   * run the architecture or no layer keeps KV (attention-free models: Mamba-2, RWKV-7).
   */
  kvBytesPerToken: Partial<Record<'f32' | 'f16' | 'q8_0', number>> | null;
  /**
   * The same per layer kind: `full` layers cache every position, `window` (sliding-window)
   * layers at most `maxPositions` (their window and one batch) whatever the context, `latent`
   * layers (multi-head latent attention) their latents. null as `kvBytesPerToken`.
   */
  kvLayers: KvLayerKind[] | null;
  /**
   * Bytes of recurrent state (f32) one sequence keeps over all recurrent layers (conv windows,
   * scan states, token shifts), whatever the context length; a session also keeps up to three
   * checkpoint copies per sequence. null for attention-only models.
   */
  stateBytesPerSequence: number | null;
  /**
   * What `gpuLayers: 'all'` would put on an OpenCL device: every block's matrices and the
   * output projection, their count and bytes. null for an architecture this engine does not run.
   */
  offload: { layers: number; output: boolean; matrices: number; bytes: number } | null;
  /** JSON-safe metadata: integers beyond 2^53 and non-finite floats become strings. */
  metadata: Record<string, MetadataValue>;
  tensors?: TensorSummary[];
}

export interface KvLayerKind {
  kind: 'full' | 'window' | 'latent';
  layers: number;
  bytesPerToken: Partial<Record<'f32' | 'f16' | 'q8_0', number>>;
  /** Sliding window (positions a query sees), for `window`. */
  window?: number;
  /** Positions a `window` layer's cache holds at most. */
  maxPositions?: number;
}

/** Reads a GGUF file's header (a path, or the bytes) and summarizes the model. */
export async function inspect(source: string | Uint8Array | ArrayBuffer, options: InspectOptions = {}): Promise<Inspection> {
  const backend = await getBackend(options.backend);
  const flags = { fullArrays: options.fullArrays ?? false, tensors: options.tensors ?? true };
  const json =
    typeof source === 'string'
      ? await backend.inspectPath(source, flags)
      : backend.inspectBytes(source instanceof Uint8Array ? source : new Uint8Array(source), flags);
  return withChatTemplate(backend.name, JSON.parse(json) as Omit<Inspection, 'backend' | 'chatTemplate'>);
}

/** Adds the backend and which chat template the SDK would use (the file's, else a fallback). */
export function withChatTemplate(backend: BackendName, core: Omit<Inspection, 'backend' | 'chatTemplate'>): Inspection {
  const specials = new Set(core.specialTokens);
  const chatTemplate = core.hasChatTemplate
    ? { name: 'gguf', fallback: false }
    : { name: fallbackChatTemplate(core.architecture ?? '', { has: (t) => specials.has(t) }).name, fallback: true };
  return { backend, ...core, chatTemplate };
}
