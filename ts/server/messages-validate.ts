// POST /v1/messages request bodies (Anthropic's Messages API): content blocks and the Anthropic
// fields are checked here, naming Anthropic's params; the rest is translated into a chat
// completions body and validated by the chat path (chat-translate.ts).
import type { ChatMessage, ChatToolCall } from '../chat-template.js';
import { given, missing, typeError, viaChat } from './chat-translate.js';
import { invalidRequest, unsupported } from './errors.js';
import { isObject, LIMITS, objectList, optBoolean, optNumber, optString, requireObject, type ChatRequest } from './validate.js';

type Json = Record<string, unknown>;

export interface MessagesRequest {
  chat: ChatRequest;
  /** The request's `max_tokens`: reaching it is `max_tokens`, stopping short at the context is not. */
  maxTokens: number;
}

const RENAMES = {
  messages: 'messages',
  max_completion_tokens: 'max_tokens',
  stop: 'stop_sequences',
  response_format: 'output_config.format',
  reasoning_effort: 'output_config.effort',
};

/** Ids this route hands out are `toolu_` + the chat path's id; the chat path gets its own back. */
export const TOOL_ID_PREFIX = 'toolu_';
const chatCallId = (id: string) => (id.startsWith(TOOL_ID_PREFIX) ? id.slice(TOOL_ID_PREFIX.length) : id);

function unsupportedBlock(at: string, type: string): never {
  throw unsupported(`${at}.type`, `'${type.slice(0, 40)}' is not supported: this server handles text content only`);
}

/** Text blocks (a `tool_result`'s or the system's content) as one string. */
function textOf(v: unknown, at: string): string {
  if (typeof v === 'string') return v;
  if (!Array.isArray(v)) throw typeError(at, 'a string or an array of content blocks', v);
  if (v.length > LIMITS.contentParts) throw invalidRequest(`Invalid '${at}': at most ${LIMITS.contentParts} content blocks.`, at, 'array_above_max_length');
  return v
    .map((b: unknown, j) => {
      const bat = `${at}[${j}]`;
      if (!isObject(b)) throw typeError(bat, 'an object', b);
      if (b.type !== 'text') return typeof b.type === 'string' ? unsupportedBlock(bat, b.type) : typeError(`${bat}.type`, 'a string', b.type);
      if (typeof b.text !== 'string') throw typeError(`${bat}.text`, 'a string', b.text);
      return b.text;
    })
    .join('\n');
}

