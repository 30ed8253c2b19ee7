import { defineConfig } from 'tsup';

export default defineConfig([
  {
    entry: { index: 'ts/index.ts' },
    format: ['esm', 'cjs'],
    dts: true,
    shims: true,
    target: 'node20',
    clean: true,
    // The generated napi loader and the wasm-bindgen glue ship beside dist/, unbundled.
    external: [/\.\.\/native\//, /\.\.\/wasm\//],
    esbuildOptions(o) {
      o.supported = { ...o.supported, 'dynamic-import': true };
    },
  },
  {
    entry: { cli: 'ts/cli.ts' },
    format: ['esm'],
    target: 'node20',
    external: [/\.\.\/native\//, /\.\.\/wasm\//],
  },
]);
