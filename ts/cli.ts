#!/usr/bin/env node
// The `llmplayer` command line.
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { inspect } from './inspect.js';
import { formatInspection } from './cli-info.js';
import type { BackendName } from './backend.js';

const HELP = `llmplayer — GGUF LLM inference for JavaScript

Usage:
  llmplayer info <file.gguf> [--json] [--tensors] [--full-arrays] [--backend native|wasm]
      Summarize a GGUF file: architecture, parameters, quantization mix, tokenizer.
  llmplayer --help | -h        Show this help.
  llmplayer --version | -v     Show the version.

Options:
  --json          Print the full summary as JSON (metadata included).
  --tensors       List every tensor (name, type, shape, size).
  --full-arrays   With --json: print large metadata arrays (e.g. the vocabulary) whole.
  --backend B     Force the native addon or the WebAssembly module
                  (default: native when it loads; env LLMPLAYER_BACKEND).
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function info(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      json: { type: 'boolean' },
      tensors: { type: 'boolean' },
      'full-arrays': { type: 'boolean' },
      backend: { type: 'string' },
    },
  });
  const file = positionals[0];
  if (!file || positionals.length > 1) {
    process.stderr.write('usage: llmplayer info <file.gguf> [--json] [--tensors]\n');
    return 2;
  }
  const backend = values.backend as BackendName | undefined;
  if (backend !== undefined && backend !== 'native' && backend !== 'wasm') {
    process.stderr.write(`--backend must be native or wasm, got "${backend}"\n`);
    return 2;
  }
  const result = await inspect(file, {
    backend,
    tensors: !!values.tensors || !!values.json,
    fullArrays: !!values['full-arrays'],
  });
  process.stdout.write(
    values.json ? JSON.stringify(result, null, 2) + '\n' : formatInspection(file, result, !!values.tensors) + '\n',
  );
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(HELP);
    return cmd ? 0 : 2;
  }
  if (cmd === '--version' || cmd === '-v') {
    process.stdout.write(version() + '\n');
    return 0;
  }
  if (cmd === 'info') return info(rest);
  process.stderr.write(`unknown command "${cmd}"\n\n${HELP}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`llmplayer: ${err.message}\n`);
    process.exit(1);
  },
);
