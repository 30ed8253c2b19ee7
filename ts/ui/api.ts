// The page's calls to the server: GET /v1/models and a streamed POST /v1/chat/completions, read
// with fetch + a small Server-Sent Events parser (EventSource cannot POST or send headers).

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function headers(apiKey: string): Record<string, string> {
  const h: Record<string, string> = { 'content-type': 'application/json' };
  if (apiKey) h.authorization = `Bearer ${apiKey}`;
  return h;
}

/** The message of an OpenAI-shaped error body, else the status line. */
async function errorOf(res: Response): Promise<HttpError> {
  let message = `${res.status} ${res.statusText}`.trim();
  try {
    const body = (await res.json()) as { error?: { message?: unknown } };
    if (typeof body?.error?.message === 'string') message = body.error.message;
  } catch {
    // Not JSON: keep the status line.
  }
  return new HttpError(res.status, message);
}

export async function listModels(apiKey: string): Promise<string[]> {
  const res = await fetch('/v1/models', { headers: headers(apiKey) });
  if (!res.ok) throw await errorOf(res);
  const body = (await res.json()) as { data?: { id?: unknown }[] };
  return (body.data ?? []).map((m) => m.id).filter((id): id is string => typeof id === 'string');
}

/**
 * The `data:` payloads of a Server-Sent Events body, one per event; comment lines (`: keep-alive`)
 * and other fields are skipped.
 */
export async function* sseData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      const events = buffer.split(/\r\n\r\n|\n\n|\r\r/);
      buffer = done ? '' : events.pop() ?? '';
      for (const event of events) {
        const data = event
          .split(/\r\n|\n|\r/)
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).replace(/^ /, ''));
        if (data.length > 0) yield data.join('\n');
      }
      if (done) return;
    }
  } finally {
    reader.releaseLock();
  }
}

export interface ChatRequest {
  model: string;
  messages: { role: 'system' | 'user' | 'assistant'; content: string }[];
  temperature: number;
  top_p: number;
  max_tokens: number;
}

export interface ChatDelta {
  content?: string;
  reasoning?: string;
}

export interface ChatEnd {
  model: string;
  completionTokens: number | null;
  finishReason: string | null;
}

/** Streams one chat completion; `onDelta` sees each piece of text. Rejects with HttpError on an error answer or event. */
export async function streamChat(apiKey: string, request: ChatRequest, signal: AbortSignal, onDelta: (d: ChatDelta) => void): Promise<ChatEnd> {
  const res = await fetch('/v1/chat/completions', {
    method: 'POST',
    headers: headers(apiKey),
    body: JSON.stringify({ ...request, stream: true, stream_options: { include_usage: true } }),
    signal,
  });
  if (!res.ok || !res.body) throw await errorOf(res);
  const end: ChatEnd = { model: request.model, completionTokens: null, finishReason: null };
  for await (const data of sseData(res.body)) {
    if (data === '[DONE]') break;
    let chunk: {
      model?: string;
      error?: { message?: string };
      usage?: { completion_tokens?: number } | null;
      choices?: { delta?: { content?: string | null; reasoning_content?: string | null }; finish_reason?: string | null }[];
    };
    try {
      chunk = JSON.parse(data);
    } catch {
      continue;
    }
    if (chunk.error) throw new HttpError(500, chunk.error.message ?? 'the server reported an error');
    if (typeof chunk.model === 'string') end.model = chunk.model;
    if (typeof chunk.usage?.completion_tokens === 'number') end.completionTokens = chunk.usage.completion_tokens;
    const choice = chunk.choices?.[0];
    if (!choice) continue;
    if (choice.finish_reason) end.finishReason = choice.finish_reason;
    const d: ChatDelta = {};
    if (choice.delta?.reasoning_content) d.reasoning = choice.delta.reasoning_content;
    if (choice.delta?.content) d.content = choice.delta.content;
    if (d.content !== undefined || d.reasoning !== undefined) onDelta(d);
  }
  return end;
}
