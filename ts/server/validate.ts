// Hand-written validation of request bodies. Every error is a 400 naming the parameter the way
// OpenAI does (`param: 'messages[2].content'`, code `invalid_type` / `unsupported_parameter` …).
// The result is normalized: SDK option names, defaults left undefined, nothing model-specific
// (token-id ranges and context limits are checked once the model is known).
import type { ChatMessage, ChatTextPart, ChatToolCall } from '../chat-template.js';
import type { GenerateOptions } from '../types.js';
import { invalidRequest, unsupported } from './errors.js';
import { validateToolFields, type ToolFields } from './validate-tools.js';

/** Limits on request contents (besides the body size); REST-API.md documents them. */
export const LIMITS = {
  stopEntries: 16,
  stopLength: 512,
  logitBiasEntries: 1024,
  messages: 4096,
  contentParts: 256,
  /** `n`: choices per request (each its own sequence). */
  choices: 16,
} as const;

type Json = Record<string, unknown>;

/** What chat and completion requests share. */
export interface CommonRequest {
  model: string | undefined;
  stream: boolean;
  includeUsage: boolean;
  maxTokens: number | undefined;
  /** Choices to generate (`n`), 1 by default. */
  n: number;
  /** Sampling and stop options, without `maxTokens` / `signal` (set per request). */
  options: GenerateOptions;
  /** Token id → bias, ranges checked against the vocabulary later. */
  logitBias: Array<[number, number]> | undefined;
}

export interface ChatRequest extends CommonRequest, ToolFields {
  messages: ChatMessage[];
  templateKwargs: Record<string, unknown> | undefined;
}

export interface CompletionRequest extends CommonRequest {
  /** A string, or token ids (ranges checked later). */
  prompt: string | number[];
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a decimal';
  if (typeof v === 'object') return 'an object';
  return typeof v === 'string' ? 'a string' : typeof v === 'boolean' ? 'a boolean' : `a ${typeof v}`;
}

export function typeError(param: string, expected: string, v: unknown) {
  return invalidRequest(`Invalid type for '${param}': expected ${expected}, but got ${describe(v)} instead.`, param, 'invalid_type');
}

export function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An optional array of objects, each mapped with its path (`tools[2]`); null/absent: undefined. */
export function objectList<T>(v: unknown, param: string, each: (o: Json, at: string) => T): T[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw typeError(param, 'an array', v);
  return v.map((x: unknown, i) => {
    const at = `${param}[${i}]`;
    if (!isObject(x)) throw typeError(at, 'an object', x);
    return each(x, at);
  });
}

/** The parsed body must be a JSON object. */
export function requireObject(body: unknown): Json {
  if (!isObject(body)) {
    throw invalidRequest(`Invalid request body: expected a JSON object, but got ${describe(body)} instead.`, null, 'invalid_type');
  }
  return body;
}

/** Present and not null (OpenAI treats an explicit null as "not given"). */
export function given(o: Json, key: string): boolean {
  return o[key] !== undefined && o[key] !== null;
}

export function optString(o: Json, key: string, param = key): string | undefined {
  if (!given(o, key)) return undefined;
  const v = o[key];
  if (typeof v !== 'string') throw typeError(param, 'a string', v);
  return v;
}

export function optBoolean(o: Json, key: string, param = key): boolean | undefined {
  if (!given(o, key)) return undefined;
  const v = o[key];
  if (typeof v !== 'boolean') throw typeError(param, 'a boolean', v);
  return v;
}

interface NumberRule {
  min?: number;
  max?: number;
  integer?: boolean;
}

export function optNumber(o: Json, key: string, rule: NumberRule = {}, param = key): number | undefined {
  if (!given(o, key)) return undefined;
  return checkNumber(o[key], param, rule);
}

function checkNumber(v: unknown, param: string, rule: NumberRule): number {
  const kind = rule.integer ? 'integer' : 'decimal';
  // JSON.parse turns 1e999 into Infinity: not a usable number either.
  if (typeof v !== 'number' || !Number.isFinite(v)) throw typeError(param, rule.integer ? 'an integer' : 'a number', v);
  if (rule.integer && !Number.isInteger(v)) throw typeError(param, 'an integer', v);
  const max = rule.max ?? (rule.integer ? Number.MAX_SAFE_INTEGER : undefined);
  const min = rule.min ?? (rule.integer ? Number.MIN_SAFE_INTEGER : undefined);
  if (min !== undefined && v < min) {
    throw invalidRequest(`Invalid '${param}': ${kind} below minimum value. Expected a value >= ${min}, but got ${v} instead.`, param, `${kind}_below_min_value`);
  }
  if (max !== undefined && v > max) {
    throw invalidRequest(`Invalid '${param}': ${kind} above maximum value. Expected a value <= ${max}, but got ${v} instead.`, param, `${kind}_above_max_value`);
  }
  return v;
}

