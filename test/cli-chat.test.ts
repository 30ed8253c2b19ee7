// `llmplayer chat` end to end: the built CLI (dist/cli.js) driven through a pseudo-terminal
// (util-linux `script`) with the real SmolLM2 model — two turns where the second evaluates only
// its new tokens, Ctrl+C in the middle of a reply, /reset, Ctrl+D — and with piped stdin on the
// embedded stories260K model, whose replies and counts are compared with the SDK's own.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { chatPromptTokens, isGenerateResult, loadModel, type GenerateResult } from '../ts/index.js';
import type { ChatMessage } from '../ts/chat-template.js';
import { realModelOrFail } from './helpers/real-models.js';

const repo = fileURLToPath(new URL('..', import.meta.url));
const cli = `${repo}dist/cli.js`;
const embedded = `${repo}models/stories260K.gguf`;
const smol = realModelOrFail('SmolLM2-135M-Instruct', 'the terminal chat test');
const hasScript = spawnSync('script', ['--version']).status === 0;
if (process.env.CI === 'true' && !hasScript) throw new Error('util-linux `script` is needed to drive the chat through a pseudo-terminal');

/** The stats line printed after each reply. */
interface Stats {
  stopped: boolean;
  completion: number;
  prompt: number;
  reused: number;
  fresh: number;
}
const STATS = /\[(stopped · |length limit · |context full · )?(\d+) tokens, [\d.]+ tok\/s · prompt: (\d+) tokens, (\d+) reused, (\d+) new at [\d.]+ tok\/s\]/g;
function statsLines(text: string): Stats[] {
  return [...text.matchAll(STATS)].map((m) => ({ stopped: m[1] === 'stopped · ', completion: +m[2]!, prompt: +m[3]!, reused: +m[4]!, fresh: +m[5]! }));
}

const stripAnsi = (s: string) => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');

const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** The CLI in a pseudo-terminal: keystrokes in, the terminal's output (ANSI stripped) out. */
function startInPty(args: string[]) {
  const cmd = ['exec', process.execPath, cli, 'chat', ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = spawn('script', ['-qfec', cmd, '/dev/null'], { cwd: repo, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '' } });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const text = () => stripAnsi(out);
  /** Resolves once `test` holds for the output after `from` (polled). */
  const waitFor = async (what: string, test: (after: string) => boolean, from = 0, ms = 40_000) => {
    const t0 = Date.now();
    while (!test(text().slice(from))) {
      if (child.exitCode !== null) throw new Error(`chat exited (${child.exitCode}) waiting for ${what}:\n${text()}`);
      if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}:\n${text()}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  /** Types `keys` at the prompt once it is shown after `from`; returns where its output starts. */
  const type = async (keys: string, from: number) => {
    await waitFor('the prompt', (after) => /(^|\n)> $/.test(after.replace(/\r/g, '')), from);
    const at = text().length;
    child.stdin!.write(keys);
    return at;
  };
  /** Types one turn and waits for its stats line. */
  const turn = async (line: string, from: number) => {
    const at = await type(line + '\r', from);
    await waitFor(`the stats of "${line}"`, (after) => statsLines(after).length > 0, at);
    const after = text().slice(at);
    const m = [...after.matchAll(STATS)][0]!;
    return { stats: statsLines(after)[0]!, end: at + m.index + m[0].length };
  };
  return { child, text, waitFor, type, turn, exited };
}

describe.skipIf(!existsSync(cli) || !smol || !hasScript)('llmplayer chat in a terminal (SmolLM2, dist/cli.js)', () => {
  it('reuses the earlier turns, stops a reply on Ctrl+C, resets, exits on Ctrl+D', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'llmplayer-chat-'));
    const saved = join(dir, 'chat.json');
    const t = startInPty(['-m', smol!.path, '-c', '1024', '--temp', '0', '-n', '200']);
    await t.waitFor('the banner', (s) => s.includes('/help for commands'));

    const first = await t.turn('Hi! Who are you?', 0);
    expect(first.stats.reused).toBe(0);
    const second = await t.turn('What can you help me with?', first.end);
    const at = await t.type(`/save ${saved}\r`, second.end);
    await t.waitFor('the save', (s) => s.includes('[saved 4 messages'), at);

    // The expected counts come from the model's own template and tokenizer over the saved history.
    const { messages } = JSON.parse(readFileSync(saved, 'utf8')) as { messages: ChatMessage[] };
    expect(messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
    const vocab = await loadModel(smol!.path, { vocabOnly: true });
    const turn1 = chatPromptTokens(vocab, messages.slice(0, 1), { addGenerationPrompt: true });
    const turn2 = chatPromptTokens(vocab, messages.slice(0, 3), { addGenerationPrompt: true });
    vocab.dispose();
    expect(first.stats).toMatchObject({ prompt: turn1.length, fresh: turn1.length });
    expect(second.stats.prompt).toBe(turn2.length);
    expect(second.stats.fresh).toBe(turn2.length - second.stats.reused);
    // The whole first prompt and (part of) the reply the session generated after it were kept.
    // The first turn ended at its end-of-turn token (sampled, never evaluated), so the session
    // held its prompt and every reply token, and the template renders the reply back to them.
    expect(first.stats.stopped).toBe(false);
    expect(first.stats.completion).toBeLessThan(200);
    expect(second.stats.reused).toBe(turn1.length + first.stats.completion);

    // Ctrl+C once the reply is streaming: it stops, the prompt comes back, the chat goes on.
    const story = await t.type('Write a long story about a dragon.\r', at);
    await t.waitFor('streamed text', (s) => /dragon\.[\s\S]*\S{2}/.test(s) && s.slice(s.indexOf('dragon.') + 7).replace(/\s/g, '').length >= 20, story);
    t.child.stdin!.write('\x03');
    await t.waitFor('the stopped reply', (s) => statsLines(s).length > 0, story);
    const stopped = statsLines(t.text().slice(story))[0]!;
    expect(stopped.stopped).toBe(true);
    expect(stopped.completion).toBeLessThan(200);
    expect(t.child.exitCode).toBeNull();
    const after = await t.turn('Thanks!', story);
    expect(after.stats.reused).toBeGreaterThan(stopped.prompt);

    // /reset empties the cache as well as the history: nothing is reused.
    const reset = await t.type('/reset\r', after.end);
    await t.waitFor('the reset', (s) => s.includes('[conversation cleared]'), reset);
    const fresh = await t.turn('Hi! Who are you?', reset);
    expect(fresh.stats).toMatchObject({ prompt: turn1.length, reused: 0, fresh: turn1.length });

    await t.type('\x04', fresh.end);
    expect(await t.exited).toBe(0);
  }, 120_000);
});

