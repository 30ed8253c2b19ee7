// `listDevices()`: the OpenCL devices the native addon sees. OpenCL lives in the native addon
// only, so without it (WASM, an unsupported platform) the answer is "unavailable" with why.
import { getBackend } from './backend.js';
import type { DeviceList } from './types.js';

const NO_ADDON = 'the native addon is not loaded (OpenCL needs it)';

/** The machine's OpenCL devices, or why there are none (never throws for a missing runtime). */
export async function listDevices(): Promise<DeviceList> {
  let backend;
  try {
    // Native regardless of LLMPLAYER_BACKEND: the devices are the machine's, not the backend's.
    backend = await getBackend('native');
  } catch (err) {
    return { available: false, reason: `${NO_ADDON}: ${(err as Error).message.split('\n')[0]}`, devices: [] };
  }
  if (!backend.listDevices) return { available: false, reason: 'the native addon was built without OpenCL support (rebuild it)', devices: [] };
  return backend.listDevices();
}