function stopList(o: Json): string[] | undefined {
  if (!given(o, 'stop')) return undefined;
  const v = o.stop;
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list)) throw typeError('stop', 'a string or an array of strings', v);
  if (list.length > LIMITS.stopEntries) {
    throw invalidRequest(
      `Invalid 'stop': array too long. Expected an array with maximum length ${LIMITS.stopEntries}, but got an array with length ${list.length} instead.`,
      'stop',
      'array_above_max_length',
    );
  }
  const out: string[] = [];
  list.forEach((s: unknown, i) => {
    if (typeof s !== 'string') throw typeError(`stop[${i}]`, 'a string', s);
    if (s.length > LIMITS.stopLength) {
      throw invalidRequest(`Invalid 'stop[${i}]': string too long (at most ${LIMITS.stopLength} characters).`, `stop[${i}]`, 'string_above_max_length');
    }
    if (s !== '') out.push(s); // an empty stop string would match everywhere: ignored, as llama.cpp does
  });
  return out.length ? out : undefined;
}

function logitBias(o: Json): Array<[number, number]> | undefined {
  if (!given(o, 'logit_bias')) return undefined;
  const v = o.logit_bias;
  if (!isObject(v)) throw typeError('logit_bias', 'an object', v);
  const entries = Object.entries(v);
  if (entries.length > LIMITS.logitBiasEntries) {
    throw invalidRequest(`Invalid 'logit_bias': at most ${LIMITS.logitBiasEntries} entries are allowed, got ${entries.length}.`, 'logit_bias', 'invalid_value');
  }
  return entries.map(([key, bias]) => {
    if (!/^(0|[1-9][0-9]{0,9})$/.test(key)) {
      throw invalidRequest(`Invalid 'logit_bias': key '${key.slice(0, 40)}' is not a token id (a non-negative integer).`, 'logit_bias', 'invalid_value');
    }
    return [Number(key), checkNumber(bias, `logit_bias.${key}`, { min: -100, max: 100 })] as [number, number];
  });
}

/** `n`: choices, each its own sequence and seed (batched with the others). */
function checkN(o: Json): number {
  return optNumber(o, 'n', { integer: true, min: 1, max: LIMITS.choices }) ?? 1;
}

function checkStream(o: Json): { stream: boolean; includeUsage: boolean } {
  const stream = optBoolean(o, 'stream') ?? false;
  let includeUsage = false;
  if (given(o, 'stream_options')) {
    const so = o.stream_options;
    if (!isObject(so)) throw typeError('stream_options', 'an object', so);
    includeUsage = optBoolean(so, 'include_usage', 'stream_options.include_usage') ?? false;
    optBoolean(so, 'include_obfuscation', 'stream_options.include_obfuscation'); // accepted, no obfuscation is sent
  }
  return { stream, includeUsage: stream && includeUsage };
}

/** Sampling parameters common to both endpoints (OpenAI's ranges plus llama.cpp's extras). */
function common(o: Json, maxTokens: number | undefined): CommonRequest {
  const options: GenerateOptions = {};
  const set = <K extends keyof GenerateOptions>(k: K, v: GenerateOptions[K] | undefined) => {
    if (v !== undefined) options[k] = v;
  };
  set('temperature', optNumber(o, 'temperature', { min: 0, max: 2 }));
  set('topP', optNumber(o, 'top_p', { min: 0, max: 1 }));
  set('topK', optNumber(o, 'top_k', { integer: true, min: 0 }));
  set('minP', optNumber(o, 'min_p', { min: 0, max: 1 }));
  set('presencePenalty', optNumber(o, 'presence_penalty', { min: -2, max: 2 }));
  set('frequencyPenalty', optNumber(o, 'frequency_penalty', { min: -2, max: 2 }));
  set('repeatPenalty', optNumber(o, 'repeat_penalty', { min: 0, max: 10 }));
  const seed = optNumber(o, 'seed', { integer: true });
  set('seed', seed === undefined ? undefined : seed >>> 0); // reduced modulo 2^32
  set('stop', stopList(o));
  const n = checkN(o);
  const model = optString(o, 'model');
  return { model, ...checkStream(o), maxTokens, n, options, logitBias: logitBias(o) };
}

