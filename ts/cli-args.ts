// Shared option parsing for the CLI commands.
import type { BackendName } from './backend.js';
import { formatBytes } from './format.js';
import type { KvType, OffloadInfo, Rounding, SamplingOptions } from './types.js';

export class UsageError extends Error {}

export function parseBackend(v: string | undefined): BackendName | undefined {
  if (v !== undefined && v !== 'native' && v !== 'wasm') throw new UsageError(`--backend must be native or wasm, got "${v}"`);
  return v;
}

export function parseIntOption(name: string, v: string | undefined, min = 0): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer ≥ ${min}, got "${v}"`);
  return n;
}

export function parseNumberOption(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got "${v}"`);
  return n;
}

/** Options every model command shares. */
export const MODEL_OPTIONS = {
  model: { type: 'string', short: 'm' },
  backend: { type: 'string' },
  threads: { type: 'string', short: 't' },
  ctx: { type: 'string', short: 'c' },
  'kv-type': { type: 'string' },
  'flash-attn': { type: 'string' },
  rounding: { type: 'string' },
  'gpu-layers': { type: 'string', short: 'g' },
  device: { type: 'string' },
} as const;

/** `--gpu-layers N|all` (llama.cpp's `-ngl`). */
export function gpuLayersOption(v: string | undefined): number | 'all' | undefined {
  if (v === undefined || v === 'all') return v;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--gpu-layers must be a non-negative integer or all, got ${JSON.stringify(v)}`);
  return n;
}

/** One line on what `--gpu-layers` got (stderr of the model commands). */
export function describeOffload(o: OffloadInfo): string {
  if (o.error) return `offload: ${o.error}`;
  const what = `${o.layers} layer${o.layers === 1 ? '' : 's'}${o.output ? ' + output' : ''}`;
  const left = o.cpuTensors ? `; ${o.cpuTensors} matrices of types without a device kernel (${o.cpuTypes.join(', ')}) stay on the CPU` : '';
  return `offload: ${what} on ${o.device}: ${o.tensors} matrices, ${formatBytes(o.bytes)}${left}`;
}

/** `--flash-attn on|off` (llama.cpp's `-fa`; default off here). */
export function flashAttnOption(v: string | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  if (v === 'on' || v === 'off') return v === 'on';
  throw new UsageError(`--flash-attn must be on or off, got ${JSON.stringify(v)}`);
}

/** `--rounding` as given: the engine validates it (`MODEL_ROUNDING_UNKNOWN`). */
export function roundingOption(v: string | undefined): Rounding | undefined {
  return v as Rounding | undefined;
}

/** `--kv-type` as given: the engine validates it (one place, `MODEL_KV_TYPE_UNSUPPORTED`). */
export function kvTypeOption(v: string | undefined): KvType | undefined {
  return v as KvType | undefined;
}

/** Sampling flags of `run` (llama.cpp's names). */
export const SAMPLING_OPTIONS = {
  temp: { type: 'string' },
  'top-k': { type: 'string' },
  'top-p': { type: 'string' },
  'min-p': { type: 'string' },
  'repeat-penalty': { type: 'string' },
  'presence-penalty': { type: 'string' },
  'frequency-penalty': { type: 'string' },
  seed: { type: 'string', short: 's' },
} as const;

export function samplingFromFlags(v: Record<string, string | boolean | undefined>): SamplingOptions {
  const s = (k: string) => v[k] as string | undefined;
  return {
    temperature: parseNumberOption('temp', s('temp')),
    topK: parseIntOption('top-k', s('top-k')),
    topP: parseNumberOption('top-p', s('top-p')),
    minP: parseNumberOption('min-p', s('min-p')),
    repeatPenalty: parseNumberOption('repeat-penalty', s('repeat-penalty')),
    presencePenalty: parseNumberOption('presence-penalty', s('presence-penalty')),
    frequencyPenalty: parseNumberOption('frequency-penalty', s('frequency-penalty')),
    seed: parseIntOption('seed', s('seed')),
  };
}
