// POST /v1/responses request bodies (OpenAI's Responses API, stateless): `input` items and the
// Responses-only fields are checked here, naming the Responses params; the rest is translated into
// a chat completions body and validated by the chat path (chat-translate.ts).
import type { ChatMessage } from '../chat-template.js';
import { given, missing, typeError, viaChat } from './chat-translate.js';
import { invalidRequest, unsupported } from './errors.js';
import { isObject, LIMITS, objectList, optBoolean, optString, requireObject, type ChatRequest } from './validate.js';

type Json = Record<string, unknown>;

/** What the response object echoes back of the request. */
export interface ResponsesEcho {
  instructions: string | null;
  maxOutputTokens: number | null;
  temperature: number | null;
  topP: number | null;
  tools: Json[];
  toolChoice: unknown;
  text: { format: Json };
  reasoning: { effort: string | null; summary: string | null };
  parallelToolCalls: boolean;
  metadata: Record<string, string>;
}

export interface ResponsesRequest {
  chat: ChatRequest;
  echo: ResponsesEcho;
}

const ROLES = new Set(['user', 'assistant', 'system', 'developer']);

/** Renames of the chat body's params back to the Responses request's. */
const RENAMES = {
  messages: 'input',
  max_completion_tokens: 'max_output_tokens',
  response_format: 'text.format',
  reasoning_effort: 'reasoning.effort',
};

/** A message's content: a string or text parts (input_text / output_text / refusal). */
function content(v: unknown, at: string): string {
  if (typeof v === 'string') return v;
  if (!Array.isArray(v)) throw typeError(at, 'a string or an array of content parts', v);
  if (v.length > LIMITS.contentParts) throw invalidRequest(`Invalid '${at}': at most ${LIMITS.contentParts} content parts.`, at, 'array_above_max_length');
  return v
    .map((p: unknown, j) => {
      const pat = `${at}[${j}]`;
      if (!isObject(p)) throw typeError(pat, 'an object', p);
      if (p.type === 'input_text' || p.type === 'output_text' || p.type === 'text') {
        if (typeof p.text !== 'string') throw typeError(`${pat}.text`, 'a string', p.text);
        return p.text;
      }
      if (p.type === 'refusal') {
        if (typeof p.refusal !== 'string') throw typeError(`${pat}.refusal`, 'a string', p.refusal);
        return p.refusal;
      }
      if (typeof p.type !== 'string') throw typeError(`${pat}.type`, 'a string', p.type);
      throw unsupported(`${pat}.type`, `'${p.type.slice(0, 40)}' is not supported: this server handles text content only`);
    })
    .join('');
}

