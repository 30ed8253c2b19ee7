// JSON helpers shared by the tool-call formats: where a JSON value written by a model ends (so a
// stream knows a call is complete), parsing that never throws, and the call objects themselves.

/** A tool call read from the model's text. `arguments` is JSON text (OpenAI's wire format). */
export interface ParsedToolCall {
  id: string;
  name: string;
  arguments: string;
}

/** A call before it gets its id: the model's own id when it wrote one (Mistral does). */
export interface RawToolCall {
  name: string;
  arguments: string;
  id?: string;
}

/**
 * The end (exclusive) of the JSON object or array that starts at `text[start]` (after optional
 * whitespace): -1 while it is unfinished, -2 when `text[start]` cannot begin one. Only brackets
 * and strings are tracked; whether the value is valid JSON is JSON.parse's call afterwards.
 */
export function jsonExtent(text: string, start = 0): number {
  let i = start;
  while (i < text.length && /\s/.test(text[i]!)) i++;
  if (i >= text.length) return -1;
  if (text[i] !== '{' && text[i] !== '[') return -2;
  let depth = 0;
  let inString = false;
  for (; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

/** JSON.parse that answers undefined instead of throwing. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * A call's arguments as compact JSON text. Models write an object, or (OpenAI style) a string
 * holding one; anything else is not a valid call (null).
 */
export function argumentsText(value: unknown): string | null {
  if (value === undefined) return '{}'; // a tool without parameters: `{"name": "x"}`
  if (typeof value === 'string') {
    const parsed = parseJson(value);
    return isObject(parsed) ? JSON.stringify(parsed) : null;
  }
  return isObject(value) ? JSON.stringify(value) : null;
}

/**
 * `{name, arguments}` (or `parameters`, Llama's key) as a call, or null when it is not one. Tool
 * names are what the model wrote; checking them against the request's tools is the caller's job.
 */
export function callFromObject(value: unknown, argKeys: readonly string[] = ['arguments', 'parameters']): RawToolCall | null {
  if (!isObject(value)) return null;
  const fn = isObject(value.function) ? value.function : value; // `{type: "function", function: {…}}`
  const name = fn.name;
  if (typeof name !== 'string' || name === '') return null;
  const key = argKeys.find((k) => k in fn);
  const args = argumentsText(key === undefined ? undefined : fn[key]);
  if (args === null) return null;
  const id = typeof value.id === 'string' && value.id !== '' ? value.id : undefined;
  return id === undefined ? { name, arguments: args } : { name, arguments: args, id };
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** `n` random alphanumerics (Web Crypto: available on Node, Deno, Bun and workerd alike). */
export function randomAlnum(n: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(n));
  let out = '';
  for (const b of bytes) out += ALNUM[b % ALNUM.length];
  return out;
}

/** An OpenAI-style call id: `call_` and 24 random alphanumerics. */
export function newCallId(): string {
  return `call_${randomAlnum(24)}`;
}
