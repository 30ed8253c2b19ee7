// The Worker that test/runtimes.test.ts runs under workerd: llmplayer's worker entry with the WASM
// backend, the .wasm imported as a module (workerd compiles no WASM from bytes at run time) and
// the GGUF from the `MODEL` data binding (an ArrayBuffer). scripts/build-worker.mjs bundles this
// file with dist/ into one ES module; config.capnp wires the modules and bindings.
import wasmModule from 'llmplayer_wasm_bg.wasm';
import { loadModel } from '../../dist/index.js';
import { createWorkerHandler } from '../../dist/server/worker.js';

export default createWorkerHandler({
  wasmModule,
  loadModel,
  id: 'stories',
  modelBytes: (env) => env.MODEL,
});