function rejectGiven(o: Json, keys: string[]): void {
  for (const key of keys) if (given(o, key)) throw unsupported(key);
}

export function validateChatRequest(raw: unknown): ChatRequest {
  const o = requireObject(raw);
  if (o.messages === undefined) {
    throw invalidRequest("Missing required parameter: 'messages'.", 'messages', 'missing_required_parameter');
  }
  const messages = validateMessages(o.messages);
  // The deprecated function calling: harmless empty values pass, anything else points to tools.
  const legacy = "(the deprecated function calling) is not supported: use 'tools' and 'tool_choice'";
  if (given(o, 'functions') && !(Array.isArray(o.functions) && o.functions.length === 0)) throw unsupported('functions', legacy);
  if (given(o, 'function_call') && o.function_call !== 'none' && o.function_call !== 'auto') throw unsupported('function_call', legacy);
  const toolFields = validateToolFields(o);
  if (given(o, 'modalities')) {
    const m = o.modalities;
    if (!Array.isArray(m) || m.some((x) => x !== 'text')) throw unsupported('modalities', "other than ['text'] is not supported");
  }
  rejectGiven(o, ['audio', 'prediction', 'web_search_options']);
  const mct = optNumber(o, 'max_completion_tokens', { integer: true, min: 1 });
  const mt = optNumber(o, 'max_tokens', { integer: true, min: 1 });
  let templateKwargs: Record<string, unknown> | undefined;
  if (given(o, 'chat_template_kwargs')) {
    const kw = o.chat_template_kwargs;
    if (!isObject(kw)) throw typeError('chat_template_kwargs', 'an object', kw);
    templateKwargs = kw;
  }
  const req = { ...common(o, mct ?? mt), messages, templateKwargs, ...toolFields };
  const logprobs = optBoolean(o, 'logprobs') ?? false;
  const top = optNumber(o, 'top_logprobs', { integer: true, min: 0, max: 20 });
  if (top !== undefined && !logprobs) {
    throw invalidRequest("Invalid 'top_logprobs': it needs 'logprobs' set to true.", 'top_logprobs', 'invalid_value');
  }
  if (logprobs) req.options.logprobs = true;
  if (top) req.options.topLogprobs = top;
  return req;
}

export function validateCompletionRequest(raw: unknown): CompletionRequest {
  const o = requireObject(raw);
  if (o.prompt === undefined || o.prompt === null) {
    throw invalidRequest("Missing required parameter: 'prompt'.", 'prompt', 'missing_required_parameter');
  }
  const prompt = completionPrompt(o.prompt);
  if (optBoolean(o, 'echo') === true) throw unsupported('echo', 'is not supported yet');
  const bestOf = optNumber(o, 'best_of', { integer: true, min: 1 });
  if (bestOf !== undefined && bestOf !== 1) throw unsupported('best_of', 'greater than 1 is not supported');
  if (optString(o, 'suffix')) throw unsupported('suffix', '(insertion) is not supported');
  // The legacy endpoint's `logprobs` is the number of alternatives (OpenAI: up to 5; here 20).
  const top = optNumber(o, 'logprobs', { integer: true, min: 0, max: 20 });
  // OpenAI's documented default for the legacy completions endpoint.
  const maxTokens = optNumber(o, 'max_tokens', { integer: true, min: 1 }) ?? 16;
  const req = { ...common(o, maxTokens), prompt };
  if (top !== undefined) req.options.logprobs = true;
  if (top) req.options.topLogprobs = top;
  return req;
}

/** A string, [string], token ids or [token ids]; several prompts in one request are refused. */
function completionPrompt(p: unknown): string | number[] {
  if (typeof p === 'string') return p;
  if (!Array.isArray(p)) throw typeError('prompt', 'a string, an array of one string or an array of token ids', p);
  if (p.length === 0) throw invalidRequest("Invalid 'prompt': empty array.", 'prompt', 'empty_array');
  if (typeof p[0] === 'string' || Array.isArray(p[0])) {
    if (p.length > 1) throw unsupported('prompt', 'as a list of several prompts is not supported (send one request per prompt)');
    return typeof p[0] === 'string' ? p[0] : tokenIds(p[0], 'prompt[0]');
  }
  return tokenIds(p, 'prompt');
}

