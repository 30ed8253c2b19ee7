// What the chat page keeps in the browser's localStorage: conversations, settings, the API key.
// Every read tolerates missing or hand-edited values (the page must load whatever is stored).

export interface ReplyStats {
  model: string;
  tokens: number;
  /** Tokens per second from the first token to the end; null when under two tokens arrived. */
  tokensPerSecond: number | null;
  stopped: boolean;
}

export interface Message {
  role: 'user' | 'assistant';
  content: string;
  reasoning?: string;
  stats?: ReplyStats;
  error?: string;
}

export interface Conversation {
  id: string;
  title: string;
  /** Set by the user (rename); otherwise the title follows the first user message. */
  renamed?: boolean;
  model: string;
  messages: Message[];
  updated: number;
}

export interface Settings {
  system: string;
  temperature: number;
  topP: number;
  maxTokens: number;
}

export const DEFAULT_SETTINGS: Settings = { system: '', temperature: 0.7, topP: 0.95, maxTokens: 512 };

const KEYS = { conversations: 'llmplayer.conversations', settings: 'llmplayer.settings', apiKey: 'llmplayer.apiKey', current: 'llmplayer.current' };

function read(key: string): unknown {
  try {
    const raw = localStorage.getItem(key);
    return raw === null ? undefined : JSON.parse(raw);
  } catch {
    return undefined;
  }
}

function write(key: string, value: unknown): void {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // Storage full or disabled (private mode): the page keeps working for this visit.
  }
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function toMessage(v: unknown): Message | null {
  if (!isObj(v) || (v.role !== 'user' && v.role !== 'assistant') || typeof v.content !== 'string') return null;
  const m: Message = { role: v.role, content: v.content };
  if (typeof v.reasoning === 'string') m.reasoning = v.reasoning;
  if (typeof v.error === 'string') m.error = v.error;
  const s = v.stats;
  if (isObj(s) && typeof s.model === 'string' && typeof s.tokens === 'number') {
    m.stats = { model: s.model, tokens: s.tokens, tokensPerSecond: typeof s.tokensPerSecond === 'number' ? s.tokensPerSecond : null, stopped: s.stopped === true };
  }
  return m;
}

export function loadConversations(): Conversation[] {
  const list = read(KEYS.conversations);
  if (!Array.isArray(list)) return [];
  const out: Conversation[] = [];
  for (const c of list) {
    if (!isObj(c) || typeof c.id !== 'string' || !Array.isArray(c.messages)) continue;
    out.push({
      id: c.id,
      title: typeof c.title === 'string' ? c.title : 'New chat',
      renamed: c.renamed === true,
      model: typeof c.model === 'string' ? c.model : '',
      messages: c.messages.map(toMessage).filter((m): m is Message => m !== null),
      updated: typeof c.updated === 'number' ? c.updated : 0,
    });
  }
  return out;
}

export const saveConversations = (list: Conversation[]): void => write(KEYS.conversations, list);

export function loadSettings(): Settings {
  const s = read(KEYS.settings);
  if (!isObj(s)) return { ...DEFAULT_SETTINGS };
  const num = (v: unknown, d: number) => (typeof v === 'number' && Number.isFinite(v) ? v : d);
  return {
    system: typeof s.system === 'string' ? s.system : DEFAULT_SETTINGS.system,
    temperature: num(s.temperature, DEFAULT_SETTINGS.temperature),
    topP: num(s.topP, DEFAULT_SETTINGS.topP),
    maxTokens: num(s.maxTokens, DEFAULT_SETTINGS.maxTokens),
  };
}

export const saveSettings = (s: Settings): void => write(KEYS.settings, s);

export function loadApiKey(): string {
  const k = read(KEYS.apiKey);
  return typeof k === 'string' ? k : '';
}

export const saveApiKey = (key: string): void => write(KEYS.apiKey, key);

export function loadCurrentId(): string {
  const id = read(KEYS.current);
  return typeof id === 'string' ? id : '';
}

export const saveCurrentId = (id: string): void => write(KEYS.current, id);

export function newConversation(model: string): Conversation {
  const id = typeof crypto.randomUUID === 'function' ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`;
  return { id, title: 'New chat', model, messages: [], updated: Date.now() };
}

/** The default title: the first user message's first line, shortened. */
export function titleFrom(text: string): string {
  const line = text.trim().split('\n')[0] ?? '';
  return line.length > 40 ? `${line.slice(0, 40)}…` : line || 'New chat';
}
