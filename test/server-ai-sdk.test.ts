// The Vercel AI SDK (`ai` + `@ai-sdk/openai-compatible`) against a listening server.
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { generateText, streamText } from 'ai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serve, type RunningServer } from '../ts/server/node.js';
import { FakeModel } from './helpers/fake-model.js';

describe('server + AI SDK', () => {
  let server: RunningServer;
  let provider: ReturnType<typeof createOpenAICompatible>;

  beforeAll(async () => {
    server = await serve({ models: { id: 'fake', model: new FakeModel() }, port: 0, parallel: 2 });
    provider = createOpenAICompatible({ name: 'llmplayer', baseURL: `${server.url}/v1`, apiKey: 'unused', includeUsage: true });
  });
  afterAll(() => server.close());

  it('generateText', async () => {
    const res = await generateText({ model: provider('fake'), system: 'be nice', prompt: 'hi there', temperature: 0, maxRetries: 0 });
    expect(res.text).toBe('echo: hi there');
    expect(res.finishReason).toBe('stop');
    expect(res.usage.outputTokens).toBe('echo: hi there'.length);
    expect(res.usage.inputTokens).toBeGreaterThan(0);
  });

  it('streamText', async () => {
    const res = streamText({ model: provider('fake'), prompt: 'count', temperature: 0, maxOutputTokens: 9, maxRetries: 0 });
    let text = '';
    for await (const delta of res.textStream) text += delta;
    expect(text).toBe('1 2 3 4 5');
    expect(await res.finishReason).toBe('length');
    expect((await res.usage).outputTokens).toBe(9);
  });

  it('completion model: generateText', async () => {
    const res = await generateText({ model: provider.completionModel('fake'), prompt: 'abc', temperature: 0, maxRetries: 0 });
    expect(res.text).toContain('abc');
  });
});
