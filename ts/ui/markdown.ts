// Model output → HTML with markdown-it. `html: false` (its default) escapes raw HTML and its link
// validator refuses javascript:/vbscript:/file: URLs, so untrusted text cannot inject markup or
// script. Code blocks get a Copy button, wired by one delegated click handler (copyHandler).
import MarkdownIt from 'markdown-it';

const md = new MarkdownIt({ html: false, linkify: false, breaks: false });

const fence = md.renderer.rules.fence!;
md.renderer.rules.fence = (tokens, idx, options, env, self) =>
  `<div class="code"><button type="button" class="copy" data-copy>Copy</button>${fence(tokens, idx, options, env, self)}</div>`;

// Links leave the page in a new tab without giving it a handle on this one.
const linkOpen = md.renderer.rules.link_open ?? ((tokens, idx, options, _env, self) => self.renderToken(tokens, idx, options));
md.renderer.rules.link_open = (tokens, idx, options, env, self) => {
  tokens[idx]!.attrSet('target', '_blank');
  tokens[idx]!.attrSet('rel', 'noopener noreferrer');
  return linkOpen(tokens, idx, options, env, self);
};

export const renderMarkdown = (text: string): string => md.render(text);

async function copyText(text: string): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
    return;
  } catch {
    // No clipboard API (plain http on a LAN address is not a secure context): the old way.
  }
  const area = document.createElement('textarea');
  area.value = text;
  area.setAttribute('readonly', '');
  area.className = 'offscreen';
  document.body.appendChild(area);
  area.select();
  document.execCommand('copy');
  area.remove();
}

/** Click handler for a container of rendered Markdown: copies the code block of a Copy button. */
export function copyHandler(e: Event): void {
  const button = (e.target as Element | null)?.closest?.('button[data-copy]');
  const code = button?.parentElement?.querySelector('pre code, pre');
  if (!button || !code) return;
  void copyText(code.textContent ?? '').then(() => {
    button.textContent = 'Copied';
    setTimeout(() => (button.textContent = 'Copy'), 1500);
  });
}
