// The conversation list: new, select, rename (inline field), delete. A drawer on narrow screens.
import { useState } from 'hono/jsx/dom';
import type { Conversation } from './store.js';

interface Props {
  conversations: Conversation[];
  currentId: string;
  open: boolean;
  onNew(): void;
  onSelect(id: string): void;
  onRename(id: string, title: string): void;
  onDelete(id: string): void;
}

export function Sidebar(p: Props) {
  const [renaming, setRenaming] = useState('');
  const [name, setName] = useState('');
  const sorted = [...p.conversations].sort((a, b) => b.updated - a.updated);
  const finish = (id: string) => {
    if (name.trim()) p.onRename(id, name.trim());
    setRenaming('');
  };
  return (
    <nav id="sidebar" class={p.open ? 'sidebar open' : 'sidebar'} aria-label="Conversations">
      <button type="button" class="new" data-testid="new-chat" onClick={p.onNew}>
        + New chat
      </button>
      <ul>
        {sorted.map((c) => (
          <li key={c.id} class={c.id === p.currentId ? 'current' : ''} data-testid="conversation">
            {renaming === c.id ? (
              <form
                class="rename"
                onSubmit={(e: Event) => {
                  e.preventDefault();
                  finish(c.id);
                }}
              >
                <label class="sr-only" for={`rename-${c.id}`}>
                  New name
                </label>
                <input
                  id={`rename-${c.id}`}
                  data-testid="rename-input"
                  value={name}
                  ref={(el: HTMLInputElement | null) => el?.focus()}
                  onInput={(e: Event) => setName((e.target as HTMLInputElement).value)}
                  onKeyDown={(e: KeyboardEvent) => {
                    if (e.key === 'Escape') {
                      e.stopPropagation();
                      setRenaming('');
                    }
                  }}
                />
                <button type="submit">Save</button>
              </form>
            ) : (
              <>
                <button type="button" class="title" aria-current={c.id === p.currentId ? 'page' : undefined} data-testid="conversation-title" onClick={() => p.onSelect(c.id)}>
                  {c.title}
                </button>
                <button
                  type="button"
                  class="icon"
                  aria-label={`Rename ${c.title}`}
                  title="Rename"
                  data-testid="rename"
                  onClick={() => {
                    setName(c.title);
                    setRenaming(c.id);
                  }}
                >
                  ✎
                </button>
                <button type="button" class="icon" aria-label={`Delete ${c.title}`} title="Delete" data-testid="delete" onClick={() => p.onDelete(c.id)}>
                  ✕
                </button>
              </>
            )}
          </li>
        ))}
      </ul>
    </nav>
  );
}