/** `input` as chat messages; `function_call` items join the assistant turn before them. */
function inputMessages(input: unknown): ChatMessage[] {
  if (typeof input === 'string') return [{ role: 'user', content: input }];
  if (!Array.isArray(input)) throw typeError('input', 'a string or an array of input items', input);
  if (input.length > LIMITS.messages) throw invalidRequest(`Invalid 'input': array too long (at most ${LIMITS.messages} items).`, 'input', 'array_above_max_length');
  const out: ChatMessage[] = [];
  let reasoning = ''; // a reasoning item's text goes with the assistant turn after it
  input.forEach((item: unknown, i) => {
    const at = `input[${i}]`;
    if (!isObject(item)) throw typeError(at, 'an object', item);
    const type = item.type ?? 'message';
    if (type === 'message') {
      const role = item.role;
      if (typeof role !== 'string') throw role === undefined ? missing(`${at}.role`) : typeError(`${at}.role`, 'a string', role);
      if (!ROLES.has(role)) {
        throw invalidRequest(`Invalid value: '${role.slice(0, 40)}'. Supported values are: 'user', 'assistant', 'system' and 'developer'.`, `${at}.role`, 'invalid_value');
      }
      if (item.content === undefined || item.content === null) throw missing(`${at}.content`);
      const m: ChatMessage = { role: role === 'developer' ? 'system' : role, content: content(item.content, `${at}.content`) };
      if (role === 'assistant' && reasoning) m.reasoning_content = reasoning;
      if (role === 'assistant') reasoning = '';
      out.push(m);
    } else if (type === 'function_call') {
      const callId = optString(item, 'call_id', `${at}.call_id`);
      const name = optString(item, 'name', `${at}.name`);
      const args = optString(item, 'arguments', `${at}.arguments`);
      if (callId === undefined) throw missing(`${at}.call_id`);
      if (name === undefined) throw missing(`${at}.name`);
      const call = { id: callId, type: 'function' as const, function: { name, arguments: args ?? '{}' } };
      const last = out[out.length - 1];
      const prev = input[i - 1] as Json | undefined;
      // One assistant turn: its message (if any) and the calls right after it.
      if (last?.role === 'assistant' && prev !== undefined && (prev.type === 'function_call' || ((prev.type ?? 'message') === 'message' && prev.role === 'assistant'))) {
        last.tool_calls = [...(last.tool_calls ?? []), call];
      } else {
        const m: ChatMessage = { role: 'assistant', content: null, tool_calls: [call] };
        if (reasoning) m.reasoning_content = reasoning;
        reasoning = '';
        out.push(m);
      }
    } else if (type === 'function_call_output') {
      const callId = optString(item, 'call_id', `${at}.call_id`);
      if (callId === undefined) throw missing(`${at}.call_id`);
      if (item.output === undefined || item.output === null) throw missing(`${at}.output`);
      out.push({ role: 'tool', tool_call_id: callId, content: content(item.output, `${at}.output`) });
    } else if (type === 'reasoning') {
      const parts = [...(Array.isArray(item.content) ? item.content : []), ...(Array.isArray(item.summary) ? item.summary : [])];
      reasoning += parts.map((p: unknown) => (isObject(p) && typeof p.text === 'string' ? p.text : '')).join('');
    } else if (type === 'item_reference') {
      throw unsupported(`${at}.type`, "'item_reference' is not supported: this server is stateless (send the items themselves)");
    } else {
      throw typeof type === 'string'
        ? unsupported(`${at}.type`, `'${type.slice(0, 40)}' is not supported (messages, function_call, function_call_output and reasoning items are)`)
        : typeError(`${at}.type`, 'a string', type);
    }
  });
  if (out.length === 0) throw invalidRequest("Invalid 'input': it holds no messages.", 'input', 'empty_array');
  return out;
}

/** Function tools → chat tools; built-in tools (web search, files …) are refused. */
function chatTools(v: unknown): Json[] | undefined {
  return objectList(v, 'tools', (t, at) => {
    if (t.type !== 'function') {
      throw typeof t.type === 'string' ? unsupported(`${at}.type`, `'${t.type.slice(0, 40)}' is not supported (only function tools)`) : typeError(`${at}.type`, 'a string', t.type);
    }
    const name = optString(t, 'name', `${at}.name`);
    if (name === undefined) throw missing(`${at}.name`);
    const fn: Json = { name };
    const description = optString(t, 'description', `${at}.description`);
    if (description !== undefined) fn.description = description;
    if (given(t, 'parameters')) {
      if (!isObject(t.parameters)) throw typeError(`${at}.parameters`, 'an object', t.parameters);
      fn.parameters = t.parameters;
    }
    const strict = optBoolean(t, 'strict', `${at}.strict`);
    if (strict !== undefined) fn.strict = strict;
    return { type: 'function', function: fn };
  });
}

function chatToolChoice(v: unknown): unknown {
  if (v === undefined || v === null || typeof v === 'string') return v ?? undefined;
  if (!isObject(v)) throw typeError('tool_choice', 'a string or an object', v);
  if (v.type === 'function') {
    const name = optString(v, 'name', 'tool_choice.name');
    if (name === undefined) throw missing('tool_choice.name');
    return { type: 'function', function: { name } };
  }
  throw unsupported('tool_choice', `of type '${String(v.type).slice(0, 40)}' is not supported ('none', 'auto', 'required' or a function)`);
}

