// The chat page served at `/`: state, the calls to the server and the page layout. Built by
// scripts/build-ui.mjs into one inline script (hono/jsx/dom: the server's own dependency, a few kB).
import { render, useEffect, useRef, useState } from 'hono/jsx/dom';
import { HttpError, listModels, streamChat, type ChatRequest } from './api.js';
import { KeyForm } from './key-form.js';
import { Messages } from './messages.js';
import { SettingsPanel } from './settings.js';
import { Sidebar } from './sidebar.js';
import * as store from './store.js';
import type { Conversation, Message } from './store.js';

/**
 * The turns sent to the server: a failed exchange (a reply that ended in an error, and the
 * question before it) stays on screen but is left out, so user and assistant turns keep
 * alternating, as strict chat templates require.
 */
function turnsToSend(history: Message[]): Message[] {
  const out: Message[] = [];
  for (const m of history) {
    if (m.role === 'assistant' && m.error) {
      if (out[out.length - 1]?.role === 'user') out.pop();
      continue;
    }
    out.push(m);
  }
  return out;
}

function App() {
  const [conversations, setConversations] = useState<Conversation[]>(store.loadConversations);
  const [currentId, setCurrentId] = useState(store.loadCurrentId);
  const [settings, setSettings] = useState(store.loadSettings);
  const [apiKey, setApiKey] = useState(store.loadApiKey);
  const [models, setModels] = useState<string[]>([]);
  const [banner, setBanner] = useState('');
  const [keyNeeded, setKeyNeeded] = useState(false);
  const [keyError, setKeyError] = useState('');
  const [keyBusy, setKeyBusy] = useState(false);
  const [streaming, setStreaming] = useState('');
  const [draft, setDraft] = useState('');
  const [drawer, setDrawer] = useState(false);
  const [showSettings, setShowSettings] = useState(false);
  const abort = useRef<AbortController | null>(null);

  const current = conversations.find((c) => c.id === currentId);
  const model = current && models.includes(current.model) ? current.model : models[0] ?? '';

  // Saved when a reply is done, and at most once a second while one streams (a reload then
  // finds the question and the reply so far), not on every token.
  const savedAt = useRef(0);
  useEffect(() => {
    const now = Date.now();
    if (!streaming || now - savedAt.current >= 1000) {
      store.saveConversations(conversations);
      savedAt.current = now;
    }
  }, [conversations, streaming]);
  useEffect(() => store.saveCurrentId(currentId), [currentId]);
  useEffect(() => store.saveSettings(settings), [settings]);
  // Follow the newest text.
  useEffect(() => {
    const log = document.querySelector('.messages');
    if (log) log.scrollTop = log.scrollHeight;
  }, [current?.messages]);

  const loadModels = async (key: string): Promise<boolean> => {
    try {
      setModels(await listModels(key));
      setBanner('');
      setKeyNeeded(false);
      return true;
    } catch (err) {
      if (err instanceof HttpError && err.status === 401) {
        setKeyNeeded(true);
        setKeyError(key ? err.message : '');
      } else setBanner(`Could not list the models: ${(err as Error).message}`);
      return false;
    }
  };
  useEffect(() => void loadModels(apiKey), []);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape' && abort.current) abort.current.abort();
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);

  const updateConversation = (id: string, f: (c: Conversation) => Conversation) => setConversations((list) => list.map((c) => (c.id === id ? f(c) : c)));
  const patchReply = (id: string, patch: Partial<Message>) =>
    updateConversation(id, (c) => {
      const last = c.messages[c.messages.length - 1];
      return last?.role === 'assistant' ? { ...c, updated: Date.now(), messages: [...c.messages.slice(0, -1), { ...last, ...patch }] } : c;
    });

  /** Sends `history` (ending with a user turn) and streams the reply into conversation `conv`. */
  const send = async (conv: Conversation, history: Message[]) => {
    if (!model) return setBanner('No model to talk to: the server lists none (yet).');
    const firstUser = history.find((m) => m.role === 'user')?.content ?? '';
    const next: Conversation = { ...conv, model, title: conv.renamed ? conv.title : store.titleFrom(firstUser), updated: Date.now(), messages: [...history, { role: 'assistant', content: '' }] };
    setConversations((list) => (list.some((c) => c.id === conv.id) ? list.map((c) => (c.id === conv.id ? next : c)) : [next, ...list]));
    setCurrentId(conv.id);
    const request: ChatRequest = {
      model,
      messages: [...(settings.system.trim() ? [{ role: 'system' as const, content: settings.system }] : []), ...turnsToSend(history).map((m) => ({ role: m.role, content: m.content }))],
      temperature: settings.temperature,
      top_p: settings.topP,
      max_tokens: settings.maxTokens,
    };
    const controller = new AbortController();
    abort.current = controller;
    setStreaming(conv.id);
    let content = '';
    let reasoning = '';
    let pieces = 0;
    let first = 0;
    let frame = 0;
    const flush = () => {
      frame = 0;
      patchReply(conv.id, { content, reasoning: reasoning || undefined });
    };
    const stats = (tokens: number, usedModel: string, stopped: boolean) => {
      const seconds = (performance.now() - first) / 1000;
      return { model: usedModel, tokens, tokensPerSecond: first && tokens > 1 && seconds > 0 ? (tokens - 1) / seconds : null, stopped };
    };
    try {
      const end = await streamChat(apiKey, request, controller.signal, (d) => {
        if (!first) first = performance.now();
        pieces++;
        content += d.content ?? '';
        reasoning += d.reasoning ?? '';
        // One render per frame, however fast the tokens come.
        if (!frame) frame = requestAnimationFrame(flush);
      });
      patchReply(conv.id, { content, reasoning: reasoning || undefined, stats: stats(end.completionTokens ?? pieces, end.model, false) });
    } catch (err) {
      if (controller.signal.aborted) {
        patchReply(conv.id, { content, reasoning: reasoning || undefined, stats: stats(pieces, model, true) });
      } else {
        if (err instanceof HttpError && err.status === 401) {
          setKeyNeeded(true);
          setKeyError(err.message);
        }
        patchReply(conv.id, { content, reasoning: reasoning || undefined, error: (err as Error).message });
      }
    } finally {
      if (frame) cancelAnimationFrame(frame);
      abort.current = null;
      setStreaming('');
    }
  };

  const submit = () => {
    const text = draft.trim();
    if (!text || streaming) return;
    setDraft('');
    const conv = current ?? store.newConversation(model);
    void send(conv, [...conv.messages, { role: 'user', content: text }]);
  };
  const regenerate = () => {
    if (!current || streaming) return;
    const lastUser = current.messages.map((m) => m.role).lastIndexOf('user');
    if (lastUser >= 0) void send(current, current.messages.slice(0, lastUser + 1));
  };
  const edit = (index: number, text: string) => {
    if (!current || streaming) return;
    void send(current, [...current.messages.slice(0, index), { role: 'user', content: text }]);
  };
  const newChat = () => {
    setDrawer(false);
    if (current && current.messages.length === 0) return;
    const conv = store.newConversation(model);
    setConversations((list) => [conv, ...list]);
    setCurrentId(conv.id);
  };
  const saveKey = async (key: string) => {
    setKeyBusy(true);
    if (await loadModels(key)) {
      store.saveApiKey(key);
      setApiKey(key);
    }
    setKeyBusy(false);
  };

  return (
    <div class={drawer ? 'app drawer-open' : 'app'}>
      <Sidebar
        conversations={conversations}
        currentId={currentId}
        open={drawer}
        onNew={newChat}
        onSelect={(id) => {
          setCurrentId(id);
          setDrawer(false);
        }}
        onRename={(id, title) => updateConversation(id, (c) => ({ ...c, title, renamed: true }))}
        onDelete={(id) => {
          if (id === streaming) abort.current?.abort();
          setConversations((list) => list.filter((c) => c.id !== id));
          if (id === currentId) setCurrentId('');
        }}
      />
      {drawer ? <div class="scrim" onClick={() => setDrawer(false)} /> : null}
      <main>
        <header>
          <button type="button" class="menu icon" aria-label="Conversations" aria-controls="sidebar" aria-expanded={drawer ? 'true' : 'false'} data-testid="menu" onClick={() => setDrawer(!drawer)}>
            ☰
          </button>
          <h1>llmplayer</h1>
          <label for="model" class="model">
            <span>Model</span>
            <select
              id="model"
              data-testid="model-select"
              value={model}
              disabled={!!streaming}
              onChange={(e: Event) => {
                const id = (e.target as HTMLSelectElement).value;
                if (current) updateConversation(current.id, (c) => ({ ...c, model: id }));
                else setModels((list) => [id, ...list.filter((m) => m !== id)]);
              }}
            >
              {models.map((m) => (
                <option key={m} value={m}>
                  {m}
                </option>
              ))}
            </select>
          </label>
          <button type="button" aria-controls="settings" aria-expanded={showSettings ? 'true' : 'false'} data-testid="settings-toggle" onClick={() => setShowSettings(!showSettings)}>
            Settings
          </button>
        </header>
        {showSettings ? <SettingsPanel settings={settings} onChange={setSettings} /> : null}
        {banner ? (
          <p class="banner error" role="alert" data-testid="banner">
            {banner}
          </p>
        ) : null}
        <Messages messages={current?.messages ?? []} streaming={!!streaming && streaming === current?.id} onEdit={edit} onRegenerate={regenerate} />
        <form
          class="composer"
          onSubmit={(e: Event) => {
            e.preventDefault();
            submit();
          }}
        >
          <label for="prompt" class="sr-only">
            Message
          </label>
          <textarea
            id="prompt"
            data-testid="prompt"
            rows={2}
            placeholder="Message (Enter to send, Shift+Enter for a new line)"
            value={draft}
            onInput={(e: Event) => setDraft((e.target as HTMLTextAreaElement).value)}
            onKeyDown={(e: KeyboardEvent) => {
              if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
                e.preventDefault();
                submit();
              }
            }}
          />
          {streaming ? (
            <button type="button" class="stop" data-testid="stop" onClick={() => abort.current?.abort()}>
              Stop
            </button>
          ) : (
            <button type="submit" class="send" data-testid="send" disabled={!draft.trim() || !model}>
              Send
            </button>
          )}
        </form>
      </main>
      {keyNeeded ? <KeyForm error={keyError} busy={keyBusy} onSubmit={(k) => void saveKey(k)} /> : null}
    </div>
  );
}

render(<App />, document.getElementById('root')!);
