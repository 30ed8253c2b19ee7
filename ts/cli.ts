#!/usr/bin/env node
// The `llmplayer` command line.
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { inspect } from './inspect.js';
import { formatInspection } from './cli-info.js';
import { UsageError, parseBackend } from './cli-args.js';
import { evalCommand, perplexityCommand, runCommand, tokenizeCommand } from './cli-model.js';
import { serveCommand } from './cli-serve.js';
import { chatCommand } from './cli-chat.js';
import { devicesCommand } from './cli-devices.js';

const HELP = `llmplayer — GGUF LLM inference for JavaScript

Usage:
  llmplayer serve [-m FILE | --models-dir DIR] [--host 127.0.0.1] [--port 8080]
                  [--api-key KEY] [--threads N] [--ctx N] [--kv-type T] [--parallel 4]
                  [--kv-size N] [--max-queue 64] [--timeout 600] [--shutdown-timeout 30]
                  [--backend B] [--flash-attn on|off] [--rounding avx2|avx512] [--no-ui]
                  [--gpu-layers N|all] [--device D]
      OpenAI-compatible server (/v1/chat/completions, /v1/completions, /v1/models,
      /metrics, …) and a chat page at / (--no-ui turns it off). Without -m it serves the
      embedded stories260K demo model. The API key may also come from LLMPLAYER_API_KEY
      (the page asks for it; the API stays protected). See REST-API.md.
      --parallel N       sequences decoded together in one forward pass per model
                         (continuous batching; default 4); --ctx is each one's context.
      --kv-size N        KV cache positions the sequences share (default ctx × parallel); a
                         request waits until its prompt plus max_tokens fits.
      --max-queue N      requests that may wait beyond the running ones (default 64); more
                         get 503 with Retry-After.
      --timeout S        stop a request after S seconds (504; default 600, 0: none).
      --shutdown-timeout S  on SIGTERM/SIGINT, let running requests finish for up to S
                         seconds (default 30; new ones get 503), then exit 0.
  llmplayer run [-m FILE] -p "prompt" [-n 128] [--chat] [--temp 0.8] [--top-k 40]
                [--top-p 0.95] [--min-p 0.05] [--repeat-penalty 1] [--seed N] [--ctx N]
      Stream a completion; ends with prompt and generation tokens/s. --chat wraps the
      prompt in the model's chat template (a harmony model, gpt-oss: prints the final
      channel only).
  llmplayer chat [-m FILE] [--system TEXT] [-n -1] [--temp T] [sampling and model options]
      Interactive chat in the model's chat template, streamed, one session: each turn
      evaluates only its new tokens (printed after each reply with tokens/s). Ctrl+C stops
      a reply (a second one, or Ctrl+D, exits); /reset, /system TEXT, /save FILE, /help,
      /bye. -n caps each reply (default -1: until the end of the turn or a full context).
      Piped stdin: one user turn per line, no prompt or colours.
  llmplayer eval -m FILE --tokens 1,2,3 [--decode] [--json] [--top 5]
      Logits per position (one prefill batch; --decode: one token at a time).
  llmplayer perplexity -m FILE -f text.txt [--ctx N] [--kv-type T] [--flash-attn on|off]
      Perplexity of a text: in one context, or llama.cpp's chunked protocol with --ctx
      (llama-perplexity uses flash attention by default on the CPU: --flash-attn on to compare).
  llmplayer tokenize -m FILE "text" [--special] [--no-add-special] [--ids] [--json]
      Token ids and pieces (a vocab-only GGUF is enough).
  llmplayer info <file.gguf> [--json] [--tensors] [--full-arrays]
      Architecture, parameters, quantization mix, tokenizer, chat template.
  llmplayer devices [--json]
      The OpenCL devices (index, kind, name, platform, memory, compute units), or why there
      are none. LLMPLAYER_OPENCL_LIB=PATH uses that OpenCL ICD loader (only that one) instead
      of the system's libOpenCL.so.1.
  llmplayer --help | -h        Show this help.
  llmplayer --version | -v     Show the version.

Common options:
  -m, --model FILE   The GGUF file.
  --backend B        native (SIMD addon) or wasm (WebAssembly SIMD); default: native when it
                     loads for this platform, else wasm (env LLMPLAYER_BACKEND).
  -t, --threads N    Native compute threads (default: physical cores).
  -c, --ctx N        Context size (default: the model's, capped at 4096).
  --kv-type T        KV cache type (llama.cpp's -ctk/-ctv): f32 (default), f16 (half the
                     memory) or q8_0 (about a quarter; head sizes must be multiples of 32).
                     \`run\` prints the cache's bytes per token.
  --flash-attn on|off  Round attention as llama.cpp's flash attention (its CPU default, -fa):
                     K and V are read as f16, softmax online. Default off (two-pass, as
                     llama.cpp's -fa off).
  --rounding R       Which llama.cpp x86 build's rounding to reproduce where builds differ
                     (the vector exp of softmax and SiLU): avx2 (default, on every machine)
                     or avx512 (exact with --flash-attn on).
  -g, --gpu-layers N|all  Run the matrix products of the last N layers (all: every layer and
                     the output projection) on an OpenCL device, as llama.cpp's -ngl (native
                     backend; default 0). Weights are uploaded once; activations still go
                     to the device and back per product (whole layers on the device: next).
                     Without a usable device the model runs on the CPU and says why.
  --device D         The OpenCL device: index or part of its name from \`llmplayer devices\`
                     (default: the first GPU, else the first device; env
                     LLMPLAYER_OPENCL_DEVICE).
  info --json        The full summary as JSON (metadata included); --full-arrays prints
                     large metadata arrays (e.g. the vocabulary) whole.
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function info(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { json: { type: 'boolean' }, tensors: { type: 'boolean' }, 'full-arrays': { type: 'boolean' }, backend: { type: 'string' } },
  });
  const file = positionals[0];
  if (!file || positionals.length > 1) throw new UsageError('usage: llmplayer info <file.gguf> [--json] [--tensors]');
  const result = await inspect(file, {
    backend: parseBackend(values.backend),
    tensors: !!values.tensors || !!values.json,
    fullArrays: !!values['full-arrays'],
  });
  process.stdout.write(values.json ? JSON.stringify(result, null, 2) + '\n' : formatInspection(file, result, !!values.tensors) + '\n');
  return 0;
}

const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  info,
  tokenize: tokenizeCommand,
  run: runCommand,
  eval: evalCommand,
  perplexity: perplexityCommand,
  serve: serveCommand,
  chat: chatCommand,
  devices: devicesCommand,
};

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
  const command = COMMANDS[cmd];
  if (!command) throw new UsageError(`unknown command "${cmd}" (llmplayer --help lists them)`);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(HELP);
    return 0;
  }
  return command(rest);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error & { code?: string }) => {
    process.stderr.write(`llmplayer: ${err.message}\n`);
    process.exit(err instanceof UsageError || err.code?.startsWith('ERR_PARSE_ARGS') ? 2 : 1);
  },
);
