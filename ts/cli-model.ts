// `llmplayer run | eval | perplexity | tokenize`: commands that load a model.
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { HarmonyContent, isHarmonyModel } from './harmony.js';
import { loadModel } from './model.js';
import { isGenerateResult, type Model } from './types.js';
import {
  MODEL_OPTIONS,
  SAMPLING_OPTIONS,
  UsageError,
  describeOffload,
  flashAttnOption,
  gpuLayersOption,
  kvTypeOption,
  parseBackend,
  parseIntOption,
  roundingOption,
  samplingFromFlags,
} from './cli-args.js';

/** The model shipped inside the package (stories260K), used when `-m` is not given. */
export const EMBEDDED_MODEL = fileURLToPath(new URL('../models/stories260K.gguf', import.meta.url));

type Flags = Record<string, string | boolean | undefined>;

export async function openModel(v: Flags, vocabOnly = false): Promise<Model> {
  const model = await loadModel((v.model as string | undefined) ?? EMBEDDED_MODEL, {
    backend: parseBackend(v.backend as string | undefined),
    threads: parseIntOption('threads', v.threads as string | undefined, 1),
    contextSize: parseIntOption('ctx', v.ctx as string | undefined, 1),
    kvType: kvTypeOption(v['kv-type'] as string | undefined),
    flashAttn: flashAttnOption(v['flash-attn'] as string | undefined),
    rounding: roundingOption(v.rounding as string | undefined),
    gpuLayers: vocabOnly ? undefined : gpuLayersOption(v['gpu-layers'] as string | undefined),
    device: v.device as string | undefined,
    vocabOnly,
  });
  if (model.offload) process.stderr.write(describeOffload(model.offload) + '\n');
  return model;
}

export async function runCommand(args: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args,
    options: {
      ...MODEL_OPTIONS,
      ...SAMPLING_OPTIONS,
      prompt: { type: 'string', short: 'p' },
      'n-predict': { type: 'string', short: 'n' },
      chat: { type: 'boolean' },
    },
  });
  if (v.prompt === undefined) throw new UsageError('usage: llmplayer run [-m FILE] -p "prompt" [-n 128] [--temp T] …');
  const model = await openModel(v);
  const session = model.createSession();
  const prompt = v.chat ? model.applyChatTemplate([{ role: 'user', content: v.prompt }]) : v.prompt;
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort());
  if (!v.chat) process.stdout.write(v.prompt);
  // A chat with a harmony model (gpt-oss) prints its final channel, not its reasoning, as the
  // server's chat route does; a plain completion prints the text as generated.
  const view = v.chat && isHarmonyModel(model) ? new HarmonyContent() : undefined;
  for await (const item of session.generate(prompt, {
    ...samplingFromFlags(v),
    maxTokens: parseIntOption('n-predict', v['n-predict']) ?? 128,
    signal: ac.signal,
  })) {
    if (!isGenerateResult(item)) {
      process.stdout.write(view ? view.push(item.text) : item.text);
      continue;
    }
    if (view) process.stdout.write(view.flush());
    const t = item.timings;
    process.stderr.write(
      `\n\n[${model.backend}] prompt: ${item.usage.promptTokens} tokens, ${t.promptTokensPerSecond.toFixed(1)} tok/s | ` +
        `generation: ${item.usage.completionTokens} tokens, ${t.generateTokensPerSecond.toFixed(1)} tok/s | finish: ${item.finishReason} | ` +
        `kv ${session.kvType}: ${session.kvBytesPerToken} B/token\n`,
    );
  }
  model.dispose();
  return 0;
}

function parseTokens(s: string | undefined): number[] {
  if (!s) throw new UsageError('usage: llmplayer eval -m FILE --tokens 1,2,3 [--decode] [--json]');
  const ids = s.split(/[,\s]+/).filter(Boolean).map(Number);
  if (ids.some((n) => !Number.isInteger(n) || n < 0)) throw new UsageError(`--tokens must be non-negative integers, got "${s}"`);
  return ids;
}

