// The server on the other runtimes, from the built entries in dist/server/: Bun (bun.js) and Deno
// (deno.js) serve stories260K from a file on both backends; workerd runs the worker entry
// (worker.js, bundled by scripts/build-worker.mjs) with the WASM backend, the .wasm imported as a
// module and the GGUF from a data binding (test/workerd/config.capnp). Each answers a greedy chat
// request, plain and streamed, with the same text as the server under Node.
//
// The runtimes are devDependencies (npm packages `bun`, `deno`, `workerd`, whose binaries come
// from per-platform packages of the registry). A runtime whose binary does not run here is
// skipped, with the reason in the suite's name.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../ts/index.js';
import { createApp } from '../ts/server/index.js';
import { sseData } from './helpers/server.js';

const repo = fileURLToPath(new URL('..', import.meta.url));
const MODEL = join(repo, 'models', 'stories260K.gguf');
const built = ['bun', 'deno', 'worker'].every((n) => existsSync(join(repo, 'dist', 'server', `${n}.js`)));
const CHAT = { messages: [{ role: 'user', content: 'Once upon a time' }], temperature: 0, max_tokens: 24 };

/** null when `node_modules/.bin/<name> --version` runs; else why not. */
function unavailable(name: string): string | null {
  if (!built) return 'dist/server/ is not built (npm run build:ts)';
  const bin = join(repo, 'node_modules', '.bin', name);
  if (!existsSync(bin)) return `node_modules/.bin/${name} is missing (npm install)`;
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) return `${name} --version failed: ${(r.error?.message ?? r.stderr ?? '').trim().slice(0, 200)}`;
  return null;
}

const children: ChildProcess[] = [];

/** Spawns a server process and resolves with its URL once `match` finds it in stdout (or fd 3). */
function start(cmd: string, args: string[], match: RegExp, env: NodeJS.ProcessEnv = {}, fd3 = false): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(cmd, args, { cwd: repo, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe', ...(fd3 ? ['pipe' as const] : [])] });
  children.push(child);
  let out = '';
  let err = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail('did not start within 60 s'), 60_000);
    const fail = (why: string) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} ${args.join(' ')}: ${why}\nstdout: ${out.slice(-2000)}\nstderr: ${err.slice(-2000)}`));
    };
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const source = fd3 ? (child.stdio[3] as NodeJS.ReadableStream) : child.stdout!;
    if (fd3) child.stdout!.on('data', () => {});
    source.on('data', (d: Buffer) => {
      out += d.toString();
      const m = match.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1]!, child });
      }
    });
    child.once('error', (e) => fail(e.message));
    child.once('exit', (code, signal) => fail(`exited (${code ?? signal}) before it was ready`));
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.stdin?.end(); // serve.mjs closes its server when stdin ends
  if (!child.stdin) child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  const soft = setTimeout(() => child.kill('SIGTERM'), 2000);
  await exited;
  clearTimeout(timer);
  clearTimeout(soft);
}

afterAll(async () => {
  await Promise.all(children.map(stop));
});

/** What the Node server answers (the reference for every runtime). */
let expected = '';
beforeAll(async () => {
  const model = await loadModel(MODEL, { backend: 'native', threads: 2 });
  try {
    const app = createApp({ models: { id: 'stories', model } });
    const res = await app.request('/v1/chat/completions', { method: 'POST', body: JSON.stringify(CHAT) });
    expected = ((await res.json()) as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content;
  } finally {
    model.dispose();
  }
  expect(expected.length).toBeGreaterThan(10);
});

/** A plain and a streamed chat request against `url`; both must give the Node server's text. */
async function checkChat(url: string, backend: string): Promise<void> {
  const post = (body: unknown) => fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const res = await post({ model: 'stories', ...CHAT });
  expect(res.status).toBe(200);
  expect(res.headers.get('x-llmplayer-backend')).toBe(backend);
  const body = (await res.json()) as { choices: Array<{ message: { content: string }; finish_reason: string }>; system_fingerprint: string };
  expect(body.system_fingerprint).toBe(`llmplayer-${backend}`);
  expect(body.choices[0]!.message.content).toBe(expected);
  expect(body.choices[0]!.finish_reason).toBe('length');

  const streamed = await post({ ...CHAT, stream: true });
  expect(streamed.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const data = sseData(await streamed.text());
  expect(data.at(-1)).toBe('[DONE]');
  const text = data
    .slice(0, -1)
    .map((d) => (JSON.parse(d) as { choices: Array<{ delta: { content?: string } }> }).choices[0]?.delta.content ?? '')
    .join('');
  expect(text).toBe(expected);

  const health = await fetch(`${url}/health`);
  expect(health.status).toBe(200);

  // The chat page at / comes from every runtime's entry (one inline HTML answer, no files to find).
  const page = await fetch(`${url}/`);
  expect(page.status).toBe(200);
  expect(page.headers.get('content-security-policy')).toMatch(/script-src 'sha256-/);
  expect(await page.text()).toMatch(/^<!doctype html>[\s\S]*<script>/);
}

const LISTENING = /LISTENING (http:\/\/\S+) (native|wasm)/;

for (const runtime of ['bun', 'deno'] as const) {
  const why = unavailable(runtime);
  describe.skipIf(why !== null)(`${runtime}: dist/server/${runtime}.js${why ? ` (skipped: ${why})` : ''}`, () => {
    for (const backend of ['native', 'wasm'] as const) {
      it(`serves a chat completion (${backend} backend)`, async () => {
        const bin = join(repo, 'node_modules', '.bin', runtime);
        const script = join(repo, 'test', 'runtimes', 'serve.mjs');
        const denoDir = join(tmpdir(), 'llmplayer-deno-dir');
        mkdirSync(denoDir, { recursive: true });
        const { url, child } =
          runtime === 'bun'
            ? await start(bin, [script, 'bun', MODEL, backend], LISTENING)
            : await start(bin, ['run', '-A', '--no-lock', script, 'deno', MODEL, backend], LISTENING, {
                DENO_DIR: denoDir,
                DENO_NO_UPDATE_CHECK: '1',
                DENO_NO_PROMPT: '1',
              });
        try {
          await checkChat(url, backend);
        } finally {
          await stop(child);
        }
        expect(child.exitCode).toBe(0);
      });
    }
  });
}

const whyWorkerd = unavailable('workerd');
describe.skipIf(whyWorkerd !== null)(`workerd: dist/server/worker.js, WASM module import, model from a data binding${whyWorkerd ? ` (skipped: ${whyWorkerd})` : ''}`, () => {
  it('serves a chat completion (wasm backend)', async () => {
    const build = spawnSync(process.execPath, [join(repo, 'scripts', 'build-worker.mjs')], { cwd: repo, encoding: 'utf8' });
    expect(build.status, build.stderr).toBe(0);
    const { url, child } = await start(
      join(repo, 'node_modules', '.bin', 'workerd'),
      ['serve', join(repo, 'test', 'workerd', 'config.capnp'), '--socket-addr', 'http=127.0.0.1:0', '--control-fd', '3'],
      /"port":(\d+)/,
      {},
      true,
    ).then(({ url, child }) => ({ url: `http://127.0.0.1:${url}`, child }));
    try {
      await checkChat(url, 'wasm');
      const models = (await (await fetch(`${url}/v1/models`)).json()) as { data: Array<{ id: string; status: string }> };
      expect(models.data).toMatchObject([{ id: 'stories', status: 'ready' }]);
    } finally {
      child.kill('SIGTERM');
      await stop(child);
    }
  });
});
