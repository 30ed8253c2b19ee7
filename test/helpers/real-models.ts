// Real GGUF models (listed in <fixtures>/real/models.json) as scripts/fetch-models.sh caches
// them: `$LLMPLAYER_MODELS` (relative to the cwd), else ~/.cache/llmplayer/models. Keep this
// in step with the script: same variable, same default, same stamp format.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fixturesRoot } from './fixtures.js';

export interface RealModelEntry {
  file: string;
  architecture: string;
  sha256: string;
  bytes: number;
  ref: string;
}

export interface RealModel extends RealModelEntry {
  /** Absolute path of the cached file. */
  path: string;
  /** null when the file is present and verified; else why it is not usable. */
  missing: string | null;
}

export function modelsDir(): string {
  const fromEnv = process.env.LLMPLAYER_MODELS;
  return fromEnv ? resolve(fromEnv) : join(homedir(), '.cache', 'llmplayer', 'models');
}

/**
 * Whether the fetch script has verified the file: `<file>.sha256` holds "sha256 size mtime"
 * written after its last hash check, so a stale, truncated or replaced file is caught without
 * hashing hundreds of MB in every test run.
 */
function whyUnusable(m: RealModelEntry, path: string): string | null {
  if (!existsSync(path)) return `${path} not found`;
  const st = statSync(path);
  if (st.size !== m.bytes) return `${path} is ${st.size} bytes, models.json says ${m.bytes}`;
  const stampPath = path + '.sha256';
  const stamp = existsSync(stampPath) ? readFileSync(stampPath, 'utf8').trim() : '';
  const want = `${m.sha256.toLowerCase()} ${st.size} ${Math.floor(st.mtimeMs / 1000)}`;
  if (stamp !== want) return `${path} has not been verified against models.json's sha256 (stamp ${stampPath})`;
  return null;
}

/** The models of `<fixturesRoot>/real/models.json` with where they are cached. */
export function realModels(fixturesRoot: string): RealModel[] {
  const list = JSON.parse(readFileSync(join(fixturesRoot, 'real', 'models.json'), 'utf8')) as { models: RealModelEntry[] };
  const dir = modelsDir();
  return list.models.map((m) => {
    const path = join(dir, m.file);
    return { ...m, path, missing: whyUnusable(m, path) };
  });
}

/**
 * The real model whose file name starts with `prefix`, when fetched and verified; undefined
 * otherwise — except under CI=true, where a missing model fails the test file (`what` names it).
 */
export function realModelOrFail(prefix: string, what: string): RealModel | undefined {
  const root = fixturesRoot();
  const m = root ? realModels(root).find((x) => x.file.startsWith(prefix)) : undefined;
  if (process.env.CI === 'true' && (!m || m.missing !== null)) throw new Error(`${what}: ${m?.missing ?? `${prefix} not listed in models.json`}`);
  return m && m.missing === null ? m : undefined;
}
