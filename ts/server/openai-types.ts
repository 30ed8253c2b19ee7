// The served subset of OpenAI's wire types, mirroring openai-node's names (snake_case fields,
// literal `object` discriminators, `finish_reason` unions with null).

export interface ErrorObject {
  message: string;
  type: string;
  param: string | null;
  code: string | null;
}

export type FinishReason = 'stop' | 'length' | 'tool_calls';

export interface CompletionUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details?: { cached_tokens: number };
}

export interface ChatCompletionMessageToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface ChatCompletionMessage {
  role: 'assistant';
  /** null when the turn is only tool calls. */
  content: string | null;
  refusal: null;
  /** The model's reasoning (`<think>`, harmony's analysis channel), as llama-server and vLLM name it. */
  reasoning_content?: string;
  tool_calls?: ChatCompletionMessageToolCall[];
}

/** OpenAI's chat logprobs: `token` is the token's text, `bytes` its UTF-8 bytes. */
export interface ChatCompletionTokenLogprob {
  token: string;
  logprob: number;
  bytes: number[] | null;
  top_logprobs: Array<{ token: string; logprob: number; bytes: number[] | null }>;
}

export interface ChoiceLogprobs {
  content: ChatCompletionTokenLogprob[] | null;
  refusal: null;
}

/** The legacy completions endpoint's logprobs. */
export interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: number[];
  top_logprobs: Array<Record<string, number>> | null;
  text_offset: number[];
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  system_fingerprint: string;
  choices: Array<ChatCompletion.Choice>;
  usage: CompletionUsage;
}

export namespace ChatCompletion {
  export interface Choice {
    index: number;
    message: ChatCompletionMessage;
    logprobs: ChoiceLogprobs | null;
    finish_reason: FinishReason;
  }
}

export interface ChatCompletionChunk {
  id: string;
  object: 'chat.completion.chunk';
  created: number;
  model: string;
  system_fingerprint: string;
  choices: Array<ChatCompletionChunk.Choice>;
  /** Present (null until the last chunk) only with `stream_options.include_usage`. */
  usage?: CompletionUsage | null;
}

export namespace ChatCompletionChunk {
  export interface Choice {
    index: number;
    delta: {
      role?: 'assistant';
      content?: string | null;
      reasoning_content?: string;
      tool_calls?: Array<{ index: number; id?: string; type?: 'function'; function?: { name?: string; arguments?: string } }>;
    };
    logprobs: ChoiceLogprobs | null;
    finish_reason: FinishReason | null;
  }
}

export interface Completion {
  id: string;
  object: 'text_completion';
  created: number;
  model: string;
  system_fingerprint: string;
  choices: Array<Completion.Choice>;
  /** Always on the non-streaming object; on the stream only in the usage chunk. */
  usage?: CompletionUsage | null;
}

export namespace Completion {
  export interface Choice {
    index: number;
    text: string;
    logprobs: CompletionLogprobs | null;
    finish_reason: FinishReason | null;
  }
}

export interface ModelObject {
  id: string;
  object: 'model';
  created: number;
  owned_by: 'llmplayer';
}

export interface ModelList {
  object: 'list';
  data: ModelObject[];
}
