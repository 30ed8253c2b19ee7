// Grammars (llguidance's Lark syntax) that force a tool call in the model's own markup, for
// OpenAI's `tool_choice: "required"` or a named function: the family's tags around the call, the
// name one of the allowed ones, the arguments that tool's parameter schema (`%json { … }`). The
// markup is what the family's template renders for past calls, which is what the model learned.
import type { ChatTool } from '../chat-template.js';
import type { Model } from '../types.js';
import type { ToolFamily } from './family.js';
import { isObject } from './tool-json.js';

export type ToolGrammarChoice = 'required' | { name: string };

export interface ToolGrammarOptions {
  /**
   * The chat template: picks the variant of families with several (Mistral's JSON array or
   * `name[ARGS]` forms, DeepSeek R1's fenced JSON or V3.1's bare JSON).
   */
  template?: string;
  /**
   * The token id of a marker that is one (special) token in the vocabulary, if it is. Such a
   * marker is written `<[id]>` (that exact token), since a special token's text is not matched by
   * a string literal; without it every marker is a literal.
   */
  tokenFor?: (text: string) => number | undefined;
}

/**
 * `ToolGrammarOptions.tokenFor` for a model: a marker's id when the vocabulary has it as one token
 * that renders as the marker (special tokens parsed, as the chat template's text is).
 */
export function markerTokens(model: Pick<Model, 'tokenize' | 'tokenPiece'>): (text: string) => number | undefined {
  return (text) => {
    const ids = model.tokenize(text, { special: true, addSpecial: false });
    return ids.length === 1 && model.tokenPiece(ids[0]!) === text ? ids[0] : undefined;
  };
}

interface Fn {
  name: string;
  parameters: Record<string, unknown>;
}

/**
 * How `%json` writes JSON: the separators of Python's json.dumps (what templates render calls
 * with), no free whitespace (a small model could loop on it), and schema keywords llguidance does
 * not support ignored rather than fatal.
 */
const JSON_STYLE = { item_separator: ', ', key_separator: ': ', whitespace_flexible: false, lenient: true };

function json(schema: Record<string, unknown>): string {
  return `%json ${JSON.stringify({ ...schema, 'x-guidance': JSON_STYLE })}`;
}

/** A Lark string literal (JSON string syntax; DEL escaped, which JSON.stringify leaves raw). */
function str(text: string): string {
  return JSON.stringify(text).replace(/\x7f/g, '\\u007f');
}

/** The functions a call may name: all tools, or the named one. Throws if it is not among them. */
function allowed(tools: ChatTool[], choice: ToolGrammarChoice): Fn[] {
  const fns: Fn[] = [];
  for (const tool of tools) {
    const fn = isObject(tool.function) ? tool.function : undefined;
    if (typeof fn?.name !== 'string') continue;
    fns.push({ name: fn.name, parameters: isObject(fn.parameters) ? fn.parameters : { type: 'object', properties: {} } });
  }
  if (choice === 'required') {
    if (fns.length === 0) throw new Error('tool_choice "required" needs at least one function tool');
    return fns;
  }
  const named = fns.filter((f) => f.name === choice.name);
  if (named.length === 0) throw new Error(`tool_choice names function '${choice.name}', which is not among the tools`);
  return named.slice(0, 1);
}

/** `{"name": NAME, <argsKey>: PARAMS}` for each function, as one schema. */
function callSchema(fns: Fn[], nameKey = 'name', argsKey = 'arguments', extra: Record<string, unknown> = {}): Record<string, unknown> {
  const one = (f: Fn) => ({
    type: 'object',
    properties: { [nameKey]: { const: f.name }, [argsKey]: f.parameters, ...extra },
    required: [nameKey, argsKey, ...Object.keys(extra)],
    additionalProperties: false,
  });
  return fns.length === 1 ? one(fns[0]!) : { anyOf: fns.map(one) };
}

function arraySchema(items: Record<string, unknown>, parallel: boolean): Record<string, unknown> {
  return { type: 'array', items, minItems: 1, ...(parallel ? {} : { maxItems: 1 }) };
}

/**
 * A Lark grammar that makes the model write a tool call (several when `parallel`) in `family`'s
 * markup: for `required` any of `tools`, for `{ name }` exactly that function. Throws an Error
 * when no allowed function exists (the caller answers 400 naming `tool_choice`).
 */
