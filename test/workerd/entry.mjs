// The Worker that test/runtimes.test.ts runs under workerd, written as a user of the package
// would (REST-API.md, "workerd"): the WASM backend, the .wasm imported as a module (workerd
// compiles no WASM from bytes at run time) and the GGUF from the `MODEL` data binding (an
// ArrayBuffer). scripts/build-worker.mjs bundles it with dist/ (the package's exports resolve
// to this checkout) into one ES module; config.capnp wires the modules and bindings.
import wasmModule from 'llmplayer/wasm/llmplayer_wasm_bg.wasm';
import { loadModel } from 'llmplayer';
import { createWorkerHandler } from 'llmplayer/server/worker';

export default createWorkerHandler({
  wasmModule,
  loadModel,
  id: 'stories',
  modelBytes: (env) => env.MODEL,
});
