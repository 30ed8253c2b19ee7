// Bun entry: `serve(options)` runs the app with Bun.serve. (`export default { fetch: app.fetch }`
// works too, but Bun's 10 s idle timeout would then cut streams that wait in the queue.)
import { createApp, type AppOptions } from './app.js';
import { toRegistry, type ModelRegistry } from './registry.js';

interface BunServer {
  port: number;
  hostname: string;
  timeout?(request: Request, seconds: number): void;
  stop(closeActiveConnections?: boolean): Promise<void> | void;
}

interface BunRuntime {
  serve(options: { port?: number; hostname?: string; fetch(request: Request, server: BunServer): Response | Promise<Response> }): BunServer;
}

export interface BunServeOptions extends AppOptions {
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  hostname?: string;
}

export function serve(options: BunServeOptions): { url: string; port: number; registry: ModelRegistry; close(): Promise<void> } {
  const bun = (globalThis as { Bun?: BunRuntime }).Bun;
  if (!bun) throw new Error('llmplayer server: bun.ts needs the Bun runtime (use node.ts on Node)');
  const registry = toRegistry(options.models, options);
  const app = createApp({ ...options, models: registry });
  const server = bun.serve({
    port: options.port ?? 8080,
    hostname: options.hostname ?? '127.0.0.1',
    fetch(request, srv) {
      srv.timeout?.(request, 0); // generations and queue waits may be quiet for longer than 10 s
      return app.fetch(request);
    },
  });
  return {
    url: `http://${server.hostname}:${server.port}`,
    port: server.port,
    registry,
    close: async () => {
      await server.stop(true);
      await registry.close();
    },
  };
}
