// The chat page at `/` in real headless Chromium (Debian `chromium`, driven by playwright-core):
// streamed replies from the real SmolLM2 (slow enough on a CPU to watch a reply grow and stop
// it), regenerate, edit-and-resend, reload, rename/delete, the model switch to stories260K, dark
// mode, a phone-width layout, the API-key flow, and axe-core with no serious violations.
// Screenshots of each state go to test/output/ui/<state>.png.
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../ts/index.js';
import { serve, type RunningServer } from '../ts/server/node.js';
import { FakeModel } from './helpers/fake-model.js';
import { realModelOrFail } from './helpers/real-models.js';

const repo = fileURLToPath(new URL('..', import.meta.url));
const SHOTS = `${repo}test/output/ui`;
const KEY = 'sk-ui-test';
const SMOL = 'SmolLM2-135M-Instruct';
const THOUGHT = 'The user says hi. I should greet back.';
const ANSWER = 'Hello **there**!';
const chromiumPath = process.env.LLMPLAYER_CHROMIUM ?? '/usr/bin/chromium';
const haveChromium = existsSync(chromiumPath);
if (!haveChromium && process.env.CI === 'true') throw new Error(`chat page tests: no Chromium at ${chromiumPath} (scripts/setup.sh installs Debian's; or set LLMPLAYER_CHROMIUM)`);
const smol = realModelOrFail('SmolLM2', 'chat page tests');

const AXE_SOURCE = readFileSync(`${repo}node_modules/axe-core/axe.min.js`, 'utf8');

/** axe-core's serious and critical violations on the page as it is now. */
async function axeViolations(page: Page): Promise<string[]> {
  // Evaluated through DevTools: the page's CSP (rightly) refuses an injected <script>.
  await page.evaluate(AXE_SOURCE);
  const results = await page.evaluate(async () => (window as unknown as { axe: { run(): Promise<{ violations: { id: string; impact: string; help: string; nodes: { target: unknown }[] }[] }> } }).axe.run());
  return results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}): ${v.help} at ${JSON.stringify(v.nodes.map((n) => n.target))}`);
}

async function metric(url: string, name: string, model: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{model="${model}"}`));
  if (!line) throw new Error(`${name} for ${model} not in /metrics`);
  return Number(line.split(' ').pop());
}