/** One Anthropic message → chat messages (a user turn's tool_result blocks become tool messages). */
function turn(m: unknown, at: string): ChatMessage[] {
  if (!isObject(m)) throw typeError(at, 'an object', m);
  const role = m.role;
  if (typeof role !== 'string') throw role === undefined ? missing(`${at}.role`) : typeError(`${at}.role`, 'a string', role);
  if (role !== 'user' && role !== 'assistant') {
    throw invalidRequest(`Invalid value: '${role.slice(0, 40)}'. Supported values are: 'user' and 'assistant' (the system prompt is the top-level 'system').`, `${at}.role`, 'invalid_value');
  }
  const content = m.content;
  if (content === undefined || content === null) throw missing(`${at}.content`);
  if (typeof content === 'string') return [{ role, content }];
  if (!Array.isArray(content)) throw typeError(`${at}.content`, 'a string or an array of content blocks', content);
  if (content.length > LIMITS.contentParts) throw invalidRequest(`Invalid '${at}.content': at most ${LIMITS.contentParts} content blocks.`, `${at}.content`, 'array_above_max_length');
  const tools: ChatMessage[] = [];
  const texts: string[] = [];
  const calls: ChatToolCall[] = [];
  let thinking = '';
  content.forEach((b: unknown, j) => {
    const bat = `${at}.content[${j}]`;
    if (!isObject(b)) throw typeError(bat, 'an object', b);
    const type = b.type;
    if (type === 'text') {
      if (typeof b.text !== 'string') throw typeError(`${bat}.text`, 'a string', b.text);
      texts.push(b.text);
    } else if (type === 'tool_use' && role === 'assistant') {
      const id = optString(b, 'id', `${bat}.id`);
      const name = optString(b, 'name', `${bat}.name`);
      if (id === undefined) throw missing(`${bat}.id`);
      if (name === undefined) throw missing(`${bat}.name`);
      if (!isObject(b.input)) throw typeError(`${bat}.input`, 'an object', b.input);
      calls.push({ id: chatCallId(id), type: 'function', function: { name, arguments: JSON.stringify(b.input) } });
    } else if (type === 'tool_result' && role === 'user') {
      const id = optString(b, 'tool_use_id', `${bat}.tool_use_id`);
      if (id === undefined) throw missing(`${bat}.tool_use_id`);
      optBoolean(b, 'is_error', `${bat}.is_error`);
      tools.push({ role: 'tool', tool_call_id: chatCallId(id), content: given(b, 'content') ? textOf(b.content, `${bat}.content`) : '' });
    } else if ((type === 'thinking' || type === 'redacted_thinking') && role === 'assistant') {
      if (type === 'thinking' && typeof b.thinking === 'string') thinking += b.thinking; // redacted: nothing readable
    } else if (typeof type === 'string') {
      if (type === 'tool_use' || type === 'tool_result' || type === 'thinking') {
        throw invalidRequest(`Invalid '${bat}.type': '${type}' blocks belong in ${type === 'tool_result' ? 'user' : 'assistant'} messages.`, `${bat}.type`, 'invalid_value');
      }
      unsupportedBlock(bat, type);
    } else {
      throw typeError(`${bat}.type`, 'a string', type);
    }
  });
  const out = [...tools];
  if (texts.length > 0 || calls.length > 0 || (role === 'assistant' && thinking) || tools.length === 0) {
    const msg: ChatMessage = { role, content: texts.length === 0 && calls.length > 0 ? null : texts.join('\n') };
    if (calls.length > 0) msg.tool_calls = calls;
    if (thinking) msg.reasoning_content = thinking;
    out.push(msg);
  }
  return out;
}

function chatTools(v: unknown): Json[] | undefined {
  return objectList(v, 'tools', (t, at) => {
    // Server tools (web_search_…, bash_…, text_editor_…) run at Anthropic: none here.
    if (given(t, 'type') && t.type !== 'custom') {
      throw typeof t.type === 'string' ? unsupported(`${at}.type`, `'${t.type.slice(0, 40)}' is not supported (only client tools with an input_schema)`) : typeError(`${at}.type`, 'a string', t.type);
    }
    const name = optString(t, 'name', `${at}.name`);
    if (name === undefined) throw missing(`${at}.name`);
    if (!isObject(t.input_schema)) throw t.input_schema === undefined ? missing(`${at}.input_schema`) : typeError(`${at}.input_schema`, 'an object', t.input_schema);
    const fn: Json = { name, parameters: t.input_schema };
    const description = optString(t, 'description', `${at}.description`);
    if (description !== undefined) fn.description = description;
    return { type: 'function', function: fn };
  });
}

/** Anthropic's tool_choice → chat's, and whether parallel calls were turned off. */
function chatToolChoice(v: unknown): { choice: unknown; parallel: boolean | undefined } {
  if (v === undefined || v === null) return { choice: undefined, parallel: undefined };
  if (!isObject(v)) throw typeError('tool_choice', 'an object', v);
  const disable = optBoolean(v, 'disable_parallel_tool_use', 'tool_choice.disable_parallel_tool_use');
  const parallel = disable === undefined ? undefined : !disable;
  switch (v.type) {
    case 'auto':
      return { choice: 'auto', parallel };
    case 'any':
      return { choice: 'required', parallel };
    case 'none':
      return { choice: 'none', parallel };
    case 'tool': {
      const name = optString(v, 'name', 'tool_choice.name');
      if (name === undefined) throw missing('tool_choice.name');
      return { choice: { type: 'function', function: { name } }, parallel };
    }
    default:
      throw invalidRequest("Invalid 'tool_choice.type': expected 'auto', 'any', 'tool' or 'none'.", 'tool_choice.type', 'invalid_value');
  }
}