/** `text.format` → chat's response_format. */
function responseFormat(text: unknown): { format: Json; chat: Json | undefined } {
  if (text === undefined || text === null) return { format: { type: 'text' }, chat: undefined };
  if (!isObject(text)) throw typeError('text', 'an object', text);
  if (given(text, 'verbosity') && !['low', 'medium', 'high'].includes(text.verbosity as string)) {
    throw invalidRequest("Invalid 'text.verbosity': expected 'low', 'medium' or 'high'.", 'text.verbosity', 'invalid_value');
  }
  const f = text.format;
  if (f === undefined || f === null) return { format: { type: 'text' }, chat: undefined };
  if (!isObject(f)) throw typeError('text.format', 'an object', f);
  if (f.type === 'json_schema') {
    const { type: _, ...schema } = f; // Responses flattens chat's `json_schema: { name, schema, strict }`
    return { format: f, chat: { type: 'json_schema', json_schema: schema } };
  }
  return { format: f, chat: f };
}

function reasoningOf(v: unknown): { effort: string | null; summary: string | null } {
  if (v === undefined || v === null) return { effort: null, summary: null };
  if (!isObject(v)) throw typeError('reasoning', 'an object', v);
  return { effort: optString(v, 'effort', 'reasoning.effort') ?? null, summary: optString(v, 'summary', 'reasoning.summary') ?? null };
}

export function validateResponsesRequest(raw: unknown): ResponsesRequest {
  const o = requireObject(raw);
  if (given(o, 'previous_response_id')) throw unsupported('previous_response_id', 'is not supported: this server is stateless (send the whole conversation in `input`)');
  if (given(o, 'conversation')) throw unsupported('conversation', 'is not supported: this server is stateless');
  if (optBoolean(o, 'store') === true) throw unsupported('store', 'set to true is not supported: this server stores no responses (send store: false)');
  if (optBoolean(o, 'background') === true) throw unsupported('background', 'is not supported');
  if (given(o, 'prompt')) throw unsupported('prompt', '(stored prompt templates) is not supported');
  if (given(o, 'top_logprobs') && o.top_logprobs !== 0) throw unsupported('top_logprobs', 'is not supported on /v1/responses yet');
  if (given(o, 'truncation') && o.truncation !== 'disabled') throw unsupported('truncation', "other than 'disabled' is not supported");
  if (given(o, 'include') && !Array.isArray(o.include)) throw typeError('include', 'an array', o.include);
  let metadata: Record<string, string> = {};
  if (given(o, 'metadata')) {
    if (!isObject(o.metadata)) throw typeError('metadata', 'an object', o.metadata);
    metadata = o.metadata as Record<string, string>;
  }
  if (o.input === undefined || o.input === null) throw missing('input');
  const instructions = optString(o, 'instructions') ?? null;
  const messages = inputMessages(o.input);
  if (instructions !== null) messages.unshift({ role: 'system', content: instructions });
  const tools = chatTools(o.tools);
  const toolChoice = chatToolChoice(o.tool_choice);
  const format = responseFormat(o.text);
  const reasoning = reasoningOf(o.reasoning);
  const body: Json = { model: o.model, messages, stream: o.stream, temperature: o.temperature, top_p: o.top_p, max_completion_tokens: o.max_output_tokens };
  if (tools !== undefined) body.tools = tools;
  if (toolChoice !== undefined) body.tool_choice = toolChoice;
  if (format.chat !== undefined) body.response_format = format.chat;
  if (reasoning.effort !== null) body.reasoning_effort = reasoning.effort;
  if (given(o, 'parallel_tool_calls')) body.parallel_tool_calls = o.parallel_tool_calls;
  const chat = viaChat(body, RENAMES);
  return {
    chat,
    echo: {
      instructions,
      maxOutputTokens: chat.maxTokens ?? null,
      temperature: chat.options.temperature ?? null,
      topP: chat.options.topP ?? null,
      tools: Array.isArray(o.tools) ? (o.tools as Json[]) : [],
      toolChoice: o.tool_choice ?? 'auto',
      text: { format: format.format },
      reasoning,
      parallelToolCalls: (o.parallel_tool_calls as boolean | undefined) ?? true,
      metadata,
    },
  };
}
