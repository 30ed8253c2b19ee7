// The published shape: pack the main package and the linux-x64-gnu package, install both
// tarballs into an empty folder with no Rust toolchain on the PATH, run the CLI on both backends.
import { describe, expect, it, beforeAll } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixturesRoot } from './helpers/fixtures.js';

const repo = fileURLToPath(new URL('..', import.meta.url));
const root = fixturesRoot();
const platformDir = join(repo, 'npm', 'linux-x64-gnu');
const built = existsSync(join(platformDir, 'llmplayer.linux-x64-gnu.node')) && existsSync(join(repo, 'dist', 'cli.js'));
const isLinuxX64 = process.platform === 'linux' && process.arch === 'x64';

describe.skipIf(!root || !isLinuxX64)('npm pack + install without Rust', () => {
  let app = '';
  let env: NodeJS.ProcessEnv = {};

  beforeAll(() => {
    if (!built) throw new Error('run scripts/setup.sh first: npm/linux-x64-gnu has no .node or dist/ is missing');
    const work = mkdtempSync(join(tmpdir(), 'llmplayer-pack-'));
    const pack = (dir: string) =>
      execFileSync('npm', ['pack', '--silent', '--pack-destination', work], { cwd: dir, encoding: 'utf8' }).trim().split('\n').pop()!;
    const mainTgz = join(work, pack(repo));
    const platformTgz = join(work, pack(platformDir));

    // A PATH holding only what npm needs: no cargo, no rustc (Debian puts them in /usr/bin).
    const bin = join(work, 'bin');
    mkdirSync(bin);
    for (const tool of ['node', 'npm', 'npx', 'env', 'sh', 'bash']) {
      const found = execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim();
      symlinkSync(found, join(bin, tool));
    }
    env = { HOME: process.env.HOME, PATH: bin, npm_config_cache: join(work, 'npm-cache'), CI: 'true' };
    delete env.LLMPLAYER_BACKEND;

    app = join(work, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true }));
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', mainTgz, platformTgz], {
      cwd: app,
      env,
      stdio: 'pipe',
    });
  }, 240_000);

  it('has no Rust toolchain on the PATH', () => {
    for (const tool of ['cargo', 'rustc']) {
      expect(spawnSync('sh', ['-c', `command -v ${tool}`], { env }).status).not.toBe(0);
    }
    // The tarball carries the loader and the WASM module but no native binary of its own.
    const pkg = join(app, 'node_modules', 'llmplayer');
    expect(readdirSync(join(pkg, 'native')).some((f) => f.endsWith('.node'))).toBe(false);
    expect(existsSync(join(pkg, 'wasm', 'llmplayer_wasm_bg.wasm'))).toBe(true);
  });

  for (const backend of ['native', 'wasm'] as const) {
    for (const file of ['vocab/ggml-vocab-llama-spm.gguf', 'real/stories260K.gguf']) {
      it(`npx llmplayer info ${file} (${backend})`, () => {
        const out = execFileSync('npx', ['--no-install', 'llmplayer', 'info', join(root!, file)], {
          cwd: app,
          env: { ...env, LLMPLAYER_BACKEND: backend },
          encoding: 'utf8',
        });
        expect(out).toMatch(new RegExp(`backend:\\s+${backend}`));
        expect(out).toMatch(/architecture:\s+llama/);
        expect(out).toMatch(/tokenizer:\s+llama/);
        if (file.includes('stories')) expect(out).toMatch(/parameters:\s+292\.8K/);
        else expect(out).toMatch(/vocabulary:\s+32000/);
      });
    }
  }

  it('npx llmplayer serve --port 0 answers a chat request (embedded model, dependencies from the tarball)', async () => {
    const { spawn } = await import('node:child_process');
    // Its own process group, so that SIGTERM reaches the server behind npx.
    const child = spawn('npx', ['--no-install', 'llmplayer', 'serve', '--port', '0'], { cwd: app, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | string | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
    let out = '';
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no URL within 60 s\nstdout: ${out}\nstderr: ${err}`)), 60_000);
        child.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          const m = / at (http:\/\/127\.0\.0\.1:\d+)\/v1/.exec(out);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]!);
          }
        });
        void exited.then((code) => reject(new Error(`serve exited (${code})\nstdout: ${out}\nstderr: ${err}`)));
      });
      const res = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ messages: [{ role: 'user', content: 'Once upon a time' }], temperature: 0, max_tokens: 16 }),
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { model: string; choices: Array<{ message: { content: string } }>; usage: { completion_tokens: number } };
      expect(body.model).toBe('stories260K');
      expect(body.choices[0]!.message.content.length).toBeGreaterThan(5);
      expect(body.usage.completion_tokens).toBeGreaterThan(0);
      expect(res.headers.get('x-llmplayer-backend')).toBe('native');
    } finally {
      if (child.exitCode === null) process.kill(-child.pid!, 'SIGTERM');
    }
    // npx itself gets the SIGTERM too and may die of it; the server under it exits 0.
    expect([0, 'SIGTERM']).toContain(await exited);
  }, 90_000);

  it('npx llmplayer --version and --help', () => {
    const v = execFileSync('npx', ['--no-install', 'llmplayer', '--version'], { cwd: app, env, encoding: 'utf8' });
    expect(v.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const h = execFileSync('npx', ['--no-install', 'llmplayer', '--help'], { cwd: app, env, encoding: 'utf8' });
    expect(h).toMatch(/llmplayer info <file\.gguf>/);
  });
});
