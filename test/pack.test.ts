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

  it('npx llmplayer --version and --help', () => {
    const v = execFileSync('npx', ['--no-install', 'llmplayer', '--version'], { cwd: app, env, encoding: 'utf8' });
    expect(v.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const h = execFileSync('npx', ['--no-install', 'llmplayer', '--help'], { cwd: app, env, encoding: 'utf8' });
    expect(h).toMatch(/llmplayer info <file\.gguf>/);
  });
});
