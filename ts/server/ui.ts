// GET / : the chat page (sources in ts/ui/, built into ui-page.generated.ts by
// scripts/build-ui.mjs). One self-contained HTML answer, so every runtime serves it the same way.
import { Hono } from 'hono';
import { UI_ETAG, UI_HTML, UI_SCRIPT_HASH, UI_STYLE_HASH } from './ui-page.generated.js';

/** Only the page's own inline script and style run; it talks to this origin only. */
export const UI_CSP = [
  "default-src 'none'",
  `script-src ${UI_SCRIPT_HASH}`,
  `style-src ${UI_STYLE_HASH}`,
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export const UI_PATH = '/';

export function uiRoutes(): Hono {
  const app = new Hono();
  // Hono answers HEAD with this GET handler, without the body.
  app.get(UI_PATH, (c) => {
    c.header('content-security-policy', UI_CSP);
    c.header('x-content-type-options', 'nosniff');
    c.header('referrer-policy', 'no-referrer');
    c.header('cache-control', 'no-cache');
    c.header('etag', UI_ETAG);
    const ifNoneMatch = c.req.header('if-none-match');
    if (ifNoneMatch && ifNoneMatch.split(',').some((t) => t.trim().replace(/^W\//, '') === UI_ETAG)) return c.body(null, 304);
    return c.body(UI_HTML, 200, { 'content-type': 'text/html; charset=utf-8' });
  });
  return app;
}
