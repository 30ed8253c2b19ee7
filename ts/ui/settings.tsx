// The settings panel: system prompt and sampling (temperature, top_p, max tokens).
import type { Settings } from './store.js';

interface Props {
  settings: Settings;
  onChange(s: Settings): void;
}

/** A number field that keeps the previous value while the text is not a number in range. */
function NumberField(p: { id: string; label: string; value: number; min: number; max: number; step: number; onChange(v: number): void }) {
  return (
    <label for={p.id}>
      {p.label}
      <input
        id={p.id}
        data-testid={p.id}
        type="number"
        min={p.min}
        max={p.max}
        step={p.step}
        value={String(p.value)}
        onInput={(e: Event) => {
          const v = Number((e.target as HTMLInputElement).value);
          if ((e.target as HTMLInputElement).value !== '' && Number.isFinite(v) && v >= p.min && v <= p.max) p.onChange(v);
        }}
      />
    </label>
  );
}

export function SettingsPanel({ settings, onChange }: Props) {
  return (
    <section class="settings" id="settings" aria-label="Settings" data-testid="settings">
      <label for="system-prompt" class="wide">
        System prompt
        <textarea id="system-prompt" data-testid="system-prompt" rows={3} value={settings.system} onInput={(e: Event) => onChange({ ...settings, system: (e.target as HTMLTextAreaElement).value })} />
      </label>
      <NumberField id="temperature" label="Temperature" value={settings.temperature} min={0} max={2} step={0.05} onChange={(v) => onChange({ ...settings, temperature: v })} />
      <NumberField id="top-p" label="Top p" value={settings.topP} min={0} max={1} step={0.05} onChange={(v) => onChange({ ...settings, topP: v })} />
      <NumberField id="max-tokens" label="Max tokens" value={settings.maxTokens} min={1} max={32768} step={1} onChange={(v) => onChange({ ...settings, maxTokens: Math.floor(v) })} />
    </section>
  );
}
