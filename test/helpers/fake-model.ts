// A tiny deterministic Model for the server tests (until the real loadModel lands).
//
// Vocabulary: 0 `<s>` (BOS), 1 `</s>` (EOS), 2 `<|im_start|>`, 3 `<|im_end|>` (end of turn), then
// one token per UTF-16 code unit (id = 4 + code). The chat template is ChatML with a leading `<s>`.
// Generation looks at the last user turn (or, for a raw prompt, the whole text after BOS), X:
//   - X contains "count"   → "1 2 3 4 …" forever (until max tokens, context, stop or abort);
//   - X contains "explode" → two tokens, then the backend throws;
//   - otherwise            → "echo: X" (or `reply(X)` when given), then `<|im_end|>`.
// `extraSpecials` adds special tokens after the characters (e.g. harmony's `<|channel|>`).
// X containing "slow" adds 10 ms per token (on top of `tokenDelayMs`). Temperature 0 (the fake's
// default) is greedy; above 0, characters are replaced by seeded random letters. A logit bias of
// -Infinity on the greedy token emits `_` instead. Sessions throw if used by two generations at
// once, so a pool bug shows up as a failed request.
import type { ChatMessage } from '../../ts/chat-template.js';
import { ChatTemplateError } from '../../ts/chat-template.js';
import type { Inspection } from '../../ts/inspect.js';
import { dropDoubleBos } from '../../ts/model.js';
import type {
  ApplyChatTemplateOptions,
  ChatTemplateInfo,
  DetokenizeOptions,
  GenerateChunk,
  GenerateOptions,
  GenerateResult,
  KvType,
  Model,
  Session,
  SessionOptions,
  TokenizeOptions,
} from '../../ts/types.js';

const SPECIALS = ['<s>', '</s>', '<|im_start|>', '<|im_end|>'] as const;
export const BOS = 0;
export const EOS = 1;
export const IM_END = 3;
const CHAR0 = 4;
const EXTRA0 = CHAR0 + 0x10000;

export interface FakeCall {
  session: number;
  prompt: number[];
  options: Omit<GenerateOptions, 'signal'>;
  reused: number;
  /** Set when the generation ends: its finish reason ('error' when it threw) and performance.now(). */
  finish?: GenerateResult['finishReason'] | 'error';
  endedAt?: number;
}

export interface FakeModelOptions {
  name?: string;
  contextSize?: number;
  /** Delay per generated token. Default 0 (one macrotask per token). */
  tokenDelayMs?: number;
  /** Tokenizer only: createSession throws, as the real SDK's does for vocab-only GGUFs. */
  vocabOnly?: boolean;
  /** More special tokens, ids from `4 + 0x10000` on (one token each when `special` is set). */
  extraSpecials?: string[];
  /** What the model answers to X instead of `echo: X` (one token per UTF-16 code unit). */
  reply?: (x: string) => string;
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise<void>((r) => (ms > 0 ? setTimeout(r, ms) : setImmediate(r)));

export class FakeModel implements Model {
  readonly backend = 'native' as const;
  readonly vocabOnly: boolean;
  readonly nVocab: number;
  readonly contextSize: number;
  readonly bos = BOS;
  readonly eos = EOS;
  readonly chatTemplate: ChatTemplateInfo = { source: '(fake chatml)', name: 'chatml', fallback: true };
  readonly info: Inspection;
  readonly tokenDelayMs: number;
  readonly extraSpecials: string[];
  readonly reply?: (x: string) => string;
  readonly sessions: FakeSession[] = [];
  readonly calls: FakeCall[] = [];
  active = 0;
  maxActive = 0;
  disposed = false;

  constructor(options: FakeModelOptions = {}) {
    this.contextSize = options.contextSize ?? 256;
    this.tokenDelayMs = options.tokenDelayMs ?? 0;
    this.vocabOnly = options.vocabOnly ?? false;
    this.extraSpecials = options.extraSpecials ?? [];
    this.nVocab = EXTRA0 + this.extraSpecials.length;
    this.reply = options.reply;
    this.info = { name: options.name ?? 'Fake Echo', architecture: 'fake', contextLength: this.contextSize } as Inspection;
  }

