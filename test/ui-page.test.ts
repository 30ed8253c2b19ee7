// GET / (the chat page) at the HTTP level, no browser: the HTML with its hash-based CSP matching
// the inline script and style, ETag/304, HEAD, reachable without the API key while /v1 is not,
// `ui: false`; and the Markdown renderer the page uses on model output.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createApp } from '../ts/server/index.js';
import { renderMarkdown } from '../ts/ui/markdown.js';
import { FakeModel } from './helpers/fake-model.js';

const sha256 = (s: string) => `'sha256-${createHash('sha256').update(s, 'utf8').digest('base64')}'`;

/** The text between the page's one `<tag>` and `</tag>`. */
function inline(html: string, tag: string): string {
  const all = [...html.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))];
  expect(all).toHaveLength(1);
  return all[0]![1]!;
}

describe('chat page route', () => {
  it('answers the page with a CSP that allows exactly its inline script and style', async () => {
    const app = createApp({ models: new FakeModel() });
    const res = await app.request('/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    const html = await res.text();
    expect(html).toMatch(/^<!doctype html>/);
    expect(Buffer.byteLength(html)).toBeLessThan(300 * 1024);
    const csp = Object.fromEntries(
      res.headers
        .get('content-security-policy')!
        .split(';')
        .map((d) => d.trim().split(/\s+/))
        .map(([k, ...v]) => [k!, v.join(' ')]),
    );
    expect(csp).toEqual({
      'default-src': "'none'",
      'script-src': sha256(inline(html, 'script')),
      'style-src': sha256(inline(html, 'style')),
      'connect-src': "'self'",
      'img-src': "'self' data:",
      'base-uri': "'none'",
      'form-action': "'none'",
      'frame-ancestors': "'none'",
    });
    // No request leaves for another origin (the machine may be offline): no src/href but data: URIs.
    expect([...html.matchAll(/(?:src|href)="([^"]*)"/g)].map((m) => m[1]!.slice(0, 5))).toEqual(['data:']);
  });

  it('ETag, 304 and HEAD', async () => {
    const app = createApp({ models: new FakeModel() });
    const etag = (await app.request('/')).headers.get('etag');
    expect(etag).toMatch(/^"[\w-]+"$/);
    const again = await app.request('/', { headers: { 'if-none-match': `"other", W/${etag}` } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
    expect((await app.request('/', { headers: { 'if-none-match': '"other"' } })).status).toBe(200);
    const head = await app.request('/', { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await head.text()).toBe('');
  });

  it('with an API key: the page loads without it, the API still needs it', async () => {
    const app = createApp({ models: new FakeModel(), apiKey: 'sk-page' });
    expect((await app.request('/')).status).toBe(200);
    expect((await app.request('/v1/models')).status).toBe(401);
    expect((await app.request('/metrics')).status).toBe(401);
    expect((await app.request('/v1/models', { headers: { authorization: 'Bearer sk-page' } })).status).toBe(200);
  });

  it('ui: false leaves / unserved (404, or 401 with an API key, as before the page)', async () => {
    expect((await createApp({ models: new FakeModel(), ui: false }).request('/')).status).toBe(404);
    expect((await createApp({ models: new FakeModel(), ui: false, apiKey: 'k' }).request('/')).status).toBe(401);
  });
});

describe('chat page Markdown', () => {
  it('renders code blocks with a Copy button and escapes raw HTML', () => {
    const html = renderMarkdown('**bold** and `x`\n\n```js\nif (a < b) alert("</script>");\n```\n\n<img src=x onerror=alert(1)>');
    expect(html).toBe(
      '<p><strong>bold</strong> and <code>x</code></p>\n' +
        '<div class="code"><button type="button" class="copy" data-copy>Copy</button><pre><code class="language-js">if (a &lt; b) alert(&quot;&lt;/script&gt;&quot;);\n</code></pre>\n</div>' +
        '<p>&lt;img src=x onerror=alert(1)&gt;</p>\n',
    );
  });

  it('refuses script URLs and opens other links in a new tab without an opener', () => {
    expect(renderMarkdown('[a](javascript:alert(1)) [b](JAVASCRIPT:x) [c](data:text/html,x)')).not.toMatch(/<a /);
    expect(renderMarkdown('[docs](https://example.com/x)')).toBe('<p><a href="https://example.com/x" target="_blank" rel="noopener noreferrer">docs</a></p>\n');
  });
});
