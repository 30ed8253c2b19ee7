// Python jinja2 compatibility shims for @huggingface/jinja, so chat templates render the way
// transformers' apply_chat_template renders them (ImmutableSandboxedEnvironment, trim_blocks,
// lstrip_blocks, loopcontrols, the transformers tojson override).
//
// @huggingface/jinja differs from jinja2 where a value is turned into text: it prints `none` as
// "", `true` as "true", lists/dicts as JSON, refuses `none | trim` and `none ~ 'x'`. We fix this
// once per template, at compile time, by rewriting the parsed AST (no regex on the source):
//   * every expression printed by `{{ … }}` is wrapped in `__jinja2_str(…)` (Python `str()`),
//   * the operand of string filters (trim, upper, lower, …) is wrapped the same way, as jinja2
//     applies `soft_str` to it,
//   * `x | string` becomes `__jinja2_str(x)`, and both operands of `~` are wrapped.
// Neither the runtime value classes nor the AST classes are exported by the package, so they are
// recovered from values its public API creates (Environment.set, Template.parsed).

import { Environment, Interpreter, Template } from '@huggingface/jinja';

/** A parsed template (the package's `Program`). */
export type JinjaProgram = Template['parsed'];

/** Where a template failed: while parsing, at `raise_exception(msg)`, or elsewhere while rendering. */
export type ChatTemplateErrorKind = 'parse' | 'raised' | 'render';

