// Asked when the server answers 401: the API key, kept in localStorage and sent as a Bearer token.
import { useState } from 'hono/jsx/dom';

export function KeyForm(p: { error: string; busy: boolean; onSubmit(key: string): void }) {
  const [key, setKey] = useState('');
  return (
    <div class="overlay">
      <form
        class="key-form"
        role="dialog"
        aria-modal="true"
        aria-labelledby="key-title"
        data-testid="key-form"
        onSubmit={(e: Event) => {
          e.preventDefault();
          if (key) p.onSubmit(key);
        }}
      >
        <h2 id="key-title">API key required</h2>
        <p>This server was started with an API key. It is kept in this browser only.</p>
        <label for="api-key">
          API key
          <input id="api-key" data-testid="key-input" type="password" autocomplete="off" value={key} ref={(el: HTMLInputElement | null) => el?.focus()} onInput={(e: Event) => setKey((e.target as HTMLInputElement).value)} />
        </label>
        {p.error ? (
          <p class="error" role="alert" data-testid="key-error">
            {p.error}
          </p>
        ) : null}
        <button type="submit" data-testid="key-submit" disabled={p.busy}>
          Save key
        </button>
      </form>
    </div>
  );
}
