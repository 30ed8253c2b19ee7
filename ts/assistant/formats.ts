// How each family marks a tool call in generated text (all but harmony, see harmony-parser.ts):
// the markers that open a block, and a scanner that decides where the block ends and what calls
// it holds. Formats follow the families' chat templates (which render past calls the same way)
// and llama.cpp's parsers (common/chat*.cpp); the goldens under test/fixtures/tool-calls/ hold
// the outputs they were checked against.
import type { ChatTool } from '../chat-template.js';
import type { ToolFamily } from './family.js';
import { argumentsText, callFromObject, isObject, jsonExtent, parseJson, randomAlnum, type RawToolCall } from './tool-json.js';

/**
 * A block's outcome: it spans `end` characters after its opener; `calls` are its tool calls, or
 * null when it is malformed (then its text, opener included, is content). `content` replaces the
 * block's text as content (the generic format's `response`).
 */
export interface ScanResult {
  end: number;
  calls: RawToolCall[] | null;
  content?: string;
}

export interface BlockFormat {
  opener: string;
  /** Only where the content starts (after whitespace): Llama's and the generic format's bare JSON. */
  anchored?: boolean;
  /** The opener is part of the block's text (a `{` that starts the JSON). */
  keepOpener?: boolean;
  /** `rest`: the text after the opener so far; `final`: no more comes. null: not decided yet. */
  scan(rest: string, final: boolean): ScanResult | null;
  /**
   * The content an unfinished block already holds, so it can stream (the generic format's
   * `response` string as it is written); the block's final `content` starts with it.
   */
  partial?(rest: string): string | null;
}

export interface FamilyFormat {
  blocks: BlockFormat[];
  /** Markers around blocks that carry nothing (DeepSeek's calls section): dropped. */
  drop: string[];
  /** A new call id; Mistral's template takes back only 9 alphanumerics. */
  newId?: () => string;
}

/** A block that ends at a closing tag; `parse` reads its body. */
function tagged(opener: string, close: string, parse: (body: string) => RawToolCall[] | null): BlockFormat {
  return {
    opener,
    scan(rest, final) {
      const at = rest.indexOf(close);
      if (at !== -1) return { end: at + close.length, calls: parse(rest.slice(0, at)) };
      // Cut short (max_tokens, a stop string): a complete body still counts.
      return final ? { end: rest.length, calls: parse(rest) } : null;
    },
  };
}

/** A block that is one JSON value after its opener; `parse` reads the value. */
function jsonBlock(opener: string, parse: (value: unknown) => RawToolCall[] | null, extra: Partial<BlockFormat> = {}): BlockFormat {
  return {
    opener,
    ...extra,
    scan(rest, final) {
      const text = extra.keepOpener ? opener + rest : rest;
      const shift = extra.keepOpener ? opener.length : 0;
      const end = jsonExtent(text);
      if (end === -2) return { end: 0, calls: null };
      if (end === -1) return final ? { end: rest.length, calls: null } : null;
      return { end: end - shift, calls: parse(parseJson(text.slice(0, end))) };
    },
  };
}

function one(call: RawToolCall | null): RawToolCall[] | null {
  return call === null ? null : [call];
}

/** Every element a call, or null. */
function all(value: unknown, read: (item: unknown) => RawToolCall | null): RawToolCall[] | null {
  if (!Array.isArray(value) || value.length === 0) return null;
  const calls = value.map(read);
  return calls.every((c) => c !== null) ? (calls as RawToolCall[]) : null;
}

// Hermes / Qwen: <tool_call>\n{"name": "f", "arguments": {…}}\n</tool_call>
const hermes: FamilyFormat = {
  blocks: [tagged('<tool_call>', '</tool_call>', (body) => one(callFromObject(parseJson(body.trim()))))],
  drop: [],
};

// Llama 3.x: the whole answer is {"name": "f", "parameters": {…}}, or that after <|python_tag|>.
const llama3: FamilyFormat = {
  blocks: [
    jsonBlock('{', (v) => one(callFromObject(v, ['parameters', 'arguments'])), { anchored: true, keepOpener: true }),
    jsonBlock('<|python_tag|>', (v) => one(callFromObject(v, ['parameters', 'arguments']))),
  ],
  drop: [],
};

