// GET /metrics: Prometheus text exposition of what each loaded model's pool holds: generations
// running and waiting, and (continuous batching) the KV budget and its use, in positions; then the
// server's counters and histograms (telemetry.ts: requests, tokens, generation timings).
import { Hono } from 'hono';
import type { ServerContext } from './context.js';
import type { PoolStats } from './queue.js';
import { escapeLabel as label } from './telemetry.js';

const HELP: [name: string, help: string, value: (s: PoolStats) => number | undefined][] = [
  ['llmplayer_requests_running', 'Generations running.', (s) => s.busy],
  ['llmplayer_requests_waiting', 'Generations waiting for a sequence or KV room.', (s) => s.queued],
  ['llmplayer_parallel', 'Sequences that run at once.', (s) => s.slots],
  ['llmplayer_kv_positions_budget', 'KV cache positions all sequences share.', (s) => s.kv?.size],
  ['llmplayer_kv_positions_active', 'KV positions held by running generations.', (s) => s.kv?.active],
  ['llmplayer_kv_positions_allocated', 'KV positions allocated (running, and finished ones kept as prefix cache).', (s) => s.kv?.allocated],
  ['llmplayer_kv_bytes', 'Bytes the KV cache holds.', (s) => s.kv?.bytes],
];

export function metricsRoutes(ctx: ServerContext): Hono {
  const app = new Hono();
  app.get('/metrics', (c) => {
    const pools = ctx.registry.pools().map(({ id, pool }) => ({ id, s: pool.stats }));
    const lines: string[] = [];
    for (const [name, help, value] of HELP) {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
      for (const { id, s } of pools) {
        const v = value(s);
        if (v !== undefined) lines.push(`${name}{model="${label(id)}"} ${v}`);
      }
    }
    lines.push('# HELP llmplayer_requests_in_flight Requests holding a model (generating, waiting or loading it).', '# TYPE llmplayer_requests_in_flight gauge', `llmplayer_requests_in_flight ${ctx.registry.inFlight}`);
    lines.push(...ctx.telemetry.render());
    return c.text(lines.join('\n') + '\n', 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
  });
  return app;
}
