// The conversation: user turns (editable), assistant replies as Markdown with their reasoning
// collapsed, and under each reply its model, token count and speed.
import { useState } from 'hono/jsx/dom';
import { copyHandler, renderMarkdown } from './markdown.js';
import type { Message, ReplyStats } from './store.js';

interface Props {
  messages: Message[];
  streaming: boolean;
  onEdit(index: number, text: string): void;
  onRegenerate(): void;
}

function statsLine(s: ReplyStats): string {
  const parts = [s.model, `${s.tokens} token${s.tokens === 1 ? '' : 's'}`];
  if (s.tokensPerSecond !== null) parts.push(`${s.tokensPerSecond.toFixed(1)} tokens/s`);
  if (s.stopped) parts.push('stopped');
  return parts.join(' · ');
}

function UserMessage(p: { text: string; canEdit: boolean; onSave(text: string): void }) {
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState(p.text);
  if (editing) {
    return (
      <form
        class="edit"
        onSubmit={(e: Event) => {
          e.preventDefault();
          setEditing(false);
          if (text.trim()) p.onSave(text);
        }}
      >
        <label class="sr-only" for="edit-message">
          Edit message
        </label>
        <textarea id="edit-message" data-testid="edit-input" rows={3} value={text} onInput={(e: Event) => setText((e.target as HTMLTextAreaElement).value)} />
        <div class="actions">
          <button type="submit" data-testid="edit-send">
            Save &amp; send
          </button>
          <button type="button" onClick={() => setEditing(false)}>
            Cancel
          </button>
        </div>
      </form>
    );
  }
  return (
    <>
      <div class="text">{p.text}</div>
      {p.canEdit ? (
        <div class="actions">
          <button
            type="button"
            data-testid="edit"
            onClick={() => {
              setText(p.text);
              setEditing(true);
            }}
          >
            Edit
          </button>
        </div>
      ) : null}
    </>
  );
}

export function Messages(p: Props) {
  const last = p.messages.length - 1;
  return (
    <div class="messages" role="log" aria-live="polite" aria-label="Conversation" data-testid="messages" onClick={copyHandler}>
      {p.messages.length === 0 ? <p class="empty">Send a message to start.</p> : null}
      {p.messages.map((m, i) =>
        m.role === 'user' ? (
          <article key={`u${i}`} class="msg user" data-testid="msg-user">
            <UserMessage text={m.content} canEdit={!p.streaming} onSave={(t) => p.onEdit(i, t)} />
          </article>
        ) : (
          <article key={`a${i}`} class="msg assistant" data-testid="msg-assistant" aria-busy={p.streaming && i === last ? 'true' : 'false'}>
            {m.reasoning ? (
              <details class="reasoning" data-testid="reasoning">
                <summary>Reasoning</summary>
                <div class="text">{m.reasoning}</div>
              </details>
            ) : null}
            <div class="md" data-testid="reply-body" dangerouslySetInnerHTML={{ __html: renderMarkdown(m.content) }} />
            {m.error ? (
              <p class="error" role="alert" data-testid="reply-error">
                {m.error}
              </p>
            ) : null}
            {m.stats ? (
              <p class="stats" data-testid="reply-stats">
                {statsLine(m.stats)}
              </p>
            ) : null}
            {i === last && !p.streaming ? (
              <div class="actions">
                <button type="button" data-testid="regenerate" onClick={p.onRegenerate}>
                  Regenerate
                </button>
              </div>
            ) : null}
          </article>
        ),
      )}
    </div>
  );
}
