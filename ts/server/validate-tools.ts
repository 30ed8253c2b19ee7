// Validation of chat's tool and output-format fields: `tools`, `tool_choice`,
// `parallel_tool_calls`, `response_format` and `reasoning_effort`. Every error is a 400 naming
// the parameter; schemas are size-limited here and compiled (so checked feature by feature)
// by the grammar engine once the model is known.
import type { ChatTool } from '../chat-template.js';
import { invalidRequest } from './errors.js';
import { admitsFiniteValue } from './schema-finite.js';
import { given, isObject, optBoolean, optString, typeError } from './validate.js';

type Json = Record<string, unknown>;

export const TOOL_LIMITS = {
  tools: 128,
  /** A schema's JSON text (each tool's parameters, or response_format's schema). */
  schemaChars: 64 * 1024,
} as const;

/** OpenAI's rule for function names. */
const NAME = /^[a-zA-Z0-9_-]{1,64}$/;

export type ToolChoice = 'none' | 'auto' | 'required' | { name: string };

/** What constrains the answer's text (besides forced tool calls). */
export type OutputFormat = { type: 'json_object' } | { type: 'json_schema'; name: string; schema: Json; strict: boolean };

export interface ToolFields {
  /** OpenAI's `{ type: 'function', function: { name, description?, parameters?, strict? } }`. */
  tools: ChatTool[] | undefined;
  toolChoice: ToolChoice;
  parallelToolCalls: boolean;
  responseFormat: OutputFormat | undefined;
  reasoningEffort: string | undefined;
}

function schema(v: unknown, param: string): Json {
  if (!isObject(v)) throw typeError(param, 'an object (a JSON Schema)', v);
  const size = JSON.stringify(v).length;
  if (size > TOOL_LIMITS.schemaChars) {
    throw invalidRequest(`Invalid '${param}': the schema is ${size} characters of JSON, above this server's limit of ${TOOL_LIMITS.schemaChars}.`, param, 'schema_too_large');
  }
  if (!admitsFiniteValue(v)) {
    throw invalidRequest(`Invalid '${param}': the schema admits no finite value (a required property or item refers back to itself).`, param, 'invalid_schema');
  }
  return v;
}

function tools(o: Json): ChatTool[] | undefined {
  if (!given(o, 'tools')) return undefined;
  const list = o.tools;
  if (!Array.isArray(list)) throw typeError('tools', 'an array', list);
  if (list.length === 0) return undefined;
  if (list.length > TOOL_LIMITS.tools) {
    throw invalidRequest(`Invalid 'tools': array too long. Expected at most ${TOOL_LIMITS.tools} tools, got ${list.length}.`, 'tools', 'array_above_max_length');
  }
  const names = new Set<string>();
  return list.map((t, i) => {
    const at = `tools[${i}]`;
    if (!isObject(t)) throw typeError(at, 'an object', t);
    if (t.type !== 'function') {
      throw invalidRequest(`Invalid value for '${at}.type': expected 'function', got ${JSON.stringify(t.type)?.slice(0, 40)}.`, `${at}.type`, 'invalid_value');
    }
    const fn = t.function;
    if (!isObject(fn)) throw typeError(`${at}.function`, 'an object', fn);
    const name = fn.name;
    if (typeof name !== 'string') throw typeError(`${at}.function.name`, 'a string', name);
    if (!NAME.test(name)) {
      throw invalidRequest(`Invalid '${at}.function.name': '${name.slice(0, 80)}' must be 1 to 64 letters, digits, underscores or dashes.`, `${at}.function.name`, 'invalid_value');
    }
    if (names.has(name)) throw invalidRequest(`Invalid '${at}.function.name': the name '${name}' is used by two tools.`, `${at}.function.name`, 'duplicate_tool_name');
    names.add(name);
    const out: Json = { name };
    const description = optString(fn, 'description', `${at}.function.description`);
    if (description !== undefined) out.description = description;
    out.parameters = given(fn, 'parameters') ? schema(fn.parameters, `${at}.function.parameters`) : { type: 'object', properties: {} };
    const strict = optBoolean(fn, 'strict', `${at}.function.strict`);
    if (strict !== undefined) out.strict = strict;
    return { type: 'function', function: out };
  });
}

