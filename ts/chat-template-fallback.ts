// Chat templates for models whose GGUF has no `tokenizer.chat_template`, chosen by architecture
// (`general.architecture`) and, where an architecture had several formats, by a vocab token.
// They follow the HF conventions (messages, bos_token, eos_token, add_generation_prompt) and are
// rendered by the same engine as model templates. Tools and reasoning are not rendered.

export type FallbackTemplateName = 'chatml' | 'llama3' | 'llama2' | 'gemma' | 'phi3' | 'deepseek';

/** The vocab lookup the choice needs (a Set of token strings works). */
export interface TokenLookup {
  has(token: string): boolean;
}

/** Message text, or '' where content is null, absent or not a string. */
const TEXT = "(message['content'] if message['content'] is string else '')";

const TEMPLATES: Record<FallbackTemplateName, string> = {
  chatml:
    "{%- for message in messages %}{{ '<|im_start|>' ~ message['role'] ~ '\\n' ~ " + TEXT + " ~ '<|im_end|>\\n' }}" +
    "{%- endfor %}{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{%- endif %}",
  llama3:
    '{{- bos_token }}{%- for message in messages %}' +
    "{{ '<|start_header_id|>' ~ message['role'] ~ '<|end_header_id|>\\n\\n' ~ (" + TEXT + " | trim) ~ '<|eot_id|>' }}" +
    "{%- endfor %}{%- if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}",
  // Mistral-instruct style: the system prompt is folded into the next user turn.
  llama2:
    "{{- bos_token }}{%- set ns = namespace(system='') %}{%- for message in messages %}" +
    "{%- if message['role'] == 'system' %}{%- set ns.system = ns.system ~ " + TEXT + " ~ '\\n\\n' %}" +
    "{%- elif message['role'] == 'assistant' %}{{ " + TEXT + " ~ eos_token }}" +
    "{%- else %}{{ '[INST] ' ~ ns.system ~ " + TEXT + " ~ ' [/INST]' }}{%- set ns.system = '' %}{%- endif %}{%- endfor %}",
  gemma:
    "{{- bos_token }}{%- set ns = namespace(system='') %}{%- for message in messages %}" +
    "{%- if message['role'] == 'system' %}{%- set ns.system = ns.system ~ " + TEXT + " ~ '\\n\\n' %}" +
    "{%- else %}{%- set role = 'model' if message['role'] == 'assistant' else 'user' %}" +
    "{{ '<start_of_turn>' ~ role ~ '\\n' ~ ns.system ~ (" + TEXT + " | trim) ~ '<end_of_turn>\\n' }}{%- set ns.system = '' %}" +
    "{%- endif %}{%- endfor %}{%- if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{%- endif %}",
  phi3:
    "{%- for message in messages %}{{ '<|' ~ message['role'] ~ '|>\\n' ~ " + TEXT + " ~ '<|end|>\\n' }}{%- endfor %}" +
    "{%- if add_generation_prompt %}{{ '<|assistant|>\\n' }}{%- else %}{{ eos_token }}{%- endif %}",
  deepseek:
    "{{- bos_token }}{%- for message in messages if message['role'] == 'system' %}{{ " + TEXT + " ~ '\\n\\n' }}{%- endfor %}" +
    "{%- for message in messages %}{%- if message['role'] == 'user' %}{{ '<｜User｜>' ~ " + TEXT + " }}" +
    "{%- elif message['role'] == 'assistant' %}{{ '<｜Assistant｜>' ~ " + TEXT + " ~ '<｜end▁of▁sentence｜>' }}{%- endif %}" +
    "{%- endfor %}{%- if add_generation_prompt %}{{ '<｜Assistant｜>' }}{%- endif %}",
};

/**
 * First matching row wins. `arch` rows match `general.architecture` exactly; `token` rows need
 * that token in the vocab (never assumed when no vocab is given). Rows without `arch` sniff the
 * vocab of unlisted architectures; the last row is the generic default.
 */
const FALLBACKS: Array<{ name: FallbackTemplateName; arch?: string[]; token?: string }> = [
  { name: 'chatml', arch: ['qwen2', 'qwen2moe', 'qwen2vl', 'qwen3', 'qwen3moe'] },
  { name: 'llama3', arch: ['llama'], token: '<|start_header_id|>' },
  { name: 'llama2', arch: ['llama', 'mistral'] },
  { name: 'gemma', arch: ['gemma', 'gemma2', 'gemma3', 'gemma3n'] },
  { name: 'phi3', arch: ['phi3'] },
  { name: 'deepseek', arch: ['deepseek2'], token: '<｜User｜>' },
  { name: 'llama3', token: '<|start_header_id|>' },
  { name: 'gemma', token: '<start_of_turn>' },
  { name: 'chatml' },
];

/** The chat template to use when a model has none. */
export function fallbackChatTemplate(arch: string, tokens?: TokenLookup): { template: string; name: FallbackTemplateName } {
  const row = FALLBACKS.find(
    (r) => (r.arch === undefined || r.arch.includes(arch)) && (r.token === undefined || tokens?.has(r.token) === true),
  )!;
  return { template: TEMPLATES[row.name], name: row.name };
}