describe.skipIf(!haveChromium || !smol)('chat page in Chromium', () => {
  let models: Model[] = [];
  let server: RunningServer;
  let keyed: RunningServer;
  let browser: Browser;
  const pageErrors: string[] = [];

  /** A fresh browser context (its own localStorage) on `url`; page errors and CSP reports collected. */
  async function open(url: string, options: BrowserContextOptions = {}): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light', ...options });
    const page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content.Security.Policy/i.test(m.text())) pageErrors.push(m.text());
    });
    await page.goto(`${url}/`);
    return page;
  }
  const shot = (page: Page, state: string) => page.screenshot({ path: `${SHOTS}/${state}.png`, animations: 'disabled' });
  const replyLength = async (page: Page) => (await page.getByTestId('reply-body').last().innerText()).length;

  beforeAll(async () => {
    mkdirSync(SHOTS, { recursive: true });
    const [big, small] = await Promise.all([loadModel(smol!.path, { threads: 2 }), loadModel(`${repo}models/stories260K.gguf`)]);
    models = [big, small];
    server = await serve({
      models: [
        { id: SMOL, model: big, contextSize: 1024 },
        { id: 'stories260K', model: small },
      ],
      port: 0,
      parallel: 1,
      log: () => {},
    });
    // `thinker` answers `<think>…</think>answer` (reasoning_content), or fails mid-stream on "explode".
    const thinker = new FakeModel({ reply: (x) => (x.includes('explode') ? x : `<think>\n${THOUGHT}\n</think>\n\n${ANSWER}`) });
    keyed = await serve({ models: [{ id: 'stories260K', model: small }, { id: 'thinker', model: thinker }], port: 0, apiKey: KEY, log: () => {} });
    browser = await chromium.launch({ executablePath: chromiumPath });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await keyed?.close();
    for (const m of models) m.dispose();
  });

  let page: Page;

  it('loads, streams a growing reply, stops it mid-reply and frees the slot', async () => {
    page = await open(server.url);
    await expect.poll(() => page.getByTestId('model-select').inputValue()).toBe(SMOL);
    await shot(page, 'empty');
    await page.getByTestId('settings-toggle').click();
    await page.getByTestId('temperature').fill('0');
    await page.getByTestId('max-tokens').fill('300');
    await page.getByTestId('system-prompt').fill('You are a storyteller.');
    await shot(page, 'settings');
    await page.getByTestId('settings-toggle').click();

    await page.getByTestId('prompt').fill('line one');
    await page.getByTestId('prompt').press('Shift+Enter'); // a newline, not a send
    await page.getByTestId('prompt').pressSequentially('line two');
    expect(await page.getByTestId('prompt').inputValue()).toBe('line one\nline two');
    expect(await page.getByTestId('msg-user').count()).toBe(0);
    await page.getByTestId('prompt').fill('Tell me a long story about a dragon who learns to cook.');
    await page.getByTestId('prompt').press('Enter'); // Enter sends
    await expect.poll(() => replyLength(page), { timeout: 20_000 }).toBeGreaterThan(0);
    const first = await replyLength(page);
    await expect.poll(() => replyLength(page), { timeout: 10_000 }).toBeGreaterThan(first);
    await shot(page, 'streaming');
    expect(await metric(server.url, 'llmplayer_requests_running', SMOL)).toBe(1);

    await page.keyboard.press('Escape'); // Esc stops
    await page.getByTestId('send').waitFor({ timeout: 5000 });
    expect(await page.getByTestId('reply-stats').last().innerText()).toMatch(/stopped/);
    // The disconnect freed the one slot: nothing runs, and a new request is answered at once.
    await expect.poll(() => metric(server.url, 'llmplayer_requests_running', SMOL), { timeout: 2000 }).toBe(0);
    const stoppedAt = await replyLength(page);
    const t0 = Date.now();
    const res = await fetch(`${server.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: SMOL, messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2 }) });
    expect(res.status).toBe(200);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(await replyLength(page)).toBe(stoppedAt);
    await shot(page, 'stopped');
  });

  it('regenerates the reply and edits-and-resends a message, with tokens and tokens/s under the reply', async () => {
    await page.getByTestId('settings-toggle').click();
    await page.getByTestId('max-tokens').fill('24');
    await page.getByTestId('settings-toggle').click();

    await page.getByTestId('regenerate').click();
    await page.getByTestId('send').waitFor({ timeout: 20_000 });
    expect(await page.getByTestId('msg-assistant').count()).toBe(1);
    expect(await page.getByTestId('reply-stats').innerText()).toMatch(new RegExp(`^${SMOL} · \\d+ tokens · \\d+\\.\\d tokens/s$`));
    await shot(page, 'regenerated');

    await page.getByTestId('edit').click();
    await page.getByTestId('edit-input').fill('What is the capital of France?');
    await page.getByTestId('edit-send').click();
    await page.getByTestId('send').waitFor({ timeout: 20_000 });
    expect(await page.getByTestId('msg-user').locator('.text').allInnerTexts()).toEqual(['What is the capital of France?']);
    expect(await page.getByTestId('msg-assistant').count()).toBe(1);
    expect(await page.getByTestId('reply-body').innerText()).not.toBe('');
    expect(await page.getByTestId('conversation-title').innerText()).toBe('What is the capital of France?');
    await shot(page, 'edited');
  });

  it('keeps conversations across a reload; rename, switch models, delete', async () => {
    const reply = await page.getByTestId('reply-body').innerText();
    await page.reload();
    await page.getByTestId('reply-body').waitFor();
    expect(await page.getByTestId('reply-body').innerText()).toBe(reply);
    expect(await page.getByTestId('system-prompt').count()).toBe(0);
    await page.getByTestId('settings-toggle').click();
    expect(await page.getByTestId('system-prompt').inputValue()).toBe('You are a storyteller.'); // settings kept too
    await page.getByTestId('settings-toggle').click();

    await page.getByTestId('rename').click();
    await page.getByTestId('rename-input').fill('Geography');
    await page.getByTestId('rename-input').press('Enter');
    expect(await page.getByTestId('conversation-title').innerText()).toBe('Geography');
    await shot(page, 'reloaded-renamed');

    await page.getByTestId('new-chat').click();
    await page.getByTestId('model-select').selectOption('stories260K');
    await page.getByTestId('prompt').fill('Once upon a time');
    await page.getByTestId('send').click();
    await page.getByTestId('reply-stats').waitFor({ timeout: 20_000 });
    expect(await page.getByTestId('reply-stats').innerText()).toMatch(/^stories260K · \d+ tokens/);
    expect(await page.getByTestId('conversation-title').allInnerTexts()).toEqual(['Once upon a time', 'Geography']);
    await shot(page, 'switched-model');

    await page.reload();
    await page.getByTestId('reply-stats').waitFor();
    expect(await page.getByTestId('reply-stats').innerText()).toMatch(/^stories260K/);
    expect(await page.getByTestId('model-select').inputValue()).toBe('stories260K');
    await page.getByTestId('delete').first().click();
    expect(await page.getByTestId('conversation-title').allInnerTexts()).toEqual(['Geography']);
    await page.getByTestId('conversation-title').click();
    expect(await page.getByTestId('model-select').inputValue()).toBe(SMOL);
    expect(await axeViolations(page)).toEqual([]);
    await shot(page, 'light');
  });

  it('dark mode and a phone width: readable, no horizontal scroll, the list in a drawer, copyable code', async () => {
    const state = await page.context().storageState();
    const dark = await open(server.url, { colorScheme: 'dark', storageState: state, permissions: ['clipboard-read', 'clipboard-write'] });
    await dark.getByTestId('reply-body').waitFor();
    const bg = await dark.evaluate(() => getComputedStyle(document.body).backgroundColor);
    expect(bg).toBe('rgb(22, 24, 28)');
    // A reply with Markdown (kept in localStorage) renders as HTML, its code block with a Copy button.
    await dark.evaluate(() => {
      const list = JSON.parse(localStorage.getItem('llmplayer.conversations')!);
      list[0].messages[1].content = '# Heading\n\n- item\n\n```js\nconsole.log("<b>hi</b>");\n```\n\n<script>alert(1)</script> [x](javascript:alert(1))';
      localStorage.setItem('llmplayer.conversations', JSON.stringify(list));
    });
    await dark.reload();
    await dark.locator('.md h1').waitFor();
    expect(await dark.locator('.md script').count()).toBe(0);
    expect(await dark.locator('.md a').count()).toBe(0);
    await dark.locator('button[data-copy]').click();
    expect(await dark.evaluate(() => navigator.clipboard.readText())).toBe('console.log("<b>hi</b>");\n');
    expect(await axeViolations(dark)).toEqual([]);
    await shot(dark, 'dark');

    const phone = await open(server.url, { viewport: { width: 390, height: 844 }, storageState: state });
    await phone.getByTestId('reply-body').waitFor();
    expect(await phone.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    expect(await phone.getByTestId('conversation-title').isVisible()).toBe(false);
    await shot(phone, 'phone');
    await phone.getByTestId('menu').click();
    await phone.getByTestId('conversation-title').waitFor({ state: 'visible' });
    await shot(phone, 'phone-drawer');
    expect(await axeViolations(phone)).toEqual([]);
  });

  it('asks for the API key: the page loads without it, a wrong key is refused, the right one chats', async () => {
    expect((await fetch(`${keyed.url}/v1/models`)).status).toBe(401);
    const res = await fetch(`${keyed.url}/`);
    expect(res.status).toBe(200);
    const keyPage = await open(keyed.url);
    await keyPage.getByTestId('key-form').waitFor();
    await shot(keyPage, 'key-asked');
    await keyPage.getByTestId('key-input').fill('sk-wrong');
    await keyPage.getByTestId('key-submit').click();
    await keyPage.getByTestId('key-error').waitFor();
    expect(await keyPage.getByTestId('key-error').innerText()).toMatch(/Incorrect API key/);
    await shot(keyPage, 'key-wrong');
    await keyPage.getByTestId('key-input').fill(KEY);
    await keyPage.getByTestId('key-submit').click();
    await keyPage.getByTestId('key-form').waitFor({ state: 'detached' });
    await keyPage.getByTestId('prompt').fill('Once upon a time');
    await keyPage.getByTestId('prompt').press('Enter');
    await keyPage.getByTestId('reply-stats').waitFor({ timeout: 20_000 });
    expect(await keyPage.getByTestId('reply-stats').innerText()).toMatch(/^stories260K · \d+ tokens/);
    // Kept in the browser: a reload does not ask again.
    await keyPage.reload();
    await keyPage.getByTestId('reply-stats').waitFor();
    expect(await keyPage.getByTestId('key-form').count()).toBe(0);
    await shot(keyPage, 'key-chat');

    // Reasoning arrives as reasoning_content: shown collapsed above the answer.
    await keyPage.getByTestId('settings-toggle').click();
    await keyPage.getByTestId('temperature').fill('0'); // the fake model's greedy (verbatim) answer
    await keyPage.getByTestId('settings-toggle').click();
    await keyPage.getByTestId('new-chat').click();
    await keyPage.getByTestId('model-select').selectOption('thinker');
    await keyPage.getByTestId('prompt').fill('hi');
    await keyPage.getByTestId('prompt').press('Enter');
    await keyPage.getByTestId('reply-stats').waitFor({ timeout: 10_000 });
    expect(await keyPage.locator('[data-testid=reasoning]').getAttribute('open')).toBeNull();
    expect(await keyPage.getByText(THOUGHT).isVisible()).toBe(false);
    expect(await keyPage.getByTestId('reply-body').innerHTML()).toBe('<p>Hello <strong>there</strong>!</p>\n');
    await keyPage.locator('[data-testid=reasoning] summary').click();
    expect(await keyPage.getByText(THOUGHT).isVisible()).toBe(true);
    await shot(keyPage, 'reasoning');

    // An error event mid-stream is shown under the partial reply.
    await keyPage.getByTestId('prompt').fill('explode');
    await keyPage.getByTestId('prompt').press('Enter');
    await keyPage.getByTestId('reply-error').waitFor({ timeout: 10_000 });
    expect(await keyPage.getByTestId('reply-error').innerText()).not.toBe('');
    await shot(keyPage, 'stream-error');

    // The failed exchange stays on screen but is not sent again: the roles keep alternating.
    const sent = keyPage.waitForRequest((r) => r.url().endsWith('/v1/chat/completions'));
    await keyPage.getByTestId('prompt').fill('hi again');
    await keyPage.getByTestId('prompt').press('Enter');
    const body = JSON.parse((await sent).postData() ?? '{}') as { messages: { role: string; content: string }[] };
    expect(body.messages.map((m) => m.role)).toEqual(['user', 'assistant', 'user']);
    expect(body.messages.at(-1)!.content).toBe('hi again');
    await expect.poll(() => keyPage.getByTestId('reply-stats').count(), { timeout: 10_000 }).toBe(2);
    expect(await keyPage.getByTestId('reply-error').count()).toBe(1);

    // A 401 in the middle of a chat (the key revoked) reopens the form, saying why.
    const revoked = { error: { message: 'Incorrect API key provided.', type: 'authentication_error', param: null, code: 'invalid_api_key' } };
    await keyPage.route('**/v1/chat/completions', (r) => r.fulfill({ status: 401, contentType: 'application/json', body: JSON.stringify(revoked) }), { times: 1 });
    await keyPage.getByTestId('prompt').fill('still there?');
    await keyPage.getByTestId('prompt').press('Enter');
    await keyPage.getByTestId('key-form').waitFor({ timeout: 10_000 });
    expect(await keyPage.getByTestId('key-error').innerText()).toMatch(/Incorrect API key/);

    // A stored key the server no longer accepts brings the form back, saying why.
    await keyPage.evaluate(() => localStorage.setItem('llmplayer.apiKey', JSON.stringify('sk-stale')));
    await keyPage.reload();
    await keyPage.getByTestId('key-error').waitFor();
    expect(await keyPage.getByTestId('key-error').innerText()).toMatch(/Incorrect API key/);
    expect(pageErrors).toEqual([]);
  });
});
