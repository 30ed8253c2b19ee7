// Deno entry: `serve(options)` runs the app with Deno.serve.
import { createApp, type AppOptions } from './app.js';
import { toRegistry, type ModelRegistry } from './registry.js';

interface DenoServer {
  addr: { hostname: string; port: number };
  shutdown(): Promise<void>;
}

interface DenoRuntime {
  serve(options: { port?: number; hostname?: string; onListen?: (addr: unknown) => void }, handler: (request: Request) => Response | Promise<Response>): DenoServer;
}

export interface DenoServeOptions extends AppOptions {
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  hostname?: string;
}

export function serve(options: DenoServeOptions): { url: string; port: number; registry: ModelRegistry; close(): Promise<void> } {
  const deno = (globalThis as { Deno?: DenoRuntime }).Deno;
  if (!deno) throw new Error('llmplayer server: deno.ts needs the Deno runtime (use node.ts on Node)');
  const registry = toRegistry(options.models, options);
  const app = createApp({ ...options, models: registry });
  const server = deno.serve({ port: options.port ?? 8080, hostname: options.hostname ?? '127.0.0.1', onListen: () => {} }, app.fetch);
  return {
    url: `http://${server.addr.hostname}:${server.addr.port}`,
    port: server.addr.port,
    registry,
    close: async () => {
      await server.shutdown();
      await registry.close();
    },
  };
}
