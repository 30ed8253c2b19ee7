// `llmplayer serve` end to end: the built CLI (dist/cli.js) as a child process on port 0 with the
// embedded stories260K model; the printed URL, a chat request with the `openai` client, /health,
// --api-key, and SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('..', import.meta.url));
const cli = `${repo}dist/cli.js`;

interface Started {
  child: ChildProcess;
  url: string;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running: ChildProcess[] = [];

/** Spawns `node dist/cli.js serve …` and waits for the URL it prints. */
function startServe(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Started> {
  const child = spawn(process.execPath, [cli, 'serve', '--port', '0', ...args], {
    cwd: repo,
    env: { ...process.env, LLMPLAYER_API_KEY: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.push(child);
  let out = '';
  let err = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL printed within 30 s\nstdout: ${out}\nstderr: ${err}`)), 30_000);
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /serving \S+ at (http:\/\/127\.0\.0\.1:(\d+))\/v1/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, url: m[1]!, stdout: () => out, stderr: () => err, exited });
      }
    });
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`llmplayer serve exited (${code}) before printing its URL\nstdout: ${out}\nstderr: ${err}`));
    });
  });
}

describe.skipIf(!existsSync(cli))('llmplayer serve (dist/cli.js)', () => {
  afterEach(() => {
    for (const c of running.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  });

  it('prints the real URL for --port 0, answers chat, reports ready, exits on SIGTERM', async () => {
    const s = await startServe([]);
    const port = Number(new URL(s.url).port);
    expect(port).toBeGreaterThan(0);
    expect(s.stdout()).toContain('(embedded stories260K demo model)');
    expect(s.stdout()).toContain(`curl ${s.url}/v1/chat/completions`);
    expect(s.stdout()).toContain(`open ${s.url}/ in a browser to chat`);
    expect((await fetch(`${s.url}/`)).headers.get('content-type')).toBe('text/html; charset=utf-8');

    const client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const res = await client.chat.completions.create({
      model: 'stories260K',
      messages: [{ role: 'user', content: 'Once upon a time' }],
      temperature: 0,
      max_tokens: 24,
    });
    expect(res.model).toBe('stories260K');
    expect(res.choices[0]!.message.content!.length).toBeGreaterThan(10);
    expect(res.usage!.completion_tokens).toBeLessThanOrEqual(24);

    const health = await fetch(`${s.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ready', models: [{ id: 'stories260K', status: 'ready' }] });
    const models: string[] = [];
    for await (const m of client.models.list()) models.push(m.id);
    expect(models).toEqual(['stories260K']);

    s.child.kill('SIGTERM');
    expect(await s.exited).toEqual({ code: 0, signal: null });
    expect(s.stderr()).toContain('shutting down');
    await expect(fetch(`${s.url}/health`)).rejects.toThrow();
  });

  it('--no-ui: no chat page at / and no page URL printed', async () => {
    const s = await startServe(['--no-ui']);
    expect(s.stdout()).not.toContain('in a browser');
    expect((await fetch(`${s.url}/`)).status).toBe(404);
    expect((await fetch(`${s.url}/v1/models`)).status).toBe(200);
    s.child.kill('SIGTERM');
    expect((await s.exited).code).toBe(0);
  });

  it('--api-key: 401 without the key, 200 with it; /health stays public', async () => {
    const s = await startServe(['--api-key', 'sk-cli-test', '--backend', 'wasm']);
    expect(s.stdout()).toContain('Authorization: Bearer $LLMPLAYER_API_KEY');
    const body = JSON.stringify({ messages: [{ role: 'user', content: 'Once upon a time' }], temperature: 0, max_tokens: 8 });
    const post = (headers: Record<string, string>) =>
      fetch(`${s.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

    const none = await post({});
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    expect(await none.json()).toMatchObject({ error: { type: 'authentication_error', code: 'invalid_api_key' } });
    expect((await post({ authorization: 'Bearer sk-wrong' })).status).toBe(401);

    const ok = await post({ authorization: 'Bearer sk-cli-test' });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('x-llmplayer-backend')).toBe('wasm');
    expect(((await ok.json()) as { choices: unknown[] }).choices).toHaveLength(1);

    const client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'sk-cli-test', maxRetries: 0 });
    expect((await client.models.retrieve('stories260K')).id).toBe('stories260K');
    await expect(new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'nope', maxRetries: 0 }).models.list()).rejects.toBeInstanceOf(OpenAI.AuthenticationError);

    expect((await fetch(`${s.url}/health`)).status).toBe(200);
    s.child.kill('SIGTERM');
    expect((await s.exited).code).toBe(0);
  });

  it('LLMPLAYER_API_KEY from the environment works like --api-key', async () => {
    const s = await startServe([], { LLMPLAYER_API_KEY: 'sk-from-env' });
    expect((await fetch(`${s.url}/v1/models`)).status).toBe(401);
    expect((await fetch(`${s.url}/v1/models`, { headers: { authorization: 'Bearer sk-from-env' } })).status).toBe(200);
    s.child.kill('SIGTERM');
    expect((await s.exited).code).toBe(0);
  });
});
