// `gpuLayers` through the SDK and the CLI: with PoCL (installed by scripts/setup.sh; required
// under CI=true) the products of every layer run on the OpenCL device, `model.offload` says what
// it took, and the logits stay within the fixtures README's F32 bound of the CPU's; a device
// that cannot be used leaves the model on the CPU with the reason (the load never fails); the
// WASM backend says it has no OpenCL. The per-fixture comparison with llama.cpp's references
// is crates/llmplayer-opencl/tests/models_offload.rs.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { inspect, listDevices, loadModel } from '../ts/index.js';
import { fixturesRoot } from './helpers/fixtures.js';

const repo = fileURLToPath(new URL('..', import.meta.url));
const ci = process.env.CI === 'true';
const root = fixturesRoot();
const devices = await listDevices();
const hasDevice = devices.available && devices.devices.length > 0;
if (ci && !hasDevice) throw new Error(`CI needs an OpenCL device (PoCL): ${devices.available ? 'none listed' : devices.reason}`);

describe.skipIf(!root || !hasDevice)('gpuLayers on an OpenCL device', () => {
  const file = join(root ?? '', 'models', 'llama.gguf');
  const prompt = (JSON.parse(readFileSync(`${file}.ref.json`, 'utf8')) as { prompt_tokens: number[] }).prompt_tokens;

  it('offloads every layer and the output, and keeps the logits within the F32 bound of the CPU', async () => {
    const cpu = await loadModel(file, { backend: 'native', threads: 2 });
    const dev = await loadModel(file, { backend: 'native', threads: 2, gpuLayers: 'all' });
    expect(cpu.offload).toBeNull();
    const o = dev.offload!;
    expect(o.error ?? null).toBeNull();
    expect(o.device).toContain(devices.devices[0]!.name);
    const layers = dev.info.layers ?? 0;
    expect(layers).toBeGreaterThan(0);
    expect(o.layers).toBe(layers);
    expect(o.output).toBe(true);
    expect(o.tensors).toBeGreaterThanOrEqual(layers * 4);
    expect(o.bytes).toBeGreaterThan(0);
    expect(o.cpuTensors).toBe(0);
    // inspect() says the same before loading: every block's 2-D weights and the output.
    expect(dev.info.offload).toEqual({ layers, output: true, matrices: o.tensors, bytes: o.bytes });
    const listed = (await inspect(file, { tensors: true })).tensors!.filter((t) => t.shape.length === 2 && /^(blk\.\d+\..*|output)\.weight$/.test(t.name));
    expect(o.tensors).toBe(listed.length);
    expect(o.bytes).toBe(listed.reduce((a, t) => a + t.bytes, 0));
    const want = await cpu.createSession().evaluate(prompt, { allLogits: true });
    const got = await dev.createSession().evaluate(prompt, { allLogits: true });
    expect(got.length).toBe(want.length);
    let differ = 0;
    for (let i = 0; i < want.length; i++) {
      expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(1e-3 + 1e-4 * Math.abs(want[i]!));
      if (got[i] !== want[i]) differ++;
    }
    // The device sums in its own order: some logits differ in the last bits, so it did run.
    expect(differ).toBeGreaterThan(0);
    cpu.dispose();
    dev.dispose();
  });

  it('counts layers as llama.cpp -ngl does: the last N blocks, the output only beyond them', async () => {
    const m = await loadModel(file, { backend: 'native', gpuLayers: 1 });
    expect(m.offload).toMatchObject({ layers: 1, output: false });
    m.dispose();
  });

  it('runs on the CPU and says why when the device cannot be used; refuses a bad count', async () => {
    const m = await loadModel(file, { backend: 'native', gpuLayers: 'all', device: 'no such device' });
    expect(m.offload!.error).toMatch(/no device matches "no such device".*running on the CPU/);
    expect(m.offload!.tensors).toBe(0);
    expect((await m.createSession().evaluate(prompt)).length).toBe(m.nVocab);
    m.dispose();
    await expect(loadModel(file, { gpuLayers: -1 })).rejects.toThrow(/gpuLayers must be a non-negative integer/);
    const w = await loadModel(file, { backend: 'wasm', gpuLayers: 2 });
    expect(w.offload!.error).toMatch(/OpenCL needs the native backend/);
    w.dispose();
  });

  it('llmplayer run --gpu-layers all prints what it offloaded and the same greedy text', () => {
    const run = (extra: string[]) =>
      spawnSync(process.execPath, [`${repo}dist/cli.js`, 'run', '-m', file, '-p', 'a b', '-n', '8', '--temp', '0', ...extra], { cwd: repo, encoding: 'utf8', timeout: 60_000 });
    const off = run(['--gpu-layers', 'all']);
    expect(off.status, off.stderr).toBe(0);
    expect(off.stderr).toMatch(/^offload: \d+ layers \+ output on .+: \d+ matrices, /m);
    const cpu = run([]);
    expect(cpu.stderr).not.toMatch(/offload:/);
    const text = (s: string) => s.split('\n[native]')[0];
    expect(text(off.stdout)).toBe(text(cpu.stdout));
    expect(run(['--gpu-layers', 'x']).status).toBe(2);
  });
});