export async function evalCommand(args: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args,
    options: { ...MODEL_OPTIONS, tokens: { type: 'string' }, decode: { type: 'boolean' }, json: { type: 'boolean' }, top: { type: 'string' } },
  });
  const ids = parseTokens(v.tokens);
  const model = await openModel(v);
  const nVocab = model.nVocab;
  const rows: Float32Array[] = [];
  if (v.decode) {
    // One token at a time in one session: the decode (mat-vec) path.
    const session = model.createSession({ contextSize: Math.max(ids.length, 1) });
    for (let i = 1; i <= ids.length; i++) rows.push(await session.evaluate(ids.slice(0, i)));
  } else {
    const session = model.createSession({ contextSize: Math.max(ids.length, 1) });
    const all = await session.evaluate(ids, { allLogits: true });
    for (let i = 0; i < ids.length; i++) rows.push(all.subarray(i * nVocab, (i + 1) * nVocab));
  }
  if (v.json) {
    process.stdout.write(JSON.stringify({ tokens: ids, mode: v.decode ? 'decode' : 'prefill', logits: rows.map((r) => Array.from(r)) }) + '\n');
  } else {
    const top = parseIntOption('top', v.top, 1) ?? 5;
    rows.forEach((row, i) => {
      const best = Array.from(row.keys()).sort((a, b) => row[b]! - row[a]!).slice(0, top);
      const shown = best.map((id) => `${id} ${JSON.stringify(model.tokenPiece(id))} ${row[id]!.toFixed(4)}`).join(' | ');
      process.stdout.write(`pos ${i} (token ${ids[i]}): ${shown}\n`);
    });
  }
  model.dispose();
  return 0;
}

export async function perplexityCommand(args: string[]): Promise<number> {
  const { values: v } = parseArgs({ args, options: { ...MODEL_OPTIONS, file: { type: 'string', short: 'f' } } });
  if (!v.file) throw new UsageError('usage: llmplayer perplexity -m FILE -f text.txt [--ctx N]');
  const chunk = parseIntOption('ctx', v.ctx, 4);
  const model = await openModel({ ...v, ctx: undefined });
  const tokens = model.tokenize(readFileSync(v.file, 'utf8'));
  const t0 = performance.now();
  const r = await model.perplexity(tokens, { contextSize: chunk });
  const ms = performance.now() - t0;
  const how = chunk ? `chunks of ${chunk} (llama.cpp protocol)` : `one context of ${tokens.length}`;
  const kv = v['kv-type'] ? `, kv ${v['kv-type']}` : '';
  process.stdout.write(`perplexity: ${r.ppl.toFixed(4)} over ${r.nPredictions} predictions, ${how}, ${tokens.length} tokens, ${ms.toFixed(0)} ms [${model.backend}${kv}]\n`);
  model.dispose();
  return 0;
}

export async function tokenizeCommand(args: string[]): Promise<number> {
  const { values: v, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ...MODEL_OPTIONS,
      special: { type: 'boolean' },
      'no-add-special': { type: 'boolean' },
      ids: { type: 'boolean' },
      json: { type: 'boolean' },
    },
  });
  if (!v.model || positionals.length !== 1) {
    throw new UsageError('usage: llmplayer tokenize -m <file.gguf> "text" [--special] [--no-add-special] [--ids]');
  }
  const model = await openModel(v, true);
  const ids = model.tokenize(positionals[0]!, { special: !!v.special, addSpecial: !v['no-add-special'] });
  if (v.ids) {
    process.stdout.write(JSON.stringify(ids) + '\n');
  } else if (v.json) {
    process.stdout.write(JSON.stringify(ids.map((id) => ({ id, piece: model.tokenPiece(id) }))) + '\n');
  } else {
    const width = String(Math.max(0, ...ids)).length;
    for (const id of ids) process.stdout.write(`${String(id).padStart(width)} -> ${JSON.stringify(model.tokenPiece(id))}\n`);
    process.stdout.write(`${ids.length} tokens (${model.backend})\n`);
  }
  model.dispose();
  return 0;
}
