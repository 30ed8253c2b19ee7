// GET /v1/models, GET /v1/models/:id and GET /health.
import { Hono } from 'hono';
import type { ServerContext } from './context.js';
import { modelNotFound } from './errors.js';
import type { ModelList, ModelObject } from './openai-types.js';
import type { ModelInfo } from './registry.js';

function modelObject(m: ModelInfo): ModelObject & { status: ModelInfo['status'] } {
  // `status` is an llmplayer extra (unloaded|loading|ready|error); OpenAI clients ignore it.
  return { id: m.id, object: 'model', created: m.created, owned_by: 'llmplayer', status: m.status };
}

export function modelRoutes(ctx: ServerContext): Hono {
  const app = new Hono();
  app.get('/v1/models', (c) => c.json({ object: 'list', data: ctx.registry.list().map(modelObject) } satisfies ModelList));
  // Ids may contain slashes (`org/name`), so the parameter takes the rest of the path.
  app.get('/v1/models/:id{.+}', (c) => {
    const id = c.req.param('id');
    const m = ctx.registry.get(id);
    if (!m) throw modelNotFound(id.slice(0, 200));
    return c.json(modelObject(m));
  });
  // 200 when ready; 503 while a startup model loads or when one failed (body says which).
  for (const path of ['/health', '/v1/health']) {
    app.get(path, (c) => {
      const health = ctx.registry.health();
      return c.json(health, health.status === 'ready' ? 200 : 503);
    });
  }
  return app;
}