  tokenize(text: string, options: TokenizeOptions = {}): number[] {
    const out: number[] = options.addSpecial ?? true ? [BOS] : [];
    for (let i = 0; i < text.length; ) {
      const sp = options.special ? SPECIALS.findIndex((s) => text.startsWith(s, i)) : -1;
      const extra = options.special ? this.extraSpecials.findIndex((s) => text.startsWith(s, i)) : -1;
      if (sp >= 0) {
        out.push(sp);
        i += SPECIALS[sp]!.length;
      } else if (extra >= 0) {
        out.push(EXTRA0 + extra);
        i += this.extraSpecials[extra]!.length;
      } else {
        out.push(CHAR0 + text.charCodeAt(i));
        i++;
      }
    }
    return out;
  }

  tokenizePrompt(text: string, special = true): number[] {
    return dropDoubleBos(this.tokenize(text, { special, addSpecial: true }), BOS);
  }

  detokenize(ids: ArrayLike<number>, options: DetokenizeOptions = {}): string {
    let s = '';
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      s += id < CHAR0 || id >= EXTRA0 ? (options.special ? this.tokenPiece(id) : '') : String.fromCharCode(id - CHAR0);
    }
    return s;
  }

  tokenPiece(id: number): string {
    if (id >= EXTRA0) return this.extraSpecials[id - EXTRA0]!;
    return id < CHAR0 ? SPECIALS[id]! : String.fromCharCode(id - CHAR0);
  }

  isEndOfGeneration(id: number): boolean {
    return id === EOS || id === IM_END;
  }

  applyChatTemplate(messages: ChatMessage[], options: ApplyChatTemplateOptions = {}): string {
    let s = '<s>';
    for (const m of messages) {
      const content = typeof m.content === 'string' ? m.content : (m.content ?? []).map((p) => p.text).join('\n');
      if (content === '__raise__') throw new ChatTemplateError('Conversation roles must alternate', 'raised');
      s += `<|im_start|>${m.role}\n${content}<|im_end|>\n`;
    }
    if (options.extra?.prefix !== undefined) s += String(options.extra.prefix);
    return options.addGenerationPrompt ? s + '<|im_start|>assistant\n' : s;
  }

  async perplexity(): Promise<{ ppl: number; nll: number; nPredictions: number }> {
    throw new Error('the fake model has no logits');
  }

  createSession(options: SessionOptions = {}): Session {
    if (this.vocabOnly) throw new Error('this model has no weights (vocab-only): it can tokenize but not generate');
    const s = new FakeSession(this, options.contextSize ?? this.contextSize, this.sessions.length, options.kvType ?? 'f32');
    this.sessions.push(s);
    return s;
  }

  dispose(): void {
    this.disposed = true;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.dispose();
  }
}

/** The text the fake answers to: the last user turn, or the raw prompt. */
function subject(text: string): string {
  const at = text.lastIndexOf('<|im_start|>user\n');
  if (at < 0) return text.replace(/^<s>/, '');
  const rest = text.slice(at + '<|im_start|>user\n'.length);
  const end = rest.indexOf('<|im_end|>');
  return end < 0 ? rest : rest.slice(0, end);
}

export class FakeSession implements Session {
  history: number[] = [];
  busy = false;
  disposed = false;
  lastReused = 0;

  constructor(
    private readonly model: FakeModel,
    readonly contextSize: number,
    readonly index: number,
    /** What the pool asked for (the fake keeps no cache). */
    readonly kvType: KvType = 'f32',
  ) {}

  readonly kvBytesPerToken = 0;

  get nPast(): number {
    return this.history.length;
  }

  /** Like a KV cache: any shared prefix, never the whole prompt. */
  reusablePrefix(prompt: ArrayLike<number>): number {
    let n = 0;
    while (n < Math.min(prompt.length - 1, this.history.length) && prompt[n] === this.history[n]) n++;
    return n;
  }

  async *generate(input: string | ArrayLike<number>, options: GenerateOptions = {}): AsyncGenerator<GenerateChunk | GenerateResult> {
    if (this.busy) throw new Error(`fake session ${this.index} is already generating`);
    if (this.disposed) throw new Error(`fake session ${this.index} is disposed`);
    const m = this.model;
    const special = options.special ?? true;
    const prompt =
      typeof input !== 'string' ? Array.from(input) : (options.addSpecial ?? true) ? m.tokenizePrompt(input, special) : m.tokenize(input, { special, addSpecial: false });
    if (prompt.length >= this.contextSize) throw new Error('prompt does not fit the context');
    let reused = 0;
    while (reused < Math.min(prompt.length, this.history.length) && prompt[reused] === this.history[reused]) reused++;
    this.lastReused = reused;
    const { signal, ...rest } = options;
    const call: FakeCall = { session: this.index, prompt, options: rest, reused };
    m.calls.push(call);
    this.busy = true;
    m.active++;
    m.maxActive = Math.max(m.maxActive, m.active);
    try {
      for await (const item of this.run(prompt, reused, options, signal)) {
        if ('finishReason' in item) call.finish = item.finishReason;
        yield item;
      }
    } finally {
      call.finish ??= 'error';
      call.endedAt = performance.now();
      this.busy = false;
      m.active--;
    }
  }

