// A chat request's prompt, session options and view: the chat template (with tools, or the
// generic tool protocol for templates without tool support), the grammar that enforces
// `response_format` and forced tool calls, and the parser that splits the answer into
// reasoning, content and tool calls. Shared by /v1/chat/completions, /v1/responses and
// /v1/messages.
import { assistantParser, genericMessages, markerTokens, promptOpensReasoning, responseGrammar, toolCallGrammar, toolFamily, toolsForTemplate, type ToolFamily } from '../assistant/index.js';
import { chatPromptTokens } from '../chat-prompt.js';
import type { ChatTool } from '../chat-template.js';
import { isHarmonyModel } from '../harmony.js';
import { LlmError } from '../errors.js';
import type { GenerateOptions, Grammar, Model } from '../types.js';
import { invalidRequest } from './errors.js';
import { planGeneration, type AssistantView } from './generate.js';
import type { ModelHandle } from './registry.js';
import type { ChatRequest } from './validate.js';
import type { OutputFormat } from './validate-tools.js';

export interface PreparedChat {
  prompt: number[];
  options: GenerateOptions;
  view: (() => AssistantView) | undefined;
  /** Which request field the grammar came from (errors compiling it name it). */
  grammarParam?: 'response_format' | 'tools';
}

/** The model's tool-call dialect: harmony by vocabulary, else from its own template. */
export function modelToolFamily(model: Model): ToolFamily {
  if (isHarmonyModel(model)) return 'harmony';
  const hasToken = (text: string) => markerTokens(model)(text) !== undefined;
  return toolFamily(model.chatTemplate.fallback ? undefined : model.chatTemplate.source, { hasToken });
}

/**
 * Tool-call and reasoning markers that some vocabularies make control tokens (hidden from the
 * text by default); the parser must see them. Others are plain or user-defined tokens already.
 */
const MARKERS = [
  '[TOOL_CALLS]', '[ARGS]', '[CALL_ID]', '<|tool_call|>', '<|python_tag|>', '<tool_call>', '</tool_call>',
  '<｜tool▁calls▁begin｜>', '<｜tool▁calls▁end｜>', '<｜tool▁call▁begin｜>', '<｜tool▁call▁end｜>', '<｜tool▁sep｜>',
  '<think>', '</think>', '<arg_key>', '</arg_key>', '<arg_value>', '</arg_value>',
];

/** The ids of `MARKERS` that are one token in this vocabulary (cached per model). */
const markerIds = new WeakMap<Model, number[]>();
function preservedMarkers(model: Model): number[] {
  let ids = markerIds.get(model);
  if (!ids) {
    const tokenFor = markerTokens(model);
    ids = MARKERS.map(tokenFor).filter((id): id is number => id !== undefined);
    markerIds.set(model, ids);
  }
  return ids;
}

/** Compiles the grammar now, so a bad one is a 400 before any response (streamed or not) starts. */
function checkGrammar(model: Model, grammar: Grammar, param: string): void {
  try {
    model.checkGrammar?.(grammar);
  } catch (err) {
    if (err instanceof LlmError && (err.code === 'GRAMMAR_INVALID' || err.code === 'GRAMMAR_UNSUPPORTED')) {
      throw invalidRequest(`Invalid '${param}': ${err.message}`, param, err.code.toLowerCase());
    }
    throw err;
  }
}

function formatGrammar(format: OutputFormat): Grammar {
  // Always strict for the engine: a keyword it cannot enforce is a 400 naming it, never
  // silently ignored (OpenAI's `strict: false` would let the model stray from the schema anyway).
  return format.type === 'json_object' ? { type: 'json_object' } : { type: 'json_schema', schema: format.schema, strict: true };
}

/**
 * `param` names the request's messages in errors ('input' for Responses, 'messages' otherwise).
 */
export function prepareChat(handle: ModelHandle, req: ChatRequest, param = 'messages'): PreparedChat {
  const model = handle.model;
  const family = modelToolFamily(model);
  const tools: ChatTool[] | undefined = req.tools && req.toolChoice !== 'none' ? (toolsForTemplate(req.tools) ?? undefined) : undefined;
  const generic = family === 'generic' && !!tools;
  // A template without tool support gets llama.cpp's generic protocol: the tools described in
  // the system message, past calls and results as JSON text.
  const messages = generic ? genericMessages(req.messages, tools) : req.messages;
  const extra = { ...req.templateKwargs, ...(req.reasoningEffort ? { reasoning_effort: req.reasoningEffort } : {}) };
  const prompt = chatPromptTokens(model, messages, { addGenerationPrompt: true, tools: generic ? null : (tools ?? null), extra });
  const options = planGeneration(handle, req, prompt, param);
  const preserve = tools ? preservedMarkers(model) : [];
  if (preserve.length) options.preserveTokens = preserve;
  let grammarParam: PreparedChat['grammarParam'];
  const choice = req.toolChoice;
  const template = model.chatTemplate.source;
  if (tools && (choice === 'required' || typeof choice === 'object')) {
    options.grammar = { type: 'lark', grammar: toolCallGrammar(family, tools, choice, req.parallelToolCalls, { template, tokenFor: markerTokens(model) }) };
    grammarParam = 'tools';
  } else if (generic) {
    // The generic protocol's answer is always JSON: a response (shaped by response_format's
    // schema when given) or tool calls.
    const schema = req.responseFormat?.type === 'json_schema' ? req.responseFormat.schema : undefined;
    options.grammar = { type: 'lark', grammar: responseGrammar(tools, req.parallelToolCalls, schema) };
    grammarParam = req.responseFormat ? 'response_format' : 'tools';
  } else if (req.responseFormat) {
    options.grammar = formatGrammar(req.responseFormat);
    grammarParam = 'response_format';
  }
  if (options.grammar) checkGrammar(model, options.grammar, grammarParam!);
  // The generation prompt may leave the model inside <think> (R1 distills, QwQ).
  const tail = model.detokenize(prompt.slice(-8), { special: true });
  const thinking = promptOpensReasoning(tail) ? true : 'auto';
  const view = (): AssistantView => assistantParser({ family, tools: !!tools, thinking, toolDefs: tools });
  return { prompt, options, view, grammarParam };
}
