// `llmplayer devices [--json]`: the OpenCL devices. Not having OpenCL is information, not a
// failure: the reason is printed and the exit code is 0 either way.
import { parseArgs } from 'node:util';
import { listDevices } from './devices.js';
import { formatBytes } from './format.js';
import { UsageError } from './cli-args.js';
import type { DeviceInfo, DeviceList } from './types.js';

/** `0  gpu  NVIDIA H100 (NVIDIA CUDA) · 80.0 GB · 132 compute units · OpenCL C 3.0 · fp16`. */
export function formatDevice(d: DeviceInfo): string {
  const parts = [
    `${d.name} (${d.platform})`,
    formatBytes(d.memory),
    `${d.computeUnits} compute unit${d.computeUnits === 1 ? '' : 's'}`,
    d.cVersion,
  ];
  if (d.fp16) parts.push('fp16');
  return `${d.index}  ${d.kind}  ${parts.filter(Boolean).join(' · ')}`;
}

export function formatDeviceList(list: DeviceList): string {
  if (!list.available) return `no OpenCL devices: ${list.reason}`;
  if (list.devices.length === 0) return 'no OpenCL devices: the OpenCL runtime lists none';
  return list.devices.map(formatDevice).join('\n');
}

export async function devicesCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean' } } });
  if (positionals.length) throw new UsageError('usage: llmplayer devices [--json]');
  const list = await listDevices();
  process.stdout.write((values.json ? JSON.stringify(list, null, 2) : formatDeviceList(list)) + '\n');
  return 0;
}
