#!/usr/bin/env node
// Bundles a Worker entry (default test/workerd/entry.mjs) with dist/ into one ES module for
// workerd: `node scripts/build-worker.mjs [entry] [outfile]` (default test/workerd/build/worker.mjs).
// `llmplayer` imports resolve to this checkout (the package's own name and exports map).
// The `.wasm` import stays an import (workerd's config declares it as a `wasm` module: workerd
// compiles no WASM from bytes at run time). Nothing else needs special handling: the SDK imports
// Node built-ins only by computed specifiers (ts/backend.ts), on code paths a Worker never takes.
import { build } from 'esbuild';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('..', import.meta.url));
const entry = process.argv[2] ?? `${repo}test/workerd/entry.mjs`;
const outfile = process.argv[3] ?? `${repo}test/workerd/build/worker.mjs`;

const result = await build({
  entryPoints: [entry],
  outfile,
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  mainFields: ['module', 'main'],
  conditions: ['workerd', 'worker', 'browser', 'import'],
  plugins: [
    {
      // `import m from '…/llmplayer_wasm_bg.wasm'` → `import m from 'llmplayer_wasm_bg.wasm'`,
      // the name of the `wasm` module in the workerd config.
      name: 'wasm-module',
      setup(b) {
        b.onResolve({ filter: /\.wasm$/ }, (args) => ({ path: basename(args.path), external: true }));
      },
    },
  ],
  logLevel: 'warning',
  metafile: true,
});
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
console.log(`${outfile} (${(bytes / 1024).toFixed(0)} KiB)`);
