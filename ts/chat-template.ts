// Renders a GGUF `tokenizer.chat_template` the way HF transformers' apply_chat_template does
// (Python jinja2 semantics, see chat-template-compat.ts), with @huggingface/jinja underneath.
// No `node:` imports: this runs on edge runtimes too.

import { ChatTemplateError, compileJinja2, renderJinja2, type JinjaProgram } from './chat-template-compat.js';

export { ChatTemplateError, strftime, type ChatTemplateErrorKind } from './chat-template-compat.js';
export { fallbackChatTemplate, type FallbackTemplateName, type TokenLookup } from './chat-template-fallback.js';

export interface ChatTextPart {
  type: 'text';
  text: string;
}

export interface ChatToolCall {
  id?: string;
  type: 'function';
  function: {
    name: string;
    /** HF convention: an object. A JSON string (OpenAI wire format) is parsed into one. */
    arguments: string | Record<string, unknown>;
  };
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool' | (string & {});
  content?: string | ChatTextPart[] | null;
  name?: string;
  tool_calls?: ChatToolCall[];
  tool_call_id?: string;
  reasoning_content?: string | null;
}

/** An OpenAI-style tool definition: `{ type: 'function', function: { name, description, parameters } }`. */
export type ChatTool = Record<string, unknown>;

export interface RenderChatTemplateOptions {
  bosToken?: string;
  eosToken?: string;
  addGenerationPrompt?: boolean;
  /** Passed as `tools`; `null` (not undefined) when absent, as transformers does. */
  tools?: ChatTool[] | null;
  /** The clock of `strftime_now(fmt)`; the current date by default. */
  now?: Date;
  /** Extra template variables (`enable_thinking`, `documents`, …). */
  extra?: Record<string, unknown>;
  /**
   * Keep `content` part arrays as they are. By default, content made only of text parts is
   * joined with "\n" into a string, since most templates print `content` directly.
   */
  keepContentParts?: boolean;
}

export interface CompiledChatTemplate {
  readonly source: string;
  /** Renders with exactly `context` as the template variables (plus the globals). */
  render(context: Record<string, unknown>, options?: { now?: Date }): string;
}

const CACHE_LIMIT = 32;
const cache = new Map<string, CompiledChatTemplate>();

/** Parses `source` once; later calls with the same string reuse the parsed template. */
export function compileChatTemplate(source: string): CompiledChatTemplate {
  const hit = cache.get(source);
  if (hit) {
    cache.delete(source); // re-insert: the Map's order is the eviction order (least recent first)
    cache.set(source, hit);
    return hit;
  }
  let program: JinjaProgram;
  try {
    program = compileJinja2(source);
  } catch (err) {
    throw new ChatTemplateError(`chat template parse failed: ${errorMessage(err)}`, 'parse', { cause: err });
  }
  const compiled: CompiledChatTemplate = {
    source,
    render(context, options = {}) {
      try {
        return renderJinja2(program, context, options.now ?? new Date());
      } catch (err) {
        if (err instanceof ChatTemplateError) throw err;
        throw new ChatTemplateError(`chat template render failed: ${errorMessage(err)}`, 'render', { cause: err });
      }
    },
  };
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!);
  cache.set(source, compiled);
  return compiled;
}

/**
 * The variables transformers passes to a chat template: messages, tools (or null), documents
 * (null unless given in `extra`), add_generation_prompt, bos_token/eos_token when set, then extra.
 */
export function buildChatTemplateContext(
  messages: ChatMessage[],
  options: RenderChatTemplateOptions = {},
): Record<string, unknown> {
  const context: Record<string, unknown> = {
    messages: messages.map((m) => normalizeMessage(m, options.keepContentParts ?? false)),
    tools: options.tools ?? null,
    documents: null,
    add_generation_prompt: options.addGenerationPrompt ?? false,
  };
  if (options.bosToken !== undefined) context.bos_token = options.bosToken;
  if (options.eosToken !== undefined) context.eos_token = options.eosToken;
  for (const [key, value] of Object.entries(options.extra ?? {})) {
    if (key === 'messages' || key === 'add_generation_prompt' || (key === 'tools' && options.tools !== undefined)) {
      continue; // the typed options win over their raw variables
    }
    context[key] = value;
  }
  return context;
}

/** Renders a chat template for `messages` under the HF conventions. Throws ChatTemplateError. */
export function renderChatTemplate(
  template: string,
  messages: ChatMessage[],
  options: RenderChatTemplateOptions = {},
): string {
  return compileChatTemplate(template).render(buildChatTemplateContext(messages, options), { now: options.now });
}

function normalizeMessage(message: ChatMessage, keepContentParts: boolean): ChatMessage {
  let out = message;
  const content = message.content;
  if (!keepContentParts && Array.isArray(content) && content.every((p) => p?.type === 'text')) {
    out = { ...out, content: content.map((p) => p.text).join('\n') };
  }
  if (message.tool_calls?.some((c) => typeof c.function?.arguments === 'string')) {
    out = { ...out, tool_calls: message.tool_calls.map(parseArguments) };
  }
  return out;
}

function parseArguments(call: ChatToolCall): ChatToolCall {
  const args = call.function?.arguments;
  if (typeof args !== 'string') return call;
  try {
    const parsed: unknown = JSON.parse(args);
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) {
      return { ...call, function: { ...call.function, arguments: parsed as Record<string, unknown> } };
    }
  } catch {
    // not JSON: the template gets the string as sent
  }
  return call;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
