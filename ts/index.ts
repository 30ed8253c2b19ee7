export { inspect } from './inspect.js';
export type { Inspection, KvLayerKind, InspectOptions, QuantMixEntry, TensorSummary, MetadataValue, ArraySummary } from './inspect.js';
export { getBackend, setWasmModule } from './backend.js';
export type { BackendName } from './backend.js';
export { GgufError } from './errors.js';
export { loadModel } from './model.js';
export { listDevices } from './devices.js';
export { chatPromptTokens } from './chat-prompt.js';
export { LlmError } from './errors.js';
export type * from './types.js';
export { isGenerateResult } from './types.js';
export {
  renderChatTemplate,
  compileChatTemplate,
  fallbackChatTemplate,
  ChatTemplateError,
  type ChatMessage,
  type ChatTool,
  type RenderChatTemplateOptions,
} from './chat-template.js';
