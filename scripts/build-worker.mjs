#!/usr/bin/env node
// Bundles a Worker entry (default test/workerd/entry.mjs) with dist/ into one ES module for
// workerd: `node scripts/build-worker.mjs [entry] [outfile]` (default test/workerd/build/worker.mjs).
// The `.wasm` import stays an import (workerd's config declares it as a `wasm` module); the
// `node:` built-ins behind the Node-only code paths (native addon, reading a path) stay dynamic
// imports that a Worker never reaches.
import { build } from 'esbuild';
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
  external: ['*.wasm', 'node:*', 'module', 'fs', 'fs/promises'],
  logLevel: 'warning',
  metafile: true,
});
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
console.log(`${outfile} (${(bytes / 1024).toFixed(0)} KiB)`);
