// OpenCL devices through the native addon: the addon loads without an OpenCL runtime (no NEEDED
// libOpenCL, no undefined cl* symbol: the loader is opened at run time), `listDevices()` lists
// PoCL where it is installed (always under CI=true: scripts/setup.sh installs it), and
// `llmplayer devices` reports a missing runtime as information (exit 0), not a crash.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { listDevices, type DeviceList } from '../ts/index.js';

const repo = fileURLToPath(new URL('..', import.meta.url));
const cli = `${repo}dist/cli.js`;
// The binary native/index.cjs loads first on this platform (the one the SDK uses from the repo).
const addon = `${repo}native/llmplayer.linux-x64-gnu.node`;
const ci = process.env.CI === 'true';
const POCL = 'Portable Computing Language';

/** `node dist/cli.js devices …` with `env` over the test's environment (undefined: removed). */
function devicesCli(args: string[], env: Record<string, string | undefined>) {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete childEnv[k];
    else childEnv[k] = v;
  }
  return spawnSync(process.execPath, [cli, 'devices', ...args], { cwd: repo, env: childEnv, encoding: 'utf8', timeout: 60_000 });
}

describe.skipIf(process.platform !== 'linux' || process.arch !== 'x64')('the addon without OpenCL linked in', () => {
  it('has no NEEDED libOpenCL and no undefined cl* symbol', () => {
    expect(existsSync(addon), `${addon} is missing: npm run build:native`).toBe(true);
    const needed = execFileSync('readelf', ['-d', addon], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.includes('(NEEDED)'));
    expect(needed.length).toBeGreaterThan(0); // the check reads the dynamic section at all
    expect(needed.filter((l) => /libOpenCL/i.test(l))).toEqual([]);
    const undefinedCl = execFileSync('nm', ['-D', '--undefined-only', addon], { encoding: 'utf8' })
      .split('\n')
      // A name may carry a version (clFoo@OPENCL_1.0) when the link saw a versioned loader.
      .filter((l) => / cl[A-Z]\w*(@\S*)?$/.test(l.trim()));
    expect(undefinedCl).toEqual([]);
    // The forwarders are there instead (what ocl's calls resolve to).
    const defined = execFileSync('nm', ['-D', '--defined-only', addon], { encoding: 'utf8' });
    expect(defined).toMatch(/ T clGetPlatformIDs$/m);
  });
});

describe('listDevices', () => {
  it('lists the PoCL CPU device where PoCL is installed', async (ctx) => {
    const list: DeviceList = await listDevices();
    const pocl = list.devices.find((d) => d.platform === POCL);
    if (!pocl) {
      if (ci) throw new Error(`CI needs PoCL (scripts/setup.sh): ${JSON.stringify(list)}`);
      ctx.skip();
      return;
    }
    expect(list.available).toBe(true);
    expect(pocl.kind).toBe('cpu');
    expect(pocl.index).toBe(list.devices.indexOf(pocl));
    expect(pocl.computeUnits).toBeGreaterThan(0);
    expect(pocl.memory).toBeGreaterThan(0);
    expect(pocl.maxAlloc).toBeGreaterThan(0);
    expect(pocl.maxAlloc).toBeLessThanOrEqual(pocl.memory);
    expect(pocl.cVersion).toMatch(/^OpenCL C \d+\.\d+/);
    expect(typeof pocl.fp16).toBe('boolean');
  });
});

describe('llmplayer devices', () => {
  it('says why when the named OpenCL loader does not load, and exits 0', () => {
    const missing = '/nonexistent/libOpenCL.so.1';
    const json = devicesCli(['--json'], { LLMPLAYER_OPENCL_LIB: missing });
    expect(json.status, json.stderr).toBe(0);
    const list = JSON.parse(json.stdout) as DeviceList;
    expect(list.available).toBe(false);
    expect(list.devices).toEqual([]);
    if (!list.available) expect(list.reason).toContain(missing);

    const human = devicesCli([], { LLMPLAYER_OPENCL_LIB: missing });
    expect(human.status, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/^no OpenCL devices: .*\/nonexistent\/libOpenCL\.so\.1/);
  });

  it('prints one line per device, the PoCL one among them', (ctx) => {
    const json = devicesCli(['--json'], { LLMPLAYER_OPENCL_LIB: undefined });
    expect(json.status, json.stderr).toBe(0);
    const list = JSON.parse(json.stdout) as DeviceList;
    const pocl = list.devices.find((d) => d.platform === POCL);
    if (!pocl) {
      if (ci) throw new Error(`CI needs PoCL (scripts/setup.sh): ${json.stdout}`);
      ctx.skip();
      return;
    }
    const human = devicesCli([], { LLMPLAYER_OPENCL_LIB: undefined });
    expect(human.status, human.stderr).toBe(0);
    const lines = human.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(list.devices.length);
    const line = lines[pocl.index]!;
    expect(line.startsWith(`${pocl.index}  cpu  ${pocl.name} (${POCL}) · `)).toBe(true);
    expect(line).toContain(`${pocl.computeUnits} compute unit`);
    expect(line).toContain(pocl.cVersion);
  });

  it('refuses a stray argument (usage error, exit 2)', () => {
    const r = devicesCli(['extra'], {});
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('usage: llmplayer devices');
  });
});
