// The roadmap architectures (`models-roadmap/`: mamba, rwkv6, kimi-linear, step35, gemma4)
// through the built CLI, as a user runs them: `llmplayer eval` gives llama.cpp's logits on both
// backends, `llmplayer run` streams a greedy completion, and one `llmplayer serve
// --models-dir` answers /v1/completions for every file with the text `run` printed.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { fixturesRoot, listFixtures } from './helpers/fixtures.js';

const repo = fileURLToPath(new URL('..', import.meta.url));
const cli = `${repo}dist/cli.js`;
const files = fixturesRoot() === null ? [] : listFixtures('models-roadmap', 'gguf');

/** models/README.md: |a - b| <= 1e-3 + 1e-4 |b|. */
const tol = (b: number) => 1e-3 + 1e-4 * Math.abs(b);

function llmplayer(args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: repo, encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20 });
  expect(r.status, `llmplayer ${args.join(' ')}\n${r.stderr}`).toBe(0);
  return r;
}

/** Rows whose logits leave the tolerance, as `row i: max |a - b|`. */
function outOfTolerance(got: number[][], want: number[][]): string[] {
  expect(got.length).toBe(want.length);
  return want.flatMap((row, i) => {
    let worst = 0;
    let out = false;
    row.forEach((b, j) => {
      const d = Math.abs(got[i]![j]! - b);
      worst = Math.max(worst, d);
      out ||= !(d <= tol(b));
    });
    return out ? [`row ${i}: ${worst.toExponential(3)}`] : [];
  });
}

const runText = new Map<string, string>();

describe.skipIf(files.length === 0)('roadmap architectures through the CLI', () => {
  it('finds the five roadmap fixtures', () => expect(files.length).toBeGreaterThanOrEqual(5));

  for (const file of files) {
    const name = basename(file);
    const ref = () => JSON.parse(readFileSync(file + '.ref.json', 'utf8')) as { prompt_tokens: number[]; logits_prefill: number[][]; logits_decode: number[][] };
    for (const backend of ['native', 'wasm'] as const) {
      it(`eval (${backend}): ${name} prefill and decode logits as llama.cpp's`, () => {
        const r = ref();
        for (const [mode, want] of [['prefill', r.logits_prefill], ['decode', r.logits_decode]] as const) {
          const args = ['eval', '-m', file, '--tokens', r.prompt_tokens.join(','), '--json', '--backend', backend];
          const out = JSON.parse(llmplayer(mode === 'decode' ? [...args, '--decode'] : args).stdout) as { mode: string; logits: number[][] };
          expect(out.mode).toBe(mode);
          expect(outOfTolerance(out.logits, want), `${name} ${backend} ${mode}`).toEqual([]);
        }
      });
    }
    it(`run: ${name} streams a greedy completion`, () => {
      const r = llmplayer(['run', '-m', file, '-p', 'a b', '-n', '8', '--temp', '0']);
      expect(r.stderr + r.stdout).toMatch(/generation: \d+ tokens/);
      const text = r.stdout.split('\n[native]')[0]!;
      expect(text.startsWith('a b')).toBe(true);
      runText.set(basename(file, '.gguf'), text.slice('a b'.length));
    });
  }

  describe('serve --models-dir', () => {
    let child: ChildProcess | undefined;
    afterAll(() => void child?.kill('SIGTERM'));

    it('answers /v1/completions for every file with the text run printed', async () => {
      child = spawn(process.execPath, [cli, 'serve', '--port', '0', '--models-dir', dirname(files[0]!), '--parallel', '1'], {
        cwd: repo,
        env: { ...process.env, LLMPLAYER_API_KEY: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        const timer = setTimeout(() => reject(new Error(`no URL printed: ${out}`)), 30_000);
        child!.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /http:\/\/[^\s/]+/.exec(out);
          if (m) {
            clearTimeout(timer);
            resolve(m[0]);
          }
        });
      });
      const models = (await (await fetch(`${url}/v1/models`)).json()) as { data: { id: string }[] };
      const ids = models.data.map((m) => m.id).sort();
      expect(ids).toEqual(files.map((f) => basename(f, '.gguf')).sort());
      for (const id of ids) {
        const res = await fetch(`${url}/v1/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ model: id, prompt: 'a b', max_tokens: 8, temperature: 0 }),
        });
        const body = (await res.json()) as { choices: { text: string }[]; usage: { completion_tokens: number } };
        expect(res.status, JSON.stringify(body)).toBe(200);
        expect(body.usage.completion_tokens).toBeGreaterThan(0);
        if (runText.has(id)) expect(body.choices[0]!.text, id).toBe(runText.get(id));
      }
    }, 120_000);
  });
});
