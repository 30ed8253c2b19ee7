// Shared golden fixtures (outside the repo): `$LLMPLAYER_FIXTURES` (relative to the cwd), else
// `<repo>/../shared/fixtures`.
// Missing fixtures skip the tests that need them locally, and fail them on CI (CI=true).

import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The fixtures root, or null when it is missing (throws instead when CI=true). */
export function fixturesRoot(): string | null {
  const fromEnv = process.env.LLMPLAYER_FIXTURES;
  const root = fromEnv ? resolve(fromEnv) : resolve(REPO_ROOT, '..', 'shared', 'fixtures');
  if (existsSync(root) && statSync(root).isDirectory()) return root;
  if (process.env.CI === 'true') {
    throw new Error(`fixtures root not found: ${root} (set LLMPLAYER_FIXTURES)`);
  }
  return null;
}

/**
 * Absolute paths of the files in `<root>/<sub>` whose name ends with `.<ext>` (e.g. 'jinja',
 * 'expected.json'), sorted by name. [] when the root is missing; throws if `sub` is missing.
 */
export function listFixtures(sub: string, ext: string): string[] {
  const root = fixturesRoot();
  if (root === null) return [];
  const dir = join(root, sub);
  if (!existsSync(dir)) throw new Error(`fixtures folder not found: ${dir}`);
  const suffix = '.' + ext.replace(/^\./, '');
  return readdirSync(dir)
    .filter((name) => name.endsWith(suffix) && statSync(join(dir, name)).isFile())
    .sort()
    .map((name) => join(dir, name));
}
