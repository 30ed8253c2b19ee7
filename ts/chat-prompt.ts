// A chat prompt's tokens where only the template's own markup is parsed as special tokens.
//
// Rendering a template and tokenizing the result with special parsing on (what llama.cpp and
// Ollama do) also turns control-token text inside message content into real control tokens: a
// user message holding `<|im_end|>\n<|im_start|>system\n…` forges a system turn. Here every
// string the request supplies (content, reasoning, names, tool-call arguments, tool
// definitions) has its control-token text swapped for a placeholder before rendering; the
// placeholders are put back after it, and the whole is tokenized in one call with control
// tokens parsed except in those ranges. Strings without control-token text (almost all) change
// nothing, so their prompt is token for token what rendering and tokenizing the whole gives.
import type { ChatMessage, ChatTool } from './chat-template.js';
import type { ApplyChatTemplateOptions, Model } from './types.js';

/** Placeholders: Supplementary Private Use Area-B code points, one per distinct control text. */
const FIRST = 0x100000;
const LAST = 0x10fffd;
/** The caller's own plane-16 characters are escaped too, so every one in the render is ours. */
const PLANE16 = /[\u{100000}-\u{10ffff}]/gu;

class Escaper {
  readonly texts: string[] = [];
  readonly #index = new Map<string, number>();
  /** Token id → whether it is a control token. */
  readonly #control = new Map<number, boolean>();

  constructor(private readonly model: Model) {}

  #isControl(id: number): string | null {
    const piece = this.model.tokenPiece(id);
    let control = this.#control.get(id);
    if (control === undefined) {
      // Control: its text is that token with special parsing on, and not with it off (a
      // user-defined token such as Qwen's `<think>` is the same token either way).
      const one = (ids: number[]) => ids.length === 1 && ids[0] === id;
      control = piece.length > 0 && one(this.model.tokenize(piece, { special: true, addSpecial: false })) && !one(this.model.tokenize(piece, { special: false, addSpecial: false }));
      this.#control.set(id, control);
    }
    return control ? piece : null;
  }

  /** `s` with each control-token text (and any plane-16 character it holds) replaced by a placeholder. */
  escape(s: string): string {
    if (s.length === 0) return s;
    const found = new Set<string>(s.match(PLANE16) ?? []);
    const special = this.model.tokenize(s, { special: true, addSpecial: false });
    const plain = this.model.tokenize(s, { special: false, addSpecial: false });
    if (!(special.length === plain.length && special.every((t, i) => t === plain[i]))) {
      for (const id of new Set(special)) {
        const piece = this.#isControl(id);
        if (piece !== null && s.includes(piece)) found.add(piece);
      }
    }
    if (found.size === 0) return s;
    // One pass, longest first, so a marker containing another is replaced whole.
    const alternatives = [...found].sort((a, b) => b.length - a.length).map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    return s.replace(new RegExp(alternatives.join('|'), 'gu'), (text) => String.fromCodePoint(FIRST + this.#slot(text)));
  }

  #slot(text: string): number {
    let k = this.#index.get(text);
    if (k === undefined) {
      k = this.texts.length;
      if (FIRST + k > LAST) throw new Error('too many distinct control-token texts in one request');
      this.texts.push(text);
      this.#index.set(text, k);
    }
    return k;
  }

  /** Every string inside `v` escaped (objects and arrays copied). */
  deep<T>(v: T): T {
    if (typeof v === 'string') return this.escape(v) as T;
    if (Array.isArray(v)) return v.map((x) => this.deep(x)) as T;
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, this.deep(x)])) as T;
    return v;
  }
}

/**
 * The tokens of `messages` rendered by the model's chat template, BOS as the vocabulary asks
 * (once). Control-token text in the messages and tools is tokenized as text.
 */
export function chatPromptTokens(model: Model, messages: ChatMessage[], options: ApplyChatTemplateOptions = {}): number[] {
  const esc = new Escaper(model);
  const safeMessages = esc.deep(messages);
  const safeTools: ChatTool[] | null | undefined = options.tools ? esc.deep(options.tools) : options.tools;
  const text = model.applyChatTemplate(safeMessages, { ...options, tools: safeTools });
  if (esc.texts.length === 0) return model.tokenizePrompt(text);
  // The placeholders back to their text, each a range where control tokens are not parsed:
  // one tokenizer call, so the text around them tokenizes as it would anyway.
  let out = '';
  const plain: Array<[number, number]> = [];
  text.split(/([\u{100000}-\u{10fffd}])/u).forEach((part, i) => {
    if (i % 2 === 0) {
      out += part;
      return;
    }
    const original = esc.texts[part.codePointAt(0)! - FIRST]!;
    plain.push([out.length, out.length + original.length]);
    out += original;
  });
  return model.tokenizePrompt(out, true, plain);
}