// Mistral: [TOOL_CALLS][{"name": "f", "arguments": {…}, "id": "abcdefghi"}] (Nemo, Small 3.1), or
// [TOOL_CALLS]f[CALL_ID]abcdefghi[ARGS]{…} (Small 3.2) and [TOOL_CALLS]f[ARGS]{…} (Devstral,
// Magistral), one marker per call.
const ARGS = '[ARGS]';
const CALL_ID = '[CALL_ID]';
const mistral: FamilyFormat = {
  blocks: [
    {
      opener: '[TOOL_CALLS]',
      scan(rest, final) {
        const start = rest.length - rest.trimStart().length;
        if (start === rest.length) return final ? { end: rest.length, calls: null } : null;
        if (rest[start] === '[') {
          const end = jsonExtent(rest, start);
          if (end === -1) return final ? { end: rest.length, calls: null } : null;
          return { end, calls: all(parseJson(rest.slice(start, end)), (c) => callFromObject(c)) };
        }
        const at = rest.indexOf(ARGS);
        if (at === -1) {
          // So far a name, maybe `[CALL_ID]id`, maybe the start of a marker; anything else is not a call.
          const sofar = /^[\w.-]*(\[CALL_ID\][\w]*)?(\[[A-Z_]*)?$/.test(rest.slice(start));
          return final || !sofar || rest.length > 256 ? { end: rest.length, calls: null } : null;
        }
        const head = rest.slice(start, at);
        const [name, id] = head.includes(CALL_ID) ? head.split(CALL_ID, 2) : [head, undefined];
        const end = jsonExtent(rest, at + ARGS.length);
        if (end === -2) return { end: at + ARGS.length, calls: null };
        if (end === -1) return final ? { end: rest.length, calls: null } : null;
        const args = argumentsText(parseJson(rest.slice(at + ARGS.length, end)));
        if (!name || !/^[\w.-]+$/.test(name) || args === null) return { end, calls: null };
        return { end, calls: [id ? { name, arguments: args, id } : { name, arguments: args }] };
      },
    },
  ],
  drop: [],
  newId: () => randomAlnum(9),
};

// DeepSeek V3 / R1: <｜tool▁call▁begin｜>function<｜tool▁sep｜>f\n```json\n{…}\n```<｜tool▁call▁end｜>;
// V3.1: <｜tool▁call▁begin｜>f<｜tool▁sep｜>{…}<｜tool▁call▁end｜>; both inside
// <｜tool▁calls▁begin｜>…<｜tool▁calls▁end｜>.
const SEP = '<｜tool▁sep｜>';
function deepseekCall(body: string): RawToolCall[] | null {
  const at = body.indexOf(SEP);
  if (at === -1) return null;
  const before = body.slice(0, at).trim();
  const after = body.slice(at + SEP.length);
  const fenced = /^([^\n]+)\n```(?:json)?\s*([\s\S]*?)\s*```\s*$/.exec(after);
  if (before === 'function' && fenced) {
    const args = argumentsText(parseJson(fenced[2]!));
    return args === null ? null : [{ name: fenced[1]!.trim(), arguments: args }];
  }
  const args = argumentsText(parseJson(after.trim()));
  return before === '' || args === null ? null : [{ name: before, arguments: args }];
}
const deepseek: FamilyFormat = {
  blocks: [tagged('<｜tool▁call▁begin｜>', '<｜tool▁call▁end｜>', deepseekCall)],
  drop: ['<｜tool▁calls▁begin｜>', '<｜tool▁calls▁end｜>'],
};

// GLM-4.5 / 4.6: <tool_call>f\n<arg_key>k</arg_key>\n<arg_value>v</arg_value>\n…</tool_call>.
// Values are raw text: a string parameter's value is written bare, others as JSON.
function glmCall(body: string, tools: ChatTool[] | undefined): RawToolCall[] | null {
  const first = body.indexOf('<arg_key>');
  const name = (first === -1 ? body : body.slice(0, first)).trim();
  if (!name || /\s|</.test(name)) return null;
  const props = parameterTypes(tools, name);
  const args: Record<string, unknown> = {};
  const pair = /\s*<arg_key>([\s\S]*?)<\/arg_key>\s*<arg_value>([\s\S]*?)<\/arg_value>/y;
  let pos = first === -1 ? body.length : first;
  for (let m; (pair.lastIndex = pos), (m = pair.exec(body)); pos = pair.lastIndex) {
    const key = m[1]!.trim();
    const raw = m[2]!;
    if (props.get(key) === 'string') args[key] = raw;
    else {
      const parsed = parseJson(raw.trim());
      args[key] = parsed === undefined ? raw : parsed;
    }
  }
  if (body.slice(pos).trim() !== '') return null;
  return [{ name, arguments: JSON.stringify(args) }];
}

/** The JSON-schema `type` of each parameter of tool `name` (when it is a single string). */
function parameterTypes(tools: ChatTool[] | undefined, name: string): Map<string, string> {
  const types = new Map<string, string>();
  for (const tool of tools ?? []) {
    const fn = isObject(tool.function) ? tool.function : undefined;
    if (fn?.name !== name || !isObject(fn.parameters) || !isObject(fn.parameters.properties)) continue;
    for (const [key, schema] of Object.entries(fn.parameters.properties)) {
      if (isObject(schema) && typeof schema.type === 'string') types.set(key, schema.type);
    }
  }
  return types;
}

// Command-R+: Action: ```json\n[{"tool_name": "f", "parameters": {…}}]\n```
const FENCE = /^\s*```(?:json)?\s*/;
const commandR: FamilyFormat = {
  blocks: [
    {
      opener: 'Action:',
      scan(rest, final) {
        // Possibly still the fence's start: wait. No fence: not a call (only "Action:" is content).
        if (!final && /^\s*(`{0,3}|```(j(s(o(n)?)?)?)?\s*)$/.test(rest)) return null;
        const open = FENCE.exec(rest);
        if (!open) return { end: 0, calls: null };
        const end = jsonExtent(rest, open[0].length);
        if (end === -2) return { end: 0, calls: null };
        if (end === -1) return final ? { end: rest.length, calls: null } : null;
        const close = /^\s*```/.exec(rest.slice(end));
        if (!close && !final && /^\s*`{0,2}$/.test(rest.slice(end))) return null;
        const calls = all(parseJson(rest.slice(open[0].length, end)), (c) => callFromObject(isObject(c) ? { ...c, name: c.tool_name } : c, ['parameters']));
        return { end: end + (close ? close[0].length : 0), calls };
      },
    },
  ],
  drop: [],
};

// Granite 3.x: <|tool_call|>[{"name": "f", "arguments": {…}}]
const granite: FamilyFormat = {
  blocks: [jsonBlock('<|tool_call|>', (v) => all(v, (c) => callFromObject(c)))],
  drop: [],
};

// Generic (templates without tools, llama.cpp's fallback): the whole answer is one JSON object,
// {"tool_calls": [{"name", "arguments", "id"?}]}, {"tool_call": {…}} or {"response": "…"}.
const generic: FamilyFormat = {
  blocks: [
    {
      opener: '{',
      anchored: true,
      keepOpener: true,
      scan(rest, final) {
        const text = '{' + rest;
        const end = jsonExtent(text);
        if (end === -1) return final ? { end: rest.length, calls: null } : null;
        const value = parseJson(text.slice(0, end));
        const result = { end: end - 1, calls: null };
        if (!isObject(value)) return result;
        if ('tool_calls' in value) return { ...result, calls: all(value.tool_calls, (c) => callFromObject(c)) };
        if ('tool_call' in value) return { ...result, calls: one(callFromObject(value.tool_call)) };
        if ('response' in value) {
          const r = value.response;
          return { ...result, calls: [], content: typeof r === 'string' ? r : JSON.stringify(r, null, 2) };
        }
        return result;
      },
      partial: (rest) => {
        const open = /^\s*"response"\s*:\s*"/.exec(rest);
        return open ? jsonStringPrefix(rest.slice(open[0].length)) : null;
      },
    },
  ],
  drop: [],
};

/**
 * The decoded text of a JSON string body written so far (after its opening quote): up to its
 * closing quote, short of an unfinished escape or a high surrogate whose pair is still to come.
 */
export function jsonStringPrefix(body: string): string {
  let end = 0;
  while (end < body.length && body[end] !== '"') {
    if (body[end] !== '\\') end++;
    else if (body[end + 1] === 'u') {
      if (!/^[0-9a-fA-F]{4}$/.test(body.slice(end + 2, end + 6))) break;
      end += 6;
    } else if (end + 1 < body.length) end += 2;
    else break;
  }
  const text = parseJson(`"${body.slice(0, end)}"`);
  if (typeof text !== 'string') return '';
  const last = text.charCodeAt(text.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? text.slice(0, -1) : text;
}


/** The tool-call format of `family` (harmony has its own parser); `tools` types GLM's values. */
export function familyFormat(family: Exclude<ToolFamily, 'harmony'>, tools?: ChatTool[]): FamilyFormat {
  switch (family) {
    case 'hermes':
      return hermes;
    case 'llama3':
      return llama3;
    case 'mistral':
      return mistral;
    case 'deepseek':
      return deepseek;
    case 'glm45':
      return { blocks: [tagged('<tool_call>', '</tool_call>', (body) => glmCall(body, tools))], drop: [] };
    case 'command_r':
      return commandR;
    case 'granite':
      return granite;
    case 'generic':
      return generic;
  }
}
