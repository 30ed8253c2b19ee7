# workerd config for test/runtimes.test.ts: one Worker (build/worker.mjs, made by
# scripts/build-worker.mjs) with the WASM module and the stories260K GGUF as a data binding.
# The socket's address is overridden on the command line (`--socket-addr http=127.0.0.1:0`).
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [ (name = "main", worker = .llmplayer) ],
  sockets = [ (name = "http", address = "127.0.0.1:8787", http = (), service = "main") ],
);

const llmplayer :Workerd.Worker = (
  modules = [
    (name = "worker.mjs", esModule = embed "build/worker.mjs"),
    (name = "llmplayer_wasm_bg.wasm", wasm = embed "../../wasm/llmplayer_wasm_bg.wasm"),
  ],
  bindings = [ (name = "MODEL", data = embed "../../models/stories260K.gguf") ],
  compatibilityDate = "2025-09-01",
);
