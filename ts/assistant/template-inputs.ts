// What a chat template gets for tools. Templates with tool support read OpenAI-shaped tools
// themselves; for the generic family (a template that knows nothing of tools) the tools and the
// answer protocol go into a system message and past calls / results are written as JSON text,
// as llama.cpp does (its generic handler's instruction, and minja's tool polyfills in
// chat-template.hpp: the tools list, the example call, `{"tool_calls": …}` and
// `{"tool_response": …}` messages, all JSON with 2-space indent).
import type { ChatMessage, ChatTool } from '../chat-template.js';
import { isObject, parseJson } from './tool-json.js';

/** llama.cpp's generic handler's instruction, verbatim. */
const RESPOND =
  "Respond in JSON format, either with `tool_call` (a request to call tools) or with `response` reply to the user's request";

/** The example minja renders for a template without tool-call support (a call as JSON content). */
const EXAMPLE = JSON.stringify(
  { tool_calls: [{ name: 'tool_name', arguments: { arg1: 'some_value' }, id: 'call_1___' }] },
  null,
  2,
);

/**
 * The request's tools as templates expect them: function tools only, each with a `parameters`
 * object (templates read `parameters.properties` unguarded; a string holding JSON is parsed).
 * null when there are none, which is what transformers passes.
 */
export function toolsForTemplate(tools: readonly unknown[] | null | undefined): ChatTool[] | null {
  const out: ChatTool[] = [];
  for (const tool of tools ?? []) {
    if (!isObject(tool) || tool.type !== 'function' || !isObject(tool.function)) continue;
    const fn = tool.function;
    if (typeof fn.name !== 'string') continue;
    let parameters: unknown = fn.parameters;
    if (typeof parameters === 'string') parameters = parseJson(parameters);
    if (!isObject(parameters)) parameters = { type: 'object', properties: {} };
    out.push({ ...tool, function: { ...fn, parameters } });
  }
  return out.length ? out : null;
}

/** The system text that teaches a template without tools the generic JSON protocol. */
export function genericToolSystemPrompt(tools: ChatTool[]): string {
  return (
    `${RESPOND}\n\n` +
    `You can call any of the following tools to satisfy the user's requests: ${JSON.stringify(tools, null, 2)}` +
    `\n\nExample tool call syntax:\n\n${EXAMPLE}\n\n`
  );
}

/**
 * The conversation for a generic-family template: the protocol in the system message (appended
 * to the first one after a blank line, or a new first message), assistant tool calls as
 * `{"tool_calls": [{name, arguments, id}], "content"?}` text, tool results as user messages
 * holding `{"tool_response": {tool, content, tool_call_id}}`.
 */
export function genericMessages(messages: readonly ChatMessage[], tools: ChatTool[]): ChatMessage[] {
  const prompt = genericToolSystemPrompt(tools);
  const out: ChatMessage[] = messages.map(polyfill);
  const first = out[0];
  if (first?.role === 'system') out[0] = { role: 'system', content: `${textOf(first.content)}\n\n${prompt}` };
  else out.unshift({ role: 'system', content: prompt });
  return out;
}

function polyfill(message: ChatMessage): ChatMessage {
  if (message.tool_calls?.length) {
    const calls = message.tool_calls
      .filter((c) => c.type === 'function')
      .map((c) => {
        const args = typeof c.function.arguments === 'string' ? (parseJson(c.function.arguments) ?? c.function.arguments) : c.function.arguments;
        return c.id === undefined ? { name: c.function.name, arguments: args } : { name: c.function.name, arguments: args, id: c.id };
      });
    const content = textOf(message.content);
    const obj = content ? { tool_calls: calls, content } : { tool_calls: calls };
    const { tool_calls: _, ...rest } = message;
    return { ...rest, content: JSON.stringify(obj, null, 2) };
  }
  if (message.role === 'tool') {
    const response: Record<string, unknown> = {};
    if (message.name !== undefined) response.tool = message.name;
    response.content = message.content ?? null;
    if (message.tool_call_id !== undefined) response.tool_call_id = message.tool_call_id;
    return { role: 'user', content: JSON.stringify({ tool_response: response }, null, 2) };
  }
  return message;
}

function textOf(content: ChatMessage['content']): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((p) => p.text).join('\n');
  return '';
}
