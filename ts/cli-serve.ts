// `llmplayer serve`: the OpenAI-compatible server on Node.
import { parseArgs } from 'node:util';
import { loadModel } from './model.js';
import { serve, modelFromFile, modelsFromDir } from './server/node.js';
import type { LoadModelOptions } from './types.js';
import { EMBEDDED_MODEL } from './cli-model.js';
import { MODEL_OPTIONS, UsageError, describeOffload, flashAttnOption, gpuLayersOption, kvTypeOption, parseBackend, parseIntOption, roundingOption } from './cli-args.js';

export async function serveCommand(args: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args,
    options: {
      ...MODEL_OPTIONS,
      'models-dir': { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      'api-key': { type: 'string' },
      parallel: { type: 'string' },
      'kv-size': { type: 'string' },
      'max-queue': { type: 'string' },
      timeout: { type: 'string' },
      'shutdown-timeout': { type: 'string' },
      'no-ui': { type: 'boolean' },
    },
  });
  if (v.model && v['models-dir']) throw new UsageError('give -m FILE or --models-dir DIR, not both');
  const loadOptions: LoadModelOptions = {
    backend: parseBackend(v.backend),
    threads: parseIntOption('threads', v.threads, 1),
    contextSize: parseIntOption('ctx', v.ctx, 1),
    kvType: kvTypeOption(v['kv-type']),
    flashAttn: flashAttnOption(v['flash-attn']),
    rounding: roundingOption(v.rounding),
    gpuLayers: gpuLayersOption(v['gpu-layers']),
    device: v.device,
  };
  const port = parseIntOption('port', v.port, 0) ?? 8080;
  if (port > 65535) throw new UsageError(`--port must be at most 65535, got ${port}`);
  const apiKey = v['api-key'] ?? process.env.LLMPLAYER_API_KEY ?? undefined;

  const loud: typeof loadModel = async (source, options) => {
    const name = typeof source === 'string' ? source : 'model bytes';
    process.stderr.write(`loading ${name} …\n`);
    const t0 = performance.now();
    let model: Awaited<ReturnType<typeof loadModel>>;
    try {
      model = await loadModel(source, {
        ...options,
        onProgress: (p) => process.stderr.write(`  ${p.stage} ${(p.progress * 100).toFixed(0)}%\n`),
      });
    } catch (err) {
      // The server keeps running (GET /health says "error"), so say why here too.
      const code = (err as { code?: string }).code;
      process.stderr.write(`failed to load ${name}: ${(err as Error).message}${code ? ` (${code})` : ''}\n`);
      throw err;
    }
    process.stderr.write(`loaded ${name} in ${(performance.now() - t0).toFixed(0)} ms (${model.backend}, ${model.info.architecture})\n`);
    if (model.offload) process.stderr.write(`  ${describeOffload(model.offload)}\n`);
    return model;
  };
  const models = v['models-dir']
    ? await modelsFromDir(v['models-dir'], loud, loadOptions)
    : [modelFromFile(v.model ?? EMBEDDED_MODEL, loud, loadOptions)];

  const server = await serve({
    models,
    port,
    hostname: v.host ?? '127.0.0.1',
    apiKey,
    parallel: parseIntOption('parallel', v.parallel, 1) ?? 4,
    kvSize: parseIntOption('kv-size', v['kv-size'], 1),
    maxQueue: parseIntOption('max-queue', v['max-queue'], 0),
    requestTimeoutMs: (parseIntOption('timeout', v.timeout, 0) ?? 600) * 1000,
    ui: !v['no-ui'],
  });
  const shutdownMs = (parseIntOption('shutdown-timeout', v['shutdown-timeout'], 0) ?? 30) * 1000;
  const auth = apiKey ? ` -H "Authorization: Bearer $LLMPLAYER_API_KEY"` : '';
  process.stdout.write(
    `llmplayer serving ${models.map((m) => m.id).join(', ')} at ${server.url}/v1` +
      (v.model || v['models-dir'] ? '' : ' (embedded stories260K demo model)') +
      `\n\ntry:\n  curl ${server.url}/v1/chat/completions -H "Content-Type: application/json"${auth} \\\n` +
      `    -d '{"model":"${models[0]!.id}","messages":[{"role":"user","content":"Once upon a time"}],"max_tokens":64}'\n` +
      (v['no-ui'] ? '' : `\nor open ${server.url}/ in a browser to chat\n`),
  );
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = () => {
      if (stopping) {
        // A second signal: stop now.
        process.stderr.write('closing now\n');
        server.close().then(resolve, resolve);
        return;
      }
      stopping = true;
      process.stderr.write(`shutting down: finishing ${server.registry.inFlight} request(s) for up to ${shutdownMs / 1000} s\n`);
      server.drain(shutdownMs).then(
        (cut) => {
          if (cut > 0) process.stderr.write(`${cut} request(s) cut off at the deadline\n`);
          resolve();
        },
        () => resolve(),
      );
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  return 0;
}
