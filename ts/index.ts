export { inspect } from './inspect.js';
export type { Inspection, InspectOptions, QuantMixEntry, TensorSummary, MetadataValue, ArraySummary } from './inspect.js';
export { getBackend, setWasmModule } from './backend.js';
export type { BackendName } from './backend.js';
export { GgufError } from './errors.js';