/** `output_config`: a JSON schema format → chat's response_format, effort → reasoning_effort. */
function outputConfig(v: unknown): { format?: Json; effort?: string } {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) throw typeError('output_config', 'an object', v);
  const out: { format?: Json; effort?: string } = {};
  const effort = optString(v, 'effort', 'output_config.effort');
  // OpenAI's scale ends at 'high'.
  if (effort !== undefined) out.effort = effort === 'xhigh' || effort === 'max' ? 'high' : effort;
  if (given(v, 'format')) {
    const f = v.format;
    if (!isObject(f)) throw typeError('output_config.format', 'an object', f);
    if (f.type !== 'json_schema') throw invalidRequest("Invalid 'output_config.format.type': expected 'json_schema'.", 'output_config.format.type', 'invalid_value');
    if (!isObject(f.schema)) throw typeError('output_config.format.schema', 'an object', f.schema);
    out.format = { type: 'json_schema', json_schema: { name: 'output', schema: f.schema, strict: true } };
  }
  return out;
}

export function validateMessagesRequest(raw: unknown): MessagesRequest {
  const o = requireObject(raw);
  // Anthropic requires max_tokens; so does this route.
  if (o.max_tokens === undefined || o.max_tokens === null) throw missing('max_tokens');
  const maxTokens = optNumber(o, 'max_tokens', { integer: true, min: 1 })!;
  if (o.messages === undefined || o.messages === null) throw missing('messages');
  if (!Array.isArray(o.messages)) throw typeError('messages', 'an array', o.messages);
  if (o.messages.length === 0) throw invalidRequest("Invalid 'messages': empty array (at least one message is required).", 'messages', 'empty_array');
  if (o.messages.length > LIMITS.messages) throw invalidRequest(`Invalid 'messages': array too long (at most ${LIMITS.messages} messages).`, 'messages', 'array_above_max_length');
  const messages = o.messages.flatMap((m: unknown, i) => turn(m, `messages[${i}]`));
  if (given(o, 'system')) messages.unshift({ role: 'system', content: textOf(o.system, 'system') });
  // Anthropic's ranges: temperature 0..1 (the chat path allows up to 2).
  optNumber(o, 'temperature', { min: 0, max: 1 });
  if (given(o, 'stop_sequences') && !Array.isArray(o.stop_sequences)) throw typeError('stop_sequences', 'an array of strings', o.stop_sequences);
  if (given(o, 'metadata') && !isObject(o.metadata)) throw typeError('metadata', 'an object', o.metadata);
  if (given(o, 'thinking')) {
    const t = o.thinking;
    if (!isObject(t)) throw typeError('thinking', 'an object', t);
    if (typeof t.type !== 'string') throw typeError('thinking.type', 'a string', t.type);
    optNumber(t, 'budget_tokens', { integer: true, min: 0 }, 'thinking.budget_tokens');
  }
  for (const key of ['mcp_servers', 'container']) {
    if (given(o, key) && !(Array.isArray(o[key]) && (o[key] as unknown[]).length === 0)) throw unsupported(key);
  }
  const { choice, parallel } = chatToolChoice(o.tool_choice);
  const body: Json = { model: o.model, messages, stream: o.stream, temperature: o.temperature, top_p: o.top_p, top_k: o.top_k, max_completion_tokens: maxTokens, stop: o.stop_sequences };
  const output = outputConfig(o.output_config);
  if (output.format !== undefined) body.response_format = output.format;
  if (output.effort !== undefined) body.reasoning_effort = output.effort;
  const tools = chatTools(o.tools);
  if (tools !== undefined) body.tools = tools;
  if (choice !== undefined) body.tool_choice = choice;
  if (parallel !== undefined) body.parallel_tool_calls = parallel;
  return { chat: viaChat(body, RENAMES), maxTokens };
}
