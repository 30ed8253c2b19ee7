// The shape of the SDK's `loadModel` (ts/index.ts), taken as a parameter by the runtime entries
// so they do not import a backend themselves (and so tests can pass a fake).
import type { LoadModelOptions, Model } from '../types.js';

export type LoadModelFn = (pathOrBytes: string | Uint8Array, options?: LoadModelOptions) => Promise<Model>;
