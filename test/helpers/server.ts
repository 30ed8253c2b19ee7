// Helpers for the server tests: requests against `app.request`, SSE parsing, waiting.
import type { Hono } from 'hono';
import type OpenAI from 'openai';

export async function post(app: Hono, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return app.request(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** The `data:` payloads of an SSE body, in order (comment-only blocks skipped). */
export function sseData(text: string): string[] {
  return text
    .split(/\n\n/)
    .filter((block) => block.split('\n').some((l) => l.startsWith('data:')))
    .map((block) =>
      block
        .split('\n')
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).replace(/^ /, ''))
        .join('\n'),
    );
}

export interface ErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/** Asserts OpenAI's error shape and returns it. */
export async function errorOf(res: Response): Promise<ErrorBody['error']> {
  const body = (await res.json()) as ErrorBody;
  if (!body || typeof body.error !== 'object') throw new Error(`not an error body: ${JSON.stringify(body)}`);
  const e = body.error;
  for (const k of ['message', 'type'] as const) if (typeof e[k] !== 'string') throw new Error(`error.${k} is not a string`);
  for (const k of ['param', 'code'] as const) if (!(k in e)) throw new Error(`error.${k} missing`);
  return e;
}

export async function waitFor(cond: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Assembles an `openai` chat stream: text, last finish_reason, usage chunk, role chunks seen. */
export async function streamChat(stream: AsyncIterable<OpenAI.Chat.ChatCompletionChunk>) {
  let text = '';
  let finish: string | null = null;
  let usage: OpenAI.CompletionUsage | null | undefined;
  let roles = 0;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    const choice = chunk.choices[0];
    if (!choice) continue;
    if (choice.delta.role) roles++;
    text += choice.delta.content ?? '';
    finish = choice.finish_reason ?? finish;
  }
  return { text, finish, usage, roles };
}