export class ChatTemplateError extends Error {
  override name = 'ChatTemplateError';
  constructor(
    message: string,
    readonly kind: ChatTemplateErrorKind,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A runtime value of @huggingface/jinja (`AnyRuntimeValue`). */
interface RtValue {
  type: string;
  value: unknown;
}
type RtFunction = (args: RtValue[], scope: Environment) => RtValue;

/** An AST node (`Statement` or `Expression`); fields vary by `type`. */
interface AstNode {
  type: string;
  [field: string]: unknown;
}
type NodeCtor<A extends unknown[]> = new (...args: A) => AstNode;

const probeEnv = new Environment();
const FunctionValue = probeEnv.set('f', () => null).constructor as new (fn: RtFunction) => RtValue;
const StringValue = probeEnv.set('s', '').constructor as new (value: string) => RtValue;

const probeCall = new Template('{{ f(x) }}').parsed.body[0] as unknown as AstNode;
if (probeCall?.type !== 'CallExpression' || (probeCall.callee as AstNode)?.type !== 'Identifier') {
  throw new Error('chat-template-compat: unsupported @huggingface/jinja AST (expected a CallExpression)');
}
const CallExpression = probeCall.constructor as NodeCtor<[AstNode, AstNode[]]>;
const Identifier = (probeCall.callee as AstNode).constructor as NodeCtor<[string]>;
const ExpressionClass = Object.getPrototypeOf(CallExpression) as NodeCtor<[]>;
const StatementClass = Object.getPrototypeOf(ExpressionClass) as NodeCtor<[]>;

const STR_FN = '__jinja2_str';
/** Filters for which jinja2 calls `soft_str(value)` (or `str(value)`) on the operand first. */
const SOFT_STR_FILTERS = new Set(['trim', 'upper', 'lower', 'title', 'capitalize', 'replace']);
/** Statement-list fields per statement type: their direct expression children are printed. */
const BODY_FIELDS: Record<string, string[]> = {
  Program: ['body'],
  If: ['body', 'alternate'],
  For: ['body', 'defaultBlock'],
  Set: ['body'],
  Macro: ['body'],
  CallStatement: ['body'],
  FilterStatement: ['body'],
};

const isNode = (x: unknown): x is AstNode => x instanceof StatementClass;
const isExpression = (x: unknown): x is AstNode => x instanceof ExpressionClass;
const strCall = (arg: AstNode): AstNode => new CallExpression(new Identifier(STR_FN), [arg]);

function filterName(filter: AstNode): string | undefined {
  if (filter.type === 'Identifier') return filter.value as string;
  const callee = filter.callee as AstNode | undefined;
  return filter.type === 'CallExpression' && callee?.type === 'Identifier' ? (callee.value as string) : undefined;
}

function rewriteChild(child: unknown): unknown {
  if (isNode(child)) return rewriteNode(child);
  if (Array.isArray(child)) return child.map(rewriteChild);
  if (child instanceof Map) return new Map([...child].map(([k, v]) => [rewriteChild(k), rewriteChild(v)]));
  return child;
}

function rewriteNode(node: AstNode): AstNode {
  for (const key of Object.keys(node)) node[key] = rewriteChild(node[key]);
  for (const key of BODY_FIELDS[node.type] ?? []) {
    const body = node[key] as AstNode[] | undefined;
    // Template text is a StringLiteral in the body: it prints as itself, leave it unwrapped.
    node[key] = body?.map((s) => (isExpression(s) && s.type !== 'StringLiteral' ? strCall(s) : s));
  }
  if (node.type === 'FilterExpression') {
    const name = filterName(node.filter as AstNode);
    if (name === 'string') return strCall(node.operand as AstNode);
    if (name !== undefined && SOFT_STR_FILTERS.has(name)) node.operand = strCall(node.operand as AstNode);
  } else if (node.type === 'BinaryExpression' && (node.operator as { value?: string }).value === '~') {
    node.left = strCall(node.left as AstNode);
    node.right = strCall(node.right as AstNode);
  }
  return node;
}

/** Parses a template (trim_blocks + lstrip_blocks, one trailing newline dropped) and applies the shims. */
export function compileJinja2(source: string): JinjaProgram {
  return rewriteNode(new Template(source).parsed as unknown as AstNode) as unknown as JinjaProgram;
}

// ---- Python str() / repr() ---------------------------------------------------------------

function pyFloat(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  // Same shortest round-trip digits as Python; Python switches to exponent form outside 1e-4..1e16.
  const [mantissa = '', expText = '0'] = Math.abs(x).toExponential().split('e');
  const exp = Number(expText);
  const sign = x < 0 ? '-' : '';
  const digits = mantissa.replace('.', '');
  if (exp < -4 || exp >= 16) {
    return `${sign}${mantissa}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  const int = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
  return `${sign}${int}.${digits.slice(exp + 1) || '0'}`;
}

const NON_PRINTABLE = /[\p{C}\p{Z}]/u;

function pyStrRepr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === '\\' || ch === quote) out += '\\' + ch;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch !== ' ' && NON_PRINTABLE.test(ch)) {
      const hex = cp.toString(16);
      out += cp <= 0xff ? `\\x${hex.padStart(2, '0')}` : cp <= 0xffff ? `\\u${hex.padStart(4, '0')}` : `\\U${hex.padStart(8, '0')}`;
    } else out += ch;
  }
  return out + quote;
}

function pyRepr(v: RtValue): string {
  switch (v.type) {
    case 'StringValue':
      return pyStrRepr(v.value as string);
    case 'UndefinedValue':
      return 'Undefined';
    case 'ArrayValue':
      return `[${(v.value as RtValue[]).map(pyRepr).join(', ')}]`;
    case 'TupleValue': {
      const items = (v.value as RtValue[]).map(pyRepr);
      return items.length === 1 ? `(${items[0]},)` : `(${items.join(', ')})`;
    }
    case 'ObjectValue':
    case 'KeywordArgumentsValue':
    case 'NamespaceValue': {
      const entries = [...(v.value as Map<string, RtValue>)].map(([k, x]) => `${pyStrRepr(k)}: ${pyRepr(x)}`);
      const dict = `{${entries.join(', ')}}`;
      return v.type === 'NamespaceValue' ? `<Namespace ${dict}>` : dict;
    }
    default:
      return pyStr(v);
  }
}

/** Python `str()` of a runtime value, as jinja2 prints it (Undefined prints as ""). */
export function pyStr(v: RtValue): string {
  switch (v.type) {
    case 'StringValue':
      return v.value as string;
    case 'NullValue':
      return 'None';
    case 'UndefinedValue':
    case 'FunctionValue':
      return '';
    case 'BooleanValue':
      return v.value ? 'True' : 'False';
    case 'IntegerValue':
      return String(v.value);
    case 'FloatValue':
      return pyFloat(v.value as number);
    default:
      return pyRepr(v);
  }
}

// ---- strftime -----------------------------------------------------------------------------

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = [
  'January', 'February', 'March', 'April', 'May', 'June',
  'July', 'August', 'September', 'October', 'November', 'December',
];

/**
 * Python `datetime.strftime` in the C locale, local time (like `datetime.now()`), for the
 * directives chat templates use: %a %A %b %B %d %e %H %I %j %m %M %p %S %f %y %Y %%, and the
 * glibc no-padding forms %-d %-m %-H %-I %-M %-S %-j. Unknown directives are kept as written.
 */
export function strftime(date: Date, format: string): string {
  const pad = (n: number, width = 2): string => String(n).padStart(width, '0');
  const hour12 = date.getHours() % 12 || 12;
  const startOfYear = new Date(date.getFullYear(), 0, 1);
  const dayOfYear = Math.round((+new Date(date.getFullYear(), date.getMonth(), date.getDate()) - +startOfYear) / 864e5) + 1;
  return format.replace(/%(-?)([a-zA-Z%])/g, (token, noPad: string, d: string) => {
    const num = (n: number, width = 2): string => (noPad ? String(n) : pad(n, width));
    switch (d) {
      case 'a': return DAYS[date.getDay()]!.slice(0, 3);
      case 'A': return DAYS[date.getDay()]!;
      case 'b': return MONTHS[date.getMonth()]!.slice(0, 3);
      case 'B': return MONTHS[date.getMonth()]!;
      case 'd': return num(date.getDate());
      case 'e': return String(date.getDate()).padStart(2, ' ');
      case 'H': return num(date.getHours());
      case 'I': return num(hour12);
      case 'j': return num(dayOfYear, 3);
      case 'm': return num(date.getMonth() + 1);
      case 'M': return num(date.getMinutes());
      case 'p': return date.getHours() < 12 ? 'AM' : 'PM';
      case 'S': return num(date.getSeconds());
      case 'f': return pad(date.getMilliseconds() * 1000, 6);
      case 'y': return pad(date.getFullYear() % 100);
      case 'Y': return String(date.getFullYear());
      case '%': return noPad ? token : '%';
      default: return token;
    }
  });
}

// ---- globals and rendering -----------------------------------------------------------------

function pyRange(...args: number[]): number[] {
  if (args.length < 1 || args.length > 3 || !args.every(Number.isInteger)) {
    throw new ChatTemplateError('range expects 1 to 3 integer arguments', 'render');
  }
  const [start = 0, stop = 0, step = 1] = args.length === 1 ? [0, args[0]!] : args;
  if (step === 0) throw new ChatTemplateError('range() arg 3 must not be zero', 'render');
  const out: number[] = [];
  for (let i = start; step > 0 ? i < stop : i > stop; i += step) out.push(i);
  return out;
}

/** Declares `name` in `env`, replacing an existing declaration (a context value beats a global). */
function define(env: Environment, name: string, value: unknown): void {
  env.variables.delete(name);
  if (value instanceof FunctionValue) env.variables.set(name, value as never);
  else env.set(name, value);
}

/**
 * Renders a program from compileJinja2 with transformers' globals (raise_exception, strftime_now)
 * and jinja2's (range, namespace, true/false/none in both spellings), then `context`.
 */
export function renderJinja2(program: JinjaProgram, context: Record<string, unknown>, now: Date): string {
  const env = new Environment();
  const globals: Record<string, unknown> = {
    true: true, false: false, none: null, True: true, False: false, None: null,
    range: pyRange,
    raise_exception: (message: unknown) => {
      throw new ChatTemplateError(String(message), 'raised');
    },
    strftime_now: (format: unknown) => strftime(now, String(format)),
    [STR_FN]: new FunctionValue((args) => (args[0]?.type === 'StringValue' ? args[0] : new StringValue(args[0] ? pyStr(args[0]) : ''))),
  };
  for (const [name, value] of Object.entries(globals)) define(env, name, value);
  for (const [name, value] of Object.entries(context)) if (value !== undefined) define(env, name, value);
  return new Interpreter(env).run(program).value as string;
}
