// The OpenAI-compatible server, runtime-agnostic part. Runtime entries: ./node.js, ./bun.js,
// ./deno.js, ./worker.js.
export { createApp, DEFAULT_MAX_BODY_BYTES, type AppOptions } from './app.js';
export {
  ModelRegistry,
  toRegistry,
  defaultModelId,
  type ModelEntryOptions,
  type ModelsOption,
  type RegistryOptions,
  type ModelHandle,
  type ModelInfo,
  type ModelStatus,
  type Health,
} from './registry.js';
export { SessionPool, type SessionPoolOptions, type Lease, type GenerationPool, type PoolStats } from './queue.js';
export { BatchPool, type BatchPoolOptions } from './batch-pool.js';
export { ApiError, type ErrorType } from './errors.js';
export { LIMITS } from './validate.js';
export type { LoadModelFn } from './load.js';
export type * from './openai-types.js';