  private async *run(prompt: number[], reused: number, options: GenerateOptions, signal: AbortSignal | undefined): AsyncGenerator<GenerateChunk | GenerateResult> {
    const m = this.model;
    const x = subject(m.detokenize(prompt, { special: true }));
    const delay = m.tokenDelayMs + (x.includes('slow') ? 10 : 0);
    const temperature = options.temperature ?? 0;
    const rng = mulberry32(options.seed ?? Math.floor(Math.random() * 2 ** 32));
    const reply = x.includes('count') ? null : (m.reply?.(x) ?? `echo: ${x}`);
    let counter = '';
    let n = 0;
    const greedy = (i: number): number => {
      if (reply !== null) return i < reply.length ? CHAR0 + reply.charCodeAt(i) : IM_END;
      while (counter.length <= i) counter += `${++n} `;
      return CHAR0 + counter.charCodeAt(i);
    };
    const stops = options.stop ?? [];
    const maxTokens = options.maxTokens ?? Infinity;
    const started = Date.now();
    const tokens: number[] = [];
    let text = '';
    let pending = '';
    let finishReason: GenerateResult['finishReason'] = 'stop';
    let stopSequence: string | undefined;
    this.history = prompt.slice();
    for (let i = 0; ; i++) {
      await sleep(delay);
      if (signal?.aborted) {
        finishReason = 'abort';
        break;
      }
      if (x.includes('explode') && i === 2) throw new Error('backend exploded');
      let token = greedy(i);
      if (m.isEndOfGeneration(token)) break;
      if (temperature > 0 && rng() < Math.min(1, temperature / 2)) token = CHAR0 + 97 + Math.floor(rng() * 26);
      if (options.logitBias?.[token] === -Infinity) token = CHAR0 + 95; // '_'
      tokens.push(token);
      this.history.push(token);
      pending += m.tokenPiece(token);
      const last = tokens.length >= maxTokens || prompt.length + tokens.length >= this.contextSize || m.isEndOfGeneration(greedy(i + 1));
      const hit = stops.map((s) => [s, pending.indexOf(s)] as const).filter(([, at]) => at >= 0).sort((a, b) => a[1] - b[1])[0];
      if (hit) {
        const before = pending.slice(0, hit[1]);
        text += before;
        yield { token, text: before };
        finishReason = 'stop';
        stopSequence = hit[0];
        break;
      }
      let keep = 0;
      if (!last) {
        for (const s of stops) for (let k = Math.min(s.length - 1, pending.length); k > keep; k--) if (s.startsWith(pending.slice(-k))) keep = k;
      }
      const out = pending.slice(0, pending.length - keep);
      pending = pending.slice(pending.length - keep);
      text += out;
      yield { token, text: out };
      if (last && !m.isEndOfGeneration(greedy(i + 1))) {
        finishReason = 'length';
        break;
      }
    }
    const ms = Math.max(1, Date.now() - started);
    yield {
      text,
      tokens,
      finishReason,
      // As the engine counts it: the last prompt token is always evaluated again.
      usage: { promptTokens: prompt.length, completionTokens: tokens.length, totalTokens: prompt.length + tokens.length, cachedTokens: Math.min(reused, prompt.length - 1) },
      timings: { promptMs: 0, generateMs: ms, promptTokensPerSecond: 0, generateTokensPerSecond: (tokens.length * 1000) / ms },
      ...(stopSequence !== undefined ? { stopSequence } : {}),
    };
  }

  async complete(prompt: string | ArrayLike<number>, options?: GenerateOptions): Promise<GenerateResult> {
    let last: GenerateChunk | GenerateResult | undefined;
    for await (const item of this.generate(prompt, options)) last = item;
    return last as GenerateResult;
  }

  async evaluate(tokens: ArrayLike<number>): Promise<Float32Array> {
    this.history = Array.from(tokens);
    return new Float32Array(this.model.nVocab);
  }

  clear(): void {
    this.history = [];
  }

  dispose(): void {
    this.disposed = true;
  }
}
