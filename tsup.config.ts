import { defineConfig } from 'tsup';

// The generated napi loader and the wasm-bindgen glue ship beside dist/, unbundled.
const external = [/\.\.\/native\//, /\.\.\/wasm\//];
const server = {
  'server/index': 'ts/server/index.ts',
  'server/node': 'ts/server/node.ts',
  'server/bun': 'ts/server/bun.ts',
  'server/deno': 'ts/server/deno.ts',
  'server/worker': 'ts/server/worker.ts',
};

export default defineConfig([
  {
    // ESM: the SDK, the server entries and the CLI share chunks (one backend instance).
    entry: { index: 'ts/index.ts', ...server, cli: 'ts/cli.ts' },
    format: ['esm'],
    dts: { entry: { index: 'ts/index.ts', ...server } },
    target: 'node20',
    clean: true,
    external,
  },
  {
    // CommonJS build of the SDK for require() users.
    entry: { index: 'ts/index.ts' },
    format: ['cjs'],
    dts: true,
    shims: true,
    target: 'node20',
    external,
    esbuildOptions(o) {
      o.supported = { ...o.supported, 'dynamic-import': true };
    },
  },
]);
