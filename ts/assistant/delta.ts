// The parts of an assistant message a parser hands out, the options every parser takes, and the
// small pieces the parsers share.
import type { ChatTool } from '../chat-template.js';
import type { ToolFamily } from './family.js';
import type { ParsedToolCall } from './tool-json.js';

export interface AssistantDelta {
  content?: string;
  reasoning?: string;
  toolCalls?: ParsedToolCall[];
}

export interface AssistantParserOptions {
  family: ToolFamily;
  /** Whether the request offered tools: without, tool markup stays content. */
  tools: boolean;
  /**
   * Reasoning: `true` when the prompt left the model inside `<think>` (`promptOpensReasoning`):
   * the output is reasoning up to `</think>`. `'auto'`: a `<think>` where the output starts opens
   * it. `false`: think tags are content (harmony's analysis channel is dropped).
   */
  thinking: boolean | 'auto';
  /** The request's tools, when given: GLM's argument values are typed by their schemas. */
  toolDefs?: ChatTool[];
}

export interface AssistantParser {
  push(text: string): AssistantDelta;
  /** The held-back rest once generation ended; an unfinished block is judged as it stands. */
  flush(): AssistantDelta;
}

/** Collects one call's deltas; empty parts are left out. */
export class DeltaBuilder {
  content = '';
  reasoning = '';
  calls: ParsedToolCall[] = [];

  take(): AssistantDelta {
    const delta: AssistantDelta = {};
    if (this.content) delta.content = this.content;
    if (this.reasoning) delta.reasoning = this.reasoning;
    if (this.calls.length) delta.toolCalls = this.calls;
    this.content = '';
    this.reasoning = '';
    this.calls = [];
    return delta;
  }
}

/** The longest tail of `text` that is a proper prefix of one of `markers`. */
export function partialTail(text: string, markers: readonly string[]): number {
  let keep = 0;
  for (const m of markers) {
    for (let k = Math.min(m.length - 1, text.length); k > keep; k--) {
      if (text.endsWith(m.slice(0, k))) {
        keep = k;
        break;
      }
    }
  }
  return keep;
}
