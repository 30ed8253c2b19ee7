// Reasoning split from the answer on every chat-shaped route: a model writing
// `<think>…</think>answer` (Qwen3, DeepSeek-R1 distills) gives `reasoning_content` and `content`
// on /v1/chat/completions (whole and streamed), a reasoning item on /v1/responses and a thinking
// block on /v1/messages. The fake model answers with exactly that text.
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { createApp } from '../ts/server/app.js';
import { FakeModel } from './helpers/fake-model.js';
import { post, sseData } from './helpers/server.js';

const THOUGHT = 'The user greets me. I should greet back.';
const ANSWER = 'Hello there!';
const model = new FakeModel({ reply: () => `<think>\n${THOUGHT}\n</think>\n\n${ANSWER}` });
const app = createApp({ models: [{ id: 'fake', model }], log: () => {} });
const hi = [{ role: 'user', content: 'hi' }];

describe('reasoning output', () => {
  it('chat: reasoning_content and content, whole and streamed alike', async () => {
    const whole = (await (await post(app, '/v1/chat/completions', { messages: hi })).json()) as OpenAI.Chat.ChatCompletion;
    const msg = whole.choices[0]!.message as OpenAI.Chat.ChatCompletionMessage & { reasoning_content?: string };
    expect(msg.reasoning_content).toBe(THOUGHT);
    expect(msg.content).toBe(ANSWER);
    const chunks = sseData(await (await post(app, '/v1/chat/completions', { messages: hi, stream: true })).text())
      .filter((d) => d !== '[DONE]')
      .map((d) => JSON.parse(d) as OpenAI.Chat.ChatCompletionChunk);
    let reasoning = '';
    let content = '';
    for (const c of chunks) {
      const d = c.choices[0]?.delta as { content?: string; reasoning_content?: string } | undefined;
      reasoning += d?.reasoning_content ?? '';
      content += d?.content ?? '';
    }
    expect({ reasoning, content }).toEqual({ reasoning: THOUGHT, content: ANSWER });
  });

  it('responses: a reasoning item before the message', async () => {
    const res = (await (await post(app, '/v1/responses', { input: 'hi' })).json()) as { output: Array<{ type: string; summary?: unknown[]; content?: Array<{ text: string }> }> };
    expect(res.output.map((o) => o.type)).toEqual(['reasoning', 'message']);
    expect(JSON.stringify(res.output[0])).toContain(THOUGHT);
    expect(res.output[1]!.content![0]!.text).toBe(ANSWER);
  });

  it('messages: a thinking block before the text', async () => {
    const res = (await (await post(app, '/v1/messages', { max_tokens: 100, messages: hi })).json()) as { content: Array<{ type: string; thinking?: string; text?: string }> };
    expect(res.content.map((b) => b.type)).toEqual(['thinking', 'text']);
    expect(res.content[0]!.thinking).toBe(THOUGHT);
    expect(res.content[1]!.text).toBe(ANSWER);
  });
});
