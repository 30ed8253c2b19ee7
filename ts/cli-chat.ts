// `llmplayer chat`: a multi-turn chat in the terminal (what `ollama run` is), on one session.
//
// Each turn renders the whole conversation with the model's chat template (`chatPromptTokens`,
// as the server's chat route does: message text never becomes control tokens) and generates in
// the same session, so the engine keeps the earlier turns' KV cells and evaluates only the new
// tokens; the stats line after each reply prints the engine's own counts (`usage.cachedTokens`).
// The reply goes through the server's assistant parser: reasoning (`<think>`, harmony's analysis
// channel) is shown dimmed and left out of the history, as clients send it back.
//
// On a TTY: a `> ` prompt (readline, with history), Ctrl+C stops the reply being generated (the
// partial reply stays in the history, as ollama keeps it; a second Ctrl+C before it stopped, a
// Ctrl+C at the prompt or Ctrl+D exits). Piped stdin: one user turn per line, no prompt and no
// colours; exit 0 at end of input.
import { parseArgs } from 'node:util';
import { writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { assistantParser, promptOpensReasoning, type AssistantDelta, type AssistantParser } from './assistant/index.js';
import { chatPromptTokens } from './chat-prompt.js';
import type { ChatMessage } from './chat-template.js';
import { isHarmonyModel } from './harmony.js';
import { LlmError } from './errors.js';
import { isGenerateResult, type GenerateResult, type Model, type SamplingOptions, type Session } from './types.js';
import { MODEL_OPTIONS, SAMPLING_OPTIONS, UsageError, parseIntOption, samplingFromFlags } from './cli-args.js';
import { EMBEDDED_MODEL, openModel } from './cli-model.js';

const COMMANDS_HELP = `Commands:
  /reset          forget the conversation (and the KV cache)
  /system TEXT    set the system prompt and start a new conversation (/system alone shows it)
  /save FILE      write the conversation as JSON {model, messages}
  /help           this list
  /bye, /exit     leave (also Ctrl+D; Ctrl+C stops a reply)
`;

const DIM = '\x1b[2m';
const UNDIM = '\x1b[22m';

/** Where a reply's parts go: reasoning dimmed on a colour terminal, between think tags otherwise. */
class ReplyPrinter {
  #inReasoning = false;
  content = '';

  constructor(private readonly color: boolean) {}

  show(d: AssistantDelta): void {
    if (d.reasoning) {
      if (!this.#inReasoning) process.stdout.write(this.color ? DIM : '<think>\n');
      this.#inReasoning = true;
      process.stdout.write(d.reasoning);
    }
    if (d.content) {
      this.#endReasoning();
      this.content += d.content;
      process.stdout.write(d.content);
    }
  }

  #endReasoning(): void {
    if (this.#inReasoning) process.stdout.write(this.color ? `${UNDIM}\n\n` : '\n</think>\n\n');
    this.#inReasoning = false;
  }

  end(): void {
    this.#endReasoning();
    process.stdout.write('\n');
  }
}

interface ChatSettings {
  sampling: SamplingOptions;
  /** Tokens per reply; Infinity: until the end of the turn or a full context. */
  maxTokens: number;
  color: boolean;
  /** Stats on stderr dimmed. */
  colorErr: boolean;
}

/** One conversation in one session: the history, the turn loop's engine side, the commands. */
class Conversation {
  messages: ChatMessage[] = [];
  /** The reply being generated: Ctrl+C aborts it. */
  current: AbortController | null = null;

  constructor(
    private readonly model: Model,
    private readonly session: Session,
    private readonly modelName: string,
    private system: string | undefined,
    private readonly settings: ChatSettings,
  ) {}

  #history(): ChatMessage[] {
    return this.system !== undefined ? [{ role: 'system', content: this.system }, ...this.messages] : [...this.messages];
  }

  #note(text: string): void {
    process.stderr.write(this.settings.colorErr ? `${DIM}${text}${UNDIM}\n` : `${text}\n`);
  }

  reset(): void {
    this.messages = [];
    this.session.clear();
  }

  /** Runs a `/command`; false when it asks to leave. */
  command(line: string): boolean {
    const [, name = '', rest = ''] = /^\/(\S*)\s*([\s\S]*)$/.exec(line.trim()) ?? [];
    switch (name) {
      case 'bye':
      case 'exit':
        return false;
      case 'reset':
        this.reset();
        this.#note('[conversation cleared]');
        break;
      case 'system':
        if (rest === '') {
          this.#note(this.system === undefined ? "[no system prompt (the template's default applies)]" : `[system: ${this.system}]`);
          break;
        }
        this.system = rest;
        this.messages = [];
        this.#note('[system prompt set; new conversation]');
        break;
      case 'save':
        if (rest === '') {
          this.#note('usage: /save FILE');
          break;
        }
        try {
          writeFileSync(rest, JSON.stringify({ model: this.modelName, messages: this.#history() }, null, 2) + '\n');
          this.#note(`[saved ${this.#history().length} messages to ${rest}]`);
        } catch (err) {
          this.#note(`cannot save: ${(err as Error).message}`);
        }
        break;
      case 'help':
      case '?':
        process.stderr.write(COMMANDS_HELP);
        break;
      default:
        this.#note(`unknown command /${name} (/help lists them)`);
    }
    return true;
  }

  /** One user turn: the reply streamed to stdout, then the stats line on stderr. */
  async turn(text: string): Promise<void> {
    const ac = new AbortController();
    this.current = ac;
    this.messages.push({ role: 'user', content: text });
    const prompt = chatPromptTokens(this.model, this.#history(), { addGenerationPrompt: true });
    // The generation prompt may leave the model inside <think> (R1 distills, QwQ): as the server.
    const thinking = promptOpensReasoning(this.model.detokenize(prompt.slice(-8), { special: true })) ? true : 'auto';
    const view: AssistantParser = assistantParser({ family: isHarmonyModel(this.model) ? 'harmony' : 'generic', tools: false, thinking });
    const printer = new ReplyPrinter(this.settings.color);
    let result: GenerateResult | undefined;
    try {
      for await (const item of this.session.generate(prompt, { ...this.settings.sampling, maxTokens: this.settings.maxTokens, signal: ac.signal })) {
        if (isGenerateResult(item)) {
          printer.show(view.flush());
          result = item;
        } else printer.show(view.push(item.text));
      }
    } catch (err) {
      this.messages.pop();
      if (err instanceof LlmError && err.code === 'CONTEXT_LENGTH_EXCEEDED') {
        this.#note(`[context full: ${err.message}. /reset starts a new conversation, or restart with a larger -c]`);
        return;
      }
      throw err;
    } finally {
      this.current = null;
    }
    printer.end();
    const r = result!;
    // A reply stopped before any text is dropped with its question, so turns keep alternating;
    // a partial one stays (the next turn continues from what was shown).
    if (r.finishReason === 'abort' && printer.content === '') this.messages.pop();
    else this.messages.push({ role: 'assistant', content: printer.content });
    this.#stats(r);
    if (this.#contextFull(r)) {
      this.#note(`[context full (${this.session.contextSize} tokens): /reset starts a new conversation, or restart with a larger -c]`);
    }
  }

  /** Ended by the context, not by -n. */
  #contextFull(r: GenerateResult): boolean {
    return r.finishReason === 'length' && r.usage.completionTokens < this.settings.maxTokens;
  }

  #stats(r: GenerateResult): void {
    const u = r.usage;
    const t = r.timings;
    const how = r.finishReason === 'abort' ? 'stopped · ' : this.#contextFull(r) ? 'context full · ' : r.finishReason === 'length' ? 'length limit · ' : '';
    this.#note(
      `[${how}${u.completionTokens} tokens, ${t.generateTokensPerSecond.toFixed(1)} tok/s · ` +
        `prompt: ${u.promptTokens} tokens, ${u.cachedTokens} reused, ${u.promptTokens - u.cachedTokens} new at ${t.promptTokensPerSecond.toFixed(1)} tok/s]`,
    );
  }
}

/**
 * The user's lines, from one readline for the whole chat: lines typed (or piped) while a reply
 * streams wait in a queue. On a TTY readline keeps the terminal in raw mode, so Ctrl+C comes as
 * its 'SIGINT' event and Ctrl+D on an empty line closes it.
 */
class Lines {
  readonly #queue: string[] = [];
  #wake: (() => void) | null = null;
  closed = false;

  constructor(readonly rl: Interface) {
    rl.on('line', (line) => {
      this.#queue.push(line);
      this.#wake?.();
    });
    rl.on('close', () => {
      this.closed = true;
      this.#wake?.();
    });
  }

  /** The next line; null once the input ended (EOF, Ctrl+D, Ctrl+C at the prompt). */
  async next(prompt: boolean): Promise<string | null> {
    if (this.#queue.length === 0 && !this.closed && prompt) this.rl.prompt();
    while (this.#queue.length === 0 && !this.closed) await new Promise<void>((r) => (this.#wake = r));
    this.#wake = null;
    return this.#queue.shift() ?? null;
  }
}

export async function chatCommand(args: string[]): Promise<number> {
  const { values: v, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { ...MODEL_OPTIONS, ...SAMPLING_OPTIONS, 'n-predict': { type: 'string', short: 'n' }, system: { type: 'string' } },
  });
  if (positionals.length) throw new UsageError(`usage: llmplayer chat [-m FILE] [--system TEXT] [-n N] [--temp T] … (unexpected "${positionals[0]}")`);
  const nPredict = parseIntOption('n-predict', v['n-predict'], -1);
  const sampling = samplingFromFlags(v);
  const tty = !!process.stdin.isTTY;
  const color = tty && !!process.stdout.isTTY && !process.env.NO_COLOR;
  const file = v.model ?? EMBEDDED_MODEL;
  const model = await openModel(v);
  const session = model.createSession();
  const name = basename(file).replace(/\.gguf$/i, '');
  const chat = new Conversation(model, session, name, v.system, {
    sampling,
    maxTokens: nPredict === undefined || nPredict < 0 ? Infinity : nPredict,
    color,
    colorErr: color && !!process.stderr.isTTY,
  });
  const rl = tty
    ? createInterface({ input: process.stdin, output: process.stdout, terminal: true, historySize: 1000, removeHistoryDuplicates: true })
    : createInterface({ input: process.stdin, terminal: false });
  rl.setPrompt('> ');
  const lines = new Lines(rl);
  // Ctrl+C while a reply streams stops it; a second one before it stopped leaves at once; at the
  // prompt it leaves as Ctrl+D does.
  const onSigint = () => {
    if (chat.current && !chat.current.signal.aborted) chat.current.abort();
    else if (chat.current) process.exit(130);
    else rl.close();
  };
  rl.on('SIGINT', onSigint);
  process.on('SIGINT', onSigint);
  // Ctrl+D on a TTY leaves, during a reply too; the end of piped input lets the last reply finish.
  if (tty) rl.on('close', () => chat.current?.abort());
  if (tty) {
    const how = `${model.backend}, context ${session.contextSize}`;
    process.stdout.write(`${color ? DIM : ''}llmplayer chat: ${name} (${how}). /help for commands, Ctrl+D to exit.${color ? UNDIM : ''}\n`);
  }
  try {
    for (;;) {
      const line = await lines.next(tty);
      if (line === null) break;
      if (line.trim() === '') continue;
      if (line.startsWith('/')) {
        if (!chat.command(line)) break;
        continue;
      }
      await chat.turn(line);
      if (lines.closed && tty) break;
    }
  } finally {
    process.off('SIGINT', onSigint);
    if (tty) process.stdout.write('\n');
    rl.close();
    model.dispose();
  }
  return 0;
}