export function toolCallGrammar(
  family: ToolFamily,
  tools: ChatTool[],
  choice: ToolGrammarChoice,
  parallel: boolean,
  options: ToolGrammarOptions = {},
): string {
  const fns = allowed(tools, choice);
  const template = options.template ?? '';
  /** A marker: one token where the vocabulary has it as one, else its text. */
  const mark = (text: string) => {
    const id = options.tokenFor?.(text);
    return id === undefined ? str(text) : `<[${id}]>`;
  };
  /** `call` once, or one or more times separated by `sep`. */
  const repeat = (sep: string) => (parallel ? `start: call (${sep}call)*` : 'start: call');
  /** One alternative per function, from its name and parameters. */
  const perFn = (line: (f: Fn) => string) => `call: ${fns.map(line).join('\n    | ')}`;

  switch (family) {
    case 'hermes':
      return `${repeat('"\\n" ')}\ncall: ${mark('<tool_call>')} "\\n" ${json(callSchema(fns))} "\\n" ${mark('</tool_call>')}\n`;
    case 'llama3':
      // Llama 3.x writes one call per turn.
      return `start: ${json(callSchema(fns, 'name', 'parameters'))}\n`;
    case 'granite':
      return `start: ${mark('<|tool_call|>')} ${json(arraySchema(callSchema(fns), parallel))}\n`;
    case 'command_r':
      return `start: "Action:\\n\`\`\`json\\n" ${json(arraySchema(callSchema(fns, 'tool_name', 'parameters'), parallel))} "\\n\`\`\`"\n`;
    case 'generic':
      return `start: ${json(genericCallSchema(fns, parallel))}\n`;
    case 'mistral': {
      const open = mark('[TOOL_CALLS]');
      if (!template.includes('[ARGS]')) {
        // Nemo / Small 3.1: one JSON array with 9-alphanumeric ids (the template checks them).
        const id = { id: { type: 'string', pattern: '^[a-zA-Z0-9]{9}$' } };
        return `start: ${open} ${json(arraySchema(callSchema(fns, 'name', 'arguments', id), parallel))}\n`;
      }
      const callId = template.includes('[CALL_ID]') ? ` ${mark('[CALL_ID]')} /[a-zA-Z0-9]{9}/` : '';
      return `${repeat('')}\n${perFn((f) => `${open} ${str(f.name)}${callId} ${mark('[ARGS]')} ${json(f.parameters)}`)}\n`;
    }
    case 'deepseek': {
      const begin = mark('<｜tool▁call▁begin｜>');
      const sep = mark('<｜tool▁sep｜>');
      const end = mark('<｜tool▁call▁end｜>');
      // R1 (and its distills) fence the arguments after `function<｜tool▁sep｜>NAME`; V3.1 does not.
      const fenced = template.includes('```json');
      const body = fenced
        ? (f: Fn) => `${begin} "function" ${sep} ${str(f.name)} "\\n\`\`\`json\\n" ${json(f.parameters)} "\\n\`\`\`" ${end}`
        : (f: Fn) => `${begin} ${str(f.name)} ${sep} ${json(f.parameters)} ${end}`;
      return `start: ${mark('<｜tool▁calls▁begin｜>')} calls ${mark('<｜tool▁calls▁end｜>')}\ncalls: ${parallel ? 'call+' : 'call'}\n${perFn(body)}\n`;
    }
    case 'glm45':
      return `${repeat('"\\n" ')}\n${perFn((f) => glmCall(f, mark))}\n`;
    case 'harmony':
      // After the generation prompt `<|start|>assistant`: straight to the commentary channel.
      // One call per turn. The `<|call|>` after it is an end-of-generation token, which a
      // complete grammar allows by itself (as every end token), so it is not written here.
      return `start: call\n${perFn(
        (f) =>
          `${mark('<|channel|>')} ${str(`commentary to=functions.${f.name} `)}${mark('<|constrain|>')} "json" ${mark('<|message|>')} ${json(f.parameters)}`,
      )}\n`;
  }
}

/** GLM: `<tool_call>NAME\n` then `<arg_key>k</arg_key>\n<arg_value>v</arg_value>\n` per argument. */
function glmCall(f: Fn, mark: (text: string) => string): string {
  const props = isObject(f.parameters.properties) ? f.parameters.properties : {};
  const required = new Set(Array.isArray(f.parameters.required) ? f.parameters.required : []);
  const args = Object.entries(props).map(([key, schema]) => {
    // A string is written bare (the template prints it as is), anything else as JSON.
    const value = isObject(schema) && schema.type === 'string' ? '/[^<]*/' : json(isObject(schema) ? schema : {});
    const pair = `${mark('<arg_key>')} ${str(key)} ${mark('</arg_key>')} "\\n" ${mark('<arg_value>')} ${value} ${mark('</arg_value>')} "\\n"`;
    return required.has(key) ? pair : `(${pair})?`;
  });
  return `${mark('<tool_call>')} ${str(`${f.name}\n`)} ${args.join(' ')} ${mark('</tool_call>')}`.replace(/ {2,}/g, ' ');
}

/** llama.cpp's generic shape: `{"tool_calls": [{name, arguments}, …]}` or `{"tool_call": {…}}`. */
function genericCallSchema(fns: Fn[], parallel: boolean): Record<string, unknown> {
  const key = parallel ? 'tool_calls' : 'tool_call';
  const value = parallel ? { type: 'array', items: callSchema(fns), minItems: 1 } : callSchema(fns);
  return { type: 'object', properties: { [key]: value }, required: [key], additionalProperties: false };
}

/**
 * For the generic family with `tool_choice: "auto"`: the answer is a JSON object with either the
 * tool call(s) or `{"response": …}` (a string, or `responseSchema` for structured output).
 */
export function responseGrammar(tools: ChatTool[], parallel: boolean, responseSchema?: Record<string, unknown>): string {
  const fns = allowed(tools, 'required');
  const response = {
    type: 'object',
    properties: { response: responseSchema ?? { type: 'string' } },
    required: ['response'],
    additionalProperties: false,
  };
  return `start: ${json({ anyOf: [genericCallSchema(fns, parallel), response] })}\n`;
}