describe.skipIf(!existsSync(cli))('llmplayer chat with piped stdin (stories260K, dist/cli.js)', () => {
  it('answers each line as a turn of one conversation, as the SDK does, and exits 0', async () => {
    const lines = ['Hello', 'Once upon a time'];
    const child = spawn(process.execPath, [cli, 'chat', '--temp', '0', '-n', '16'], { cwd: repo, stdio: ['pipe', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdin!.end(lines.join('\n') + '\n');
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code, err).toBe(0);
    expect(out).not.toContain('\x1b');
    expect(err).not.toContain('\x1b');

    // The same conversation through the SDK: same prompts, replies and reused counts.
    const model = await loadModel(embedded);
    const session = model.createSession();
    const messages: ChatMessage[] = [];
    const results: GenerateResult[] = [];
    for (const line of lines) {
      messages.push({ role: 'user', content: line });
      let result: GenerateResult | undefined;
      for await (const item of session.generate(chatPromptTokens(model, messages, { addGenerationPrompt: true }), { temperature: 0, maxTokens: 16 })) {
        if (isGenerateResult(item)) result = item;
      }
      results.push(result!);
      messages.push({ role: 'assistant', content: result!.text });
    }
    model.dispose();
    expect(out).toBe(results.map((r) => r.text + '\n').join(''));
    const stats = statsLines(err);
    expect(stats.map((s) => [s.completion, s.prompt, s.reused, s.fresh])).toEqual(
      results.map((r) => [r.usage.completionTokens, r.usage.promptTokens, r.usage.cachedTokens, r.usage.promptTokens - r.usage.cachedTokens]),
    );
    expect(stats[1]!.reused).toBeGreaterThan(0);
  }, 60_000);

  it('says when the context is full, and /reset starts over', async () => {
    const ctx = 48;
    const child = spawn(process.execPath, [cli, 'chat', '--temp', '0', '-c', String(ctx)], { cwd: repo, stdio: ['pipe', 'pipe', 'pipe'] });
    children.push(child);
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdin!.end(['Hello', 'Once upon a time', '/reset', 'Hello'].join('\n') + '\n');
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code, err).toBe(0);
    // Unbounded replies: the first one runs until the context is full.
    const stats = statsLines(err);
    expect(stats).toHaveLength(2);
    expect(stats[0]!.prompt + stats[0]!.completion).toBe(ctx);
    expect(err).toMatch(/\[context full · \d+ tokens/);
    expect(err).toContain(`[context full (${ctx} tokens)`);
    // The second turn does not fit: refused with the engine's reason, the chat goes on.
    expect(err).toMatch(new RegExp(`\\[context full: the prompt has \\d+ tokens; the context holds ${ctx}`));
    expect(stats[1]).toMatchObject({ prompt: stats[0]!.prompt, reused: 0 });
  }, 60_000);
});