/** An array of non-negative integers (vocabulary range checked later). */
export function tokenIds(v: unknown, param: string): number[] {
  if (!Array.isArray(v)) throw typeError(param, 'an array of token ids', v);
  if (v.length === 0) throw invalidRequest(`Invalid '${param}': empty array.`, param, 'empty_array');
  return v.map((t, i) => checkNumber(t, `${param}[${i}]`, { integer: true, min: 0, max: 0xffffffff }));
}

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool']);

export function validateMessages(v: unknown): ChatMessage[] {
  if (!Array.isArray(v)) throw typeError('messages', 'an array', v);
  if (v.length === 0) {
    throw invalidRequest("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", 'messages', 'empty_array');
  }
  if (v.length > LIMITS.messages) {
    throw invalidRequest(`Invalid 'messages': array too long (at most ${LIMITS.messages} messages).`, 'messages', 'array_above_max_length');
  }
  return v.map((m, i) => message(m, `messages[${i}]`));
}

function message(m: unknown, at: string): ChatMessage {
  if (!isObject(m)) throw typeError(at, 'an object', m);
  const role = m.role;
  if (typeof role !== 'string') {
    throw role === undefined
      ? invalidRequest(`Missing required parameter: '${at}.role'.`, `${at}.role`, 'missing_required_parameter')
      : typeError(`${at}.role`, 'a string', role);
  }
  if (!ROLES.has(role)) {
    throw invalidRequest(
      `Invalid value: '${role.slice(0, 40)}'. Supported values are: 'system', 'developer', 'user', 'assistant' and 'tool'.`,
      `${at}.role`,
      'invalid_value',
    );
  }
  const out: ChatMessage = { role: role === 'developer' ? 'system' : role };
  const content = m.content;
  if (content === undefined || content === null) {
    if (role !== 'assistant') throw invalidRequest(`Missing required parameter: '${at}.content'.`, `${at}.content`, 'missing_required_parameter');
    out.content = given(m, 'tool_calls') ? null : ''; // an assistant turn with only tool calls
  } else if (typeof content === 'string') {
    out.content = content;
  } else if (Array.isArray(content)) {
    out.content = contentParts(content, `${at}.content`);
  } else {
    throw typeError(`${at}.content`, 'a string or an array of content parts', content);
  }
  const name = optString(m, 'name', `${at}.name`);
  if (name !== undefined) out.name = name;
  if (role === 'tool') {
    const id = optString(m, 'tool_call_id', `${at}.tool_call_id`);
    if (id !== undefined) out.tool_call_id = id;
  }
  if (role === 'assistant' && given(m, 'tool_calls')) out.tool_calls = toolCalls(m.tool_calls, `${at}.tool_calls`);
  const reasoning = role === 'assistant' ? optString(m, 'reasoning_content', `${at}.reasoning_content`) : undefined;
  if (reasoning !== undefined) out.reasoning_content = reasoning;
  return out;
}

function contentParts(parts: unknown[], at: string): ChatTextPart[] {
  if (parts.length > LIMITS.contentParts) {
    throw invalidRequest(`Invalid '${at}': at most ${LIMITS.contentParts} content parts.`, at, 'array_above_max_length');
  }
  return parts.map((p, j) => {
    const pat = `${at}[${j}]`;
    if (!isObject(p)) throw typeError(pat, 'an object', p);
    if (p.type === 'text') {
      if (typeof p.text !== 'string') throw typeError(`${pat}.text`, 'a string', p.text);
      return { type: 'text', text: p.text };
    }
    if (p.type === 'refusal' && typeof p.refusal === 'string') return { type: 'text', text: p.refusal };
    if (typeof p.type !== 'string') throw typeError(`${pat}.type`, 'a string', p.type);
    throw unsupported(`${pat}.type`, `'${p.type.slice(0, 40)}' is not supported: this server handles text content only`);
  });
}

function toolCalls(v: unknown, at: string): ChatToolCall[] {
  if (!Array.isArray(v)) throw typeError(at, 'an array', v);
  return v.map((tc, i) => {
    const tat = `${at}[${i}]`;
    if (!isObject(tc)) throw typeError(tat, 'an object', tc);
    const fn = tc.function;
    if (!isObject(fn)) throw typeError(`${tat}.function`, 'an object', fn);
    const name = optString(fn, 'name', `${tat}.function.name`) ?? '';
    const args = fn.arguments ?? '{}';
    if (typeof args !== 'string') throw typeError(`${tat}.function.arguments`, 'a string', args);
    const call: ChatToolCall = { type: 'function', function: { name, arguments: args } };
    const id = optString(tc, 'id', `${tat}.id`);
    if (id !== undefined) call.id = id;
    return call;
  });
}