function toolChoice(o: Json, list: ChatTool[] | undefined): ToolChoice {
  if (!given(o, 'tool_choice')) return 'auto';
  const v = o.tool_choice;
  let choice: ToolChoice;
  if (v === 'none' || v === 'auto' || v === 'required') choice = v;
  else if (isObject(v) && v.type === 'function' && isObject(v.function) && typeof v.function.name === 'string') choice = { name: v.function.name };
  else {
    throw invalidRequest(
      "Invalid 'tool_choice': expected 'none', 'auto', 'required' or { type: 'function', function: { name } }.",
      'tool_choice',
      typeof v === 'string' ? 'invalid_value' : 'invalid_type',
    );
  }
  if (choice === 'none' || choice === 'auto') return choice;
  if (!list) throw invalidRequest("Invalid 'tool_choice': it asks for a tool call, but 'tools' is empty.", 'tool_choice', 'invalid_value');
  if (typeof choice === 'object' && !list.some((t) => (t.function as Json).name === choice.name)) {
    throw invalidRequest(`Invalid 'tool_choice': no tool is named '${choice.name.slice(0, 80)}'.`, 'tool_choice', 'invalid_value');
  }
  return choice;
}

function responseFormat(o: Json): OutputFormat | undefined {
  if (!given(o, 'response_format')) return undefined;
  const rf = o.response_format;
  if (!isObject(rf)) throw typeError('response_format', 'an object', rf);
  if (rf.type === 'text') return undefined;
  if (rf.type === 'json_object') return { type: 'json_object' };
  if (rf.type === 'json_schema') {
    const js = rf.json_schema;
    if (!isObject(js)) {
      throw js === undefined
        ? invalidRequest("Missing required parameter: 'response_format.json_schema'.", 'response_format.json_schema', 'missing_required_parameter')
        : typeError('response_format.json_schema', 'an object', js);
    }
    const name = optString(js, 'name', 'response_format.json_schema.name');
    if (name === undefined) invalidRequestMissing('response_format.json_schema.name');
    if (!NAME.test(name!)) {
      throw invalidRequest("Invalid 'response_format.json_schema.name': 1 to 64 letters, digits, underscores or dashes.", 'response_format.json_schema.name', 'invalid_value');
    }
    optString(js, 'description', 'response_format.json_schema.description');
    const s = given(js, 'schema') ? schema(js.schema, 'response_format.json_schema.schema') : {};
    return { type: 'json_schema', name: name!, schema: s, strict: optBoolean(js, 'strict', 'response_format.json_schema.strict') ?? false };
  }
  throw invalidRequest(
    `Invalid value for 'response_format.type': ${JSON.stringify(rf.type)?.slice(0, 40)}. Supported values are: 'text', 'json_object' and 'json_schema'.`,
    'response_format.type',
    'invalid_value',
  );
}

function invalidRequestMissing(param: string): never {
  throw invalidRequest(`Missing required parameter: '${param}'.`, param, 'missing_required_parameter');
}

const EFFORTS = new Set(['none', 'minimal', 'low', 'medium', 'high']);

export function validateToolFields(o: Json): ToolFields {
  const list = tools(o);
  const choice = toolChoice(o, list);
  const effort = optString(o, 'reasoning_effort');
  if (effort !== undefined && !EFFORTS.has(effort)) {
    throw invalidRequest(`Invalid value for 'reasoning_effort': '${effort.slice(0, 40)}'. Supported values are: ${[...EFFORTS].map((e) => `'${e}'`).join(', ')}.`, 'reasoning_effort', 'invalid_value');
  }
  return {
    tools: list,
    toolChoice: choice,
    parallelToolCalls: optBoolean(o, 'parallel_tool_calls') ?? true,
    responseFormat: responseFormat(o),
    reasoningEffort: effort,
  };
}
