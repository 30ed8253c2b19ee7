// The server's counters and histograms for GET /metrics (Prometheus text exposition 0.0.4):
// HTTP requests by route, method and status; prompt and completion tokens, generations by finish
// reason, time to first token and decode speed, per model.
//
// A small collector of our own rather than `prom-client`: the app runs on workerd, Deno and Bun
// too (no `node:` imports here), and prom-client requires Node built-ins (cluster, v8, perf_hooks).
// What we need is a few labelled counters and fixed-bucket histograms rendered as text.

/** A label value with `\`, `"` and newlines escaped (the exposition format's rule). */
export function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function labelText(names: readonly string[], values: readonly string[], extra = ''): string {
  const parts = names.map((n, i) => `${n}="${escapeLabel(values[i]!)}"`);
  if (extra) parts.push(extra);
  return parts.length ? `{${parts.join(',')}}` : '';
}

/** A number as the format writes it (`+Inf`, `NaN`). */
function num(v: number): string {
  return v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : String(v);
}

/** A counter with a fixed set of label names; series appear once first incremented. */
export class Counter {
  private readonly series = new Map<string, { values: string[]; value: number }>();
  constructor(readonly name: string, readonly help: string, readonly labels: readonly string[]) {}

  inc(values: readonly string[], by = 1): void {
    const key = JSON.stringify(values);
    const s = this.series.get(key);
    if (s) s.value += by;
    else this.series.set(key, { values: [...values], value: by });
  }

  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const s of this.series.values()) lines.push(`${this.name}${labelText(this.labels, s.values)} ${num(s.value)}`);
    return lines;
  }
}

/** A histogram with fixed upper bounds (ascending; `+Inf` is implied). Buckets render cumulative. */
export class Histogram {
  private readonly series = new Map<string, { values: string[]; counts: number[]; sum: number; count: number }>();
  constructor(readonly name: string, readonly help: string, readonly labels: readonly string[], readonly bounds: readonly number[]) {}

  observe(values: readonly string[], v: number): void {
    const key = JSON.stringify(values);
    let s = this.series.get(key);
    if (!s) this.series.set(key, (s = { values: [...values], counts: this.bounds.map(() => 0), sum: 0, count: 0 }));
    // Counted in the first bucket that holds it; render() accumulates.
    const i = this.bounds.findIndex((b) => v <= b);
    if (i >= 0) s.counts[i]!++;
    s.sum += v;
    s.count++;
  }

  render(): string[] {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.series.values()) {
      let cumulative = 0;
      this.bounds.forEach((b, i) => {
        cumulative += s.counts[i]!;
        lines.push(`${this.name}_bucket${labelText(this.labels, s.values, `le="${num(b)}"`)} ${cumulative}`);
      });
      lines.push(`${this.name}_bucket${labelText(this.labels, s.values, 'le="+Inf"')} ${s.count}`);
      lines.push(`${this.name}_sum${labelText(this.labels, s.values)} ${num(s.sum)}`);
      lines.push(`${this.name}_count${labelText(this.labels, s.values)} ${s.count}`);
    }
    return lines;
  }
}

/** One finished choice of a generation request, as respond() reports it. */
export interface GenerationObservation {
  model: string;
  promptTokens: number;
  completionTokens: number;
  /** The wire's reason ('stop', 'length', 'tool_calls'), or 'abort' (client gone, timeout). */
  finishReason: string;
  /** Milliseconds from respond()'s start (queueing included) to the first / last token; undefined without one. */
  firstTokenMs: number | undefined;
  lastTokenMs: number | undefined;
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** The server's collector, one per app (ServerContext.telemetry). */
export class Telemetry {
  readonly httpRequests = new Counter('llmplayer_http_requests_total', 'HTTP requests answered, by route pattern (other: no route matched), method and status.', ['route', 'method', 'status']);
  readonly promptTokens = new Counter('llmplayer_prompt_tokens_total', "Prompt tokens of generations (each of a request's n choices counts its prompt).", ['model']);
  readonly completionTokens = new Counter('llmplayer_completion_tokens_total', 'Tokens generated.', ['model']);
  readonly generations = new Counter('llmplayer_generations_total', 'Generations (choices) ended, by finish reason (abort: the client left or the request timed out).', ['model', 'finish_reason']);
  readonly timeToFirstToken = new Histogram(
    'llmplayer_time_to_first_token_seconds',
    'Seconds from the start of the request\'s generation (before waiting for a sequence or KV room, so queueing is included) to its first token.',
    ['model'],
    [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
  );
  readonly tokensPerSecond = new Histogram(
    'llmplayer_generation_tokens_per_second',
    'Decode speed of generations with 2 tokens or more: tokens after the first per second between the first and last token.',
    ['model'],
    [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000],
  );

  /** `route` must come from a fixed set (route patterns, `other`): it is a label. */
  request(route: string, method: string, status: number): void {
    this.httpRequests.inc([route, METHODS.has(method) ? method : 'other', String(status)]);
  }

  /** A finished choice (an arrow: routes hand it to respond() as `Job.observe`). */
  readonly generation = (o: GenerationObservation): void => {
    this.promptTokens.inc([o.model], o.promptTokens);
    this.completionTokens.inc([o.model], o.completionTokens);
    this.generations.inc([o.model, o.finishReason]);
    if (o.firstTokenMs !== undefined) this.timeToFirstToken.observe([o.model], o.firstTokenMs / 1000);
    if (o.firstTokenMs !== undefined && o.lastTokenMs !== undefined && o.completionTokens >= 2 && o.lastTokenMs > o.firstTokenMs) {
      this.tokensPerSecond.observe([o.model], (o.completionTokens - 1) / ((o.lastTokenMs - o.firstTokenMs) / 1000));
    }
  };

  render(): string[] {
    return [this.httpRequests, this.promptTokens, this.completionTokens, this.generations, this.timeToFirstToken, this.tokensPerSecond].flatMap((m) => m.render());
  }
}
