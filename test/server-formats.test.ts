// The Responses and Messages formats given a choice with reasoning, content and tool calls (what a
// reasoning / tool-calling view yields): the streamed events are fed to the official clients' own
// accumulators (openai's accumulateResponse, Anthropic's MessageStream), whose result must equal
// the non-streaming object, item for item.
import { MessageStream } from '@anthropic-ai/sdk/lib/MessageStream';
import { accumulateResponse } from 'openai/lib/responses/ResponseAccumulator';
import type OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import type { AssistantDelta, ChoiceOutcome } from '../ts/server/generate.js';
import { messagesFormat } from '../ts/server/messages.js';
import type { CompletionUsage } from '../ts/server/openai-types.js';
import type { ResponseFormat, Sse } from '../ts/server/respond.js';
import { responsesFormat } from '../ts/server/responses.js';

const deltas: AssistantDelta[] = [
  { reasoning: 'The user wants ' },
  { reasoning: 'the weather.' },
  { content: 'Let me ' },
  { content: 'check.' },
  { toolCalls: [{ id: 'call_a', name: 'weather', arguments: '{"city":"Paris"}' }] },
  { toolCalls: [{ id: 'call_b', name: 'time', arguments: '{"tz":"CET"}' }] },
];
const outcome: ChoiceOutcome = {
  index: 0,
  text: '(raw)',
  content: 'Let me check.',
  reasoning: 'The user wants the weather.',
  toolCalls: deltas.flatMap((d) => d.toolCalls ?? []),
  finishReason: 'tool_calls',
  completionTokens: 30,
  cachedTokens: 4,
};
const usage: CompletionUsage = { prompt_tokens: 20, completion_tokens: 30, total_tokens: 50, prompt_tokens_details: { cached_tokens: 4 } };

function run(format: ResponseFormat): Sse[] {
  return [...format.start(), ...deltas.flatMap((d) => format.delta(0, d, undefined)), ...format.finish(outcome), ...format.end([outcome], usage)];
}

/** Item ids are random per item: compare everything else. */
const withoutIds = (items: unknown[]) => items.map((i) => ({ ...(i as object), id: undefined }));

describe('responsesFormat', () => {
  const echo = { instructions: null, maxOutputTokens: null, temperature: null, topP: null, tools: [], toolChoice: 'auto', text: { format: { type: 'text' } }, reasoning: { effort: null, summary: null }, parallelToolCalls: true, metadata: {} };

  it('reasoning, message and function_call items: streamed events accumulate to the non-streaming response', () => {
    const plain = responsesFormat('resp_1', 'm', echo).object([outcome], usage) as OpenAI.Responses.Response;
    expect(plain.output.map((o) => o.type)).toEqual(['reasoning', 'message', 'function_call', 'function_call']);
    expect(plain.output[2]).toMatchObject({ call_id: 'call_a', name: 'weather', arguments: '{"city":"Paris"}', status: 'completed' });
    expect(plain.output_text).toBe('Let me check.');
    expect(plain.usage).toEqual({ input_tokens: 20, input_tokens_details: { cached_tokens: 4 }, output_tokens: 30, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 50 });

    const events = run(responsesFormat('resp_1', 'm', echo));
    expect(events.every((e) => e.event === (e.data as { type: string }).type)).toBe(true);
    expect(events.map((e) => (e.data as { sequence_number: number }).sequence_number)).toEqual(events.map((_, i) => i));
    let snapshot: OpenAI.Responses.Response | undefined;
    for (const e of events) snapshot = accumulateResponse(e.data as OpenAI.Responses.ResponseStreamEvent, snapshot);
    const completed = (events.at(-1)!.data as { type: string; response: OpenAI.Responses.Response });
    expect(completed.type).toBe('response.completed');
    expect(withoutIds(snapshot!.output)).toEqual(withoutIds(plain.output));
    expect(withoutIds(completed.response.output)).toEqual(withoutIds(plain.output));
    expect(snapshot!.output_text).toBe('Let me check.');
  });
});

describe('messagesFormat', () => {
  it('thinking, text and tool_use blocks: streamed events accumulate (Anthropic MessageStream) to the non-streaming message', async () => {
    const plain = messagesFormat('msg_1', 'm', 20, 100).object([outcome], usage) as Record<string, unknown>;
    expect(plain).toMatchObject({
      stop_reason: 'tool_use',
      content: [
        { type: 'thinking', thinking: 'The user wants the weather.' },
        { type: 'text', text: 'Let me check.' },
        { type: 'tool_use', id: 'toolu_call_a', name: 'weather', input: { city: 'Paris' } },
        { type: 'tool_use', id: 'toolu_call_b', name: 'time', input: { tz: 'CET' } },
      ],
      usage: { input_tokens: 16, cache_read_input_tokens: 4, output_tokens: 30 },
    });
    // MessageStream.fromReadableStream reads newline-delimited event objects.
    const lines = run(messagesFormat('msg_1', 'm', 20, 100))
      .filter((e) => e.event !== 'ping')
      .map((e) => JSON.stringify(e.data) + '\n');
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        for (const l of lines) c.enqueue(new TextEncoder().encode(l));
        c.close();
      },
    });
    const final = await MessageStream.fromReadableStream(body).finalMessage();
    expect(final.content).toEqual(plain.content);
    expect(final.stop_reason).toBe('tool_use');
    expect(final.usage).toMatchObject({ input_tokens: 16, cache_read_input_tokens: 4, output_tokens: 30 });
  });

  it('length short of max_tokens is the context window, at max_tokens it is max_tokens', () => {
    const length = { ...outcome, toolCalls: [], reasoning: '', finishReason: 'length' as const };
    expect((messagesFormat('m', 'm', 20, 30).object([length], usage) as { stop_reason: string }).stop_reason).toBe('max_tokens');
    expect((messagesFormat('m', 'm', 20, 100).object([length], usage) as { stop_reason: string }).stop_reason).toBe('model_context_window_exceeded');
  });
});
