// Which tool-call dialect a model writes, told from its chat template the way llama.cpp's
// common/chat.cpp picks a handler: by strings only that family's template contains. The template
// is what taught the model the format (it renders past tool calls in it), so it is the best
// evidence short of the weights; a model whose template has no tool support at all gets the
// `generic` JSON protocol, where tools are described in an injected system message.

/** A tool-call dialect; see `toolFamily`. */
export type ToolFamily =
  | 'hermes'
  | 'llama3'
  | 'mistral'
  | 'deepseek'
  | 'glm45'
  | 'command_r'
  | 'granite'
  | 'harmony'
  | 'generic';

export const TOOL_FAMILIES: readonly ToolFamily[] = [
  'hermes',
  'llama3',
  'mistral',
  'deepseek',
  'glm45',
  'command_r',
  'granite',
  'harmony',
  'generic',
];

/** What the vocabulary says, for models without a template (or a fallback one). */
export interface VocabHints {
  /** Whether the vocabulary has this text as one token (e.g. `<|channel|>`). */
  hasToken?: (text: string) => boolean;
}

/**
 * The tool-call family of a chat template. Checks run from the most specific marker to the most
 * common one, as several families share tags: GLM writes `<tool_call>` too (but with
 * `<arg_key>`), Granite 4 and SmolLM3 use Hermes' `<tool_call>`, Granite 3 its own `<|tool_call|>`.
 */
export function toolFamily(templateSource: string | undefined, hints: VocabHints = {}): ToolFamily {
  const src = templateSource ?? '';
  const has = (s: string) => src.includes(s);
  if (has('<|channel|>')) return 'harmony';
  if (has('<arg_key>') && has('<arg_value>')) return 'glm45';
  if (has('<｜tool▁calls▁begin｜>') || has('<｜tool▁call▁begin｜>')) return 'deepseek';
  if (has('[TOOL_CALLS]')) return 'mistral';
  if (has('<|tool_call|>')) return 'granite';
  if (has('<|START_OF_TURN_TOKEN|>') && (has('Action:') || has('directly-answer'))) return 'command_r';
  if (has('<tool_call>') || has('xml_tools')) return 'hermes';
  // Llama 3.1+ describes the `{"name": …, "parameters": …}` answer; the header tokens alone (3.0)
  // do not make a tool-calling model.
  if (has('<|start_header_id|>') && (has('"parameters"') || has('<|python_tag|>') || has('ipython'))) return 'llama3';
  if (!templateSource && hints.hasToken) {
    // No template: the vocabulary's dedicated tokens are the only evidence left.
    if (['<|channel|>', '<|message|>', '<|start|>', '<|end|>'].every((t) => hints.hasToken!(t))) return 'harmony';
    if (hints.hasToken('[TOOL_CALLS]')) return 'mistral';
    if (hints.hasToken('<｜tool▁calls▁begin｜>')) return 'deepseek';
    if (hints.hasToken('<tool_call>')) return 'hermes';
  }
  return 'generic';
}

/**
 * Whether a rendered prompt leaves the model inside a reasoning block: it ends with an opening
 * `<think>` (DeepSeek-R1 distills, QwQ, DeepSeek V3.1 in thinking mode), so the output starts with
 * reasoning and only its closing `</think>` appears. A prompt ending `<think>\n</think>` (thinking
 * turned off) does not.
 */
export function promptOpensReasoning(prompt: string): boolean {
  return /<think>\s*$/.test(prompt);
}
