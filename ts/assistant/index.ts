// Assistant output for OpenAI chat: which tool-call dialect a model writes, the streaming parser
// that turns its text into content / reasoning / tool calls, the grammars that force a tool call,
// and the template inputs for tools.
export { toolFamily, promptOpensReasoning, TOOL_FAMILIES, type ToolFamily, type VocabHints } from './family.js';
export { assistantParser, type AssistantDelta, type AssistantParser, type AssistantParserOptions } from './parser.js';
export type { ParsedToolCall } from './tool-json.js';
export { toolCallGrammar, responseGrammar, markerTokens, type ToolGrammarChoice, type ToolGrammarOptions } from './grammar.js';
export { toolsForTemplate, genericToolSystemPrompt, genericMessages } from './template-inputs.js';
