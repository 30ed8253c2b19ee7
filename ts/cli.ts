#!/usr/bin/env node
// The `llmplayer` command line.
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { inspect } from './inspect.js';
import { loadModel } from './model.js';
import { formatInspection } from './cli-info.js';
import type { BackendName } from './backend.js';

const HELP = `llmplayer — GGUF LLM inference for JavaScript

Usage:
  llmplayer info <file.gguf> [--json] [--tensors] [--full-arrays] [--backend native|wasm]
      Summarize a GGUF file: architecture, parameters, quantization mix, tokenizer.
  llmplayer tokenize -m <file.gguf> "text" [--special] [--no-add-special] [--ids] [--json]
      Tokenize text with the model's tokenizer (a vocab-only GGUF is enough):
      one line per token, "id -> 'piece'".
  llmplayer --help | -h        Show this help.
  llmplayer --version | -v     Show the version.

Options:
  --json          Print the full summary as JSON (metadata included).
  --tensors       List every tensor (name, type, shape, size).
  --full-arrays   With --json: print large metadata arrays (e.g. the vocabulary) whole.
  --backend B     Force the native addon or the WebAssembly module
                  (default: native when it loads; env LLMPLAYER_BACKEND).
  -m, --model F   The GGUF file (tokenize).
  --special       tokenize: recognise special tokens written in the text (<|im_start|> …).
  --no-add-special  tokenize: do not add BOS/EOS.
  --ids           tokenize: print only the ids, as a JSON array.
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

function parseBackend(v: string | undefined): BackendName | undefined {
  if (v !== undefined && v !== 'native' && v !== 'wasm') throw new UsageError(`--backend must be native or wasm, got "${v}"`);
  return v;
}

class UsageError extends Error {}

async function tokenize(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      model: { type: 'string', short: 'm' },
      special: { type: 'boolean' },
      'no-add-special': { type: 'boolean' },
      ids: { type: 'boolean' },
      json: { type: 'boolean' },
      backend: { type: 'string' },
    },
  });
  if (!values.model || positionals.length !== 1) {
    throw new UsageError('usage: llmplayer tokenize -m <file.gguf> "text" [--special] [--no-add-special] [--ids]');
  }
  const model = await loadModel(values.model, { backend: parseBackend(values.backend), vocabOnly: true });
  const ids = model.tokenize(positionals[0]!, { special: !!values.special, addSpecial: !values['no-add-special'] });
  if (values.ids) {
    process.stdout.write(JSON.stringify(ids) + '\n');
  } else if (values.json) {
    process.stdout.write(JSON.stringify(ids.map((id) => ({ id, piece: model.tokenPiece(id) }))) + '\n');
  } else {
    const width = String(Math.max(0, ...ids)).length;
    for (const id of ids) process.stdout.write(`${String(id).padStart(width)} -> ${JSON.stringify(model.tokenPiece(id))}\n`);
    process.stdout.write(`${ids.length} tokens (${model.backend})\n`);
  }
  model.dispose();
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
  if (cmd === 'tokenize') return tokenize(rest);
  process.stderr.write(`unknown command "${cmd}"\n\n${HELP}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    process.stderr.write(`llmplayer: ${err.message}\n`);
    process.exit(err instanceof UsageError || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? 2 : 1);
  },
);
