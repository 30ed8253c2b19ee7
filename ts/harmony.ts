// OpenAI's harmony format (gpt-oss): which part of a generated assistant turn is the answer.
//
// A harmony model writes its turn as messages on channels, after the chat template's generation
// prompt `<|start|>assistant`:
//
//   <|channel|>analysis<|message|>THINKING<|end|><|start|>assistant<|channel|>final<|message|>ANSWER
//
// and then `<|return|>` (or `<|call|>` after a tool call), which ends generation and is not in
// the text. The vocabulary renders `<|channel|>`, `<|message|>`, `<|start|>`, `<|constrain|>`
// and `<|end|>` even when special tokens are hidden (llama.cpp's rule, kept by our tokenizer),
// which is what puts these markers into the generated text at all.
//
// What counts as the answer follows llama.cpp's gpt-oss chat parser (common/chat.cpp,
// `common_chat_params_init_gpt_oss`) with reasoning extracted: the `final` channel's text, and a
// `commentary` message addressed to no one (a "preamble", which harmony shows to the user). The
// `analysis` channel (reasoning) and any message with a recipient (`to=functions.get_weather`, a
// tool call) are not. Text that does not start like a harmony turn passes through unchanged, so a
// model that merely has these tokens, or a prompt that already opened the final channel, loses
// nothing.
import type { Model } from './types.js';

const CHANNEL = '<|channel|>';
const MESSAGE = '<|message|>';
const START = '<|start|>';
const END = '<|end|>';
/** Never in streamed text (end of generation, hidden), but in text rendered with special tokens. */
const RETURN = '<|return|>';
const CALL = '<|call|>';

/** How a turn can begin after `<|start|>assistant`: a channel, a new message, or a recipient. */
const OPENERS = [CHANNEL, START, ' to='];
/** What ends a message body. */
const BODY_ENDS = [END, RETURN, CALL, START, CHANNEL];
/** What starts the next message after one ended. */
const NEXT = [START, CHANNEL];

type State = 'detect' | 'plain' | 'header' | 'body' | 'between';

/** The earliest occurrence of any of `markers` in `text`. */
function findFirst(text: string, markers: readonly string[]): { at: number; marker: string } | null {
  let best: { at: number; marker: string } | null = null;
  for (const marker of markers) {
    const at = text.indexOf(marker);
    if (at !== -1 && (best === null || at < best.at)) best = { at, marker };
  }
  return best;
}

/** Length of the tail of `text` that could be the start of a `<|…|>` marker split by a chunk. */
function markerTail(text: string, markers: readonly string[]): number {
  const at = text.lastIndexOf('<'); // every marker has one '<', at its start
  if (at === -1) return 0;
  const tail = text.slice(at);
  return markers.some((m) => m.length > tail.length && m.startsWith(tail)) ? tail.length : 0;
}

/** One piece of a harmony turn: text of a message, or the end of one. */
export type HarmonyEvent =
  /** Body text; `header` is null for text that is not harmony at all (passed through). */
  | { type: 'text'; header: string | null; text: string }
  /** A message ended: by `marker` (`<|end|>`, `<|call|>`, `<|return|>`, a next message), or the turn's end (''). */
  | { type: 'end'; header: string; marker: string };

/**
 * Splits a harmony turn into messages, from the generated text in pieces of any size (markers may
 * be split between them): `push` returns the events that can be told now, `flush` the rest once
 * generation ended. A message's header is the text between `<|start|>` and `<|message|>` (e.g.
 * `assistant<|channel|>final`, or `<|channel|>analysis` for the turn's first message).
 */
export class HarmonyMessages {
  #state: State = 'detect';
  #buf = '';
  #header = '';

  push(text: string): HarmonyEvent[] {
    this.#buf += text;
    return this.#run(false);
  }

  flush(): HarmonyEvent[] {
    return this.#run(true);
  }

  #run(final: boolean): HarmonyEvent[] {
    const out: HarmonyEvent[] = [];
    const emit = (header: string | null, text: string) => {
      if (text) out.push({ type: 'text', header, text });
    };
    for (;;) {
      const buf = this.#buf;
      switch (this.#state) {
        case 'detect': {
          const opener = OPENERS.find((o) => buf.startsWith(o));
          if (opener !== undefined) {
            this.#state = 'header';
            this.#header = '';
            if (opener === START) this.#buf = buf.slice(START.length);
            continue;
          }
          if (!final && OPENERS.some((o) => o.startsWith(buf))) return out; // too short to tell
          this.#state = 'plain';
          continue;
        }
        case 'plain':
          this.#buf = '';
          emit(null, buf);
          return out;
        case 'header': {
          this.#header += buf;
          this.#buf = '';
          const at = this.#header.indexOf(MESSAGE);
          if (at === -1) return out; // an unfinished header is dropped at the end
          this.#buf = this.#header.slice(at + MESSAGE.length);
          this.#header = this.#header.slice(0, at);
          this.#state = 'body';
          continue;
        }
        case 'body': {
          const hit = findFirst(buf, BODY_ENDS);
          if (hit === null) {
            const keep = final ? 0 : markerTail(buf, BODY_ENDS);
            this.#buf = buf.slice(buf.length - keep);
            emit(this.#header, buf.slice(0, buf.length - keep));
            if (final) {
              out.push({ type: 'end', header: this.#header, marker: '' });
              this.#state = 'between';
              this.#buf = '';
            }
            return out;
          }
          emit(this.#header, buf.slice(0, hit.at));
          out.push({ type: 'end', header: this.#header, marker: hit.marker });
          this.#next(hit.marker, buf.slice(hit.at + hit.marker.length));
          continue;
        }
        case 'between': {
          // Only a new message may follow `<|end|>`; anything else belongs to no message.
          const hit = findFirst(buf, NEXT);
          if (hit === null) {
            this.#buf = final ? '' : buf.slice(buf.length - markerTail(buf, NEXT));
            return out;
          }
          this.#next(hit.marker, buf.slice(hit.at + hit.marker.length));
          continue;
        }
      }
    }
  }

  /** After a message body or a gap: `marker` was found, `rest` follows it. */
  #next(marker: string, rest: string): void {
    if (marker === START || marker === CHANNEL) {
      // A new message; a bare `<|channel|>` (no `<|start|>assistant` before it) is its header.
      this.#state = 'header';
      this.#header = marker === CHANNEL ? CHANNEL : '';
    } else {
      this.#state = 'between';
    }
    this.#buf = rest;
  }
}

/** What a harmony message header says: who wrote it, on which channel, to whom. */
export interface HarmonyHeader {
  /** '' for the turn's first message (the generation prompt already wrote `assistant`). */
  role: string;
  channel: string | null;
  /** The first ` to=X` other than `to=assistant`, or null. */
  recipient: string | null;
}

export function parseHarmonyHeader(header: string): HarmonyHeader {
  const role = /^[^\s<]*/.exec(header)![0];
  let recipient: string | null = null;
  // ` to=X` in the role part or the channel part: a tool call (`to=assistant` is harmless).
  for (const m of header.matchAll(/ to=([^\s<]+)/g)) {
    if (m[1] !== 'assistant') {
      recipient = m[1]!;
      break;
    }
  }
  const at = header.lastIndexOf(CHANNEL);
  const channel = at === -1 ? null : /^[^\s<]*/.exec(header.slice(at + CHANNEL.length))![0];
  return { role, channel, recipient };
}

/**
 * Whether a message with this header is shown: an assistant message on the final or commentary
 * channel (or none) addressed to no one.
 */
function isShown(header: string): boolean {
  const { role, channel, recipient } = parseHarmonyHeader(header);
  if (role !== '' && role !== 'assistant') return false;
  if (recipient !== null) return false;
  return channel === null || channel === 'final' || channel === 'commentary';
}

/**
 * The shown part of a harmony turn, from the generated text in pieces of any size (markers may be
 * split between them): `push` returns what can be emitted now, `flush` the rest at the end.
 * The concatenation of everything returned equals `harmonyContent(whole text)`.
 */
export class HarmonyContent {
  readonly #messages = new HarmonyMessages();

  push(text: string): string {
    return shown(this.#messages.push(text));
  }

  /** What was held back (an unfinished marker in a shown message) once generation ended. */
  flush(): string {
    return shown(this.#messages.flush());
  }
}

function shown(events: HarmonyEvent[]): string {
  let out = '';
  for (const e of events) if (e.type === 'text' && (e.header === null || isShown(e.header))) out += e.text;
  return out;
}

/** The shown part of a whole harmony turn (see `HarmonyContent`). */
export function harmonyContent(text: string): string {
  const h = new HarmonyContent();
  return h.push(text) + h.flush();
}

const detected = new WeakMap<object, boolean>();

/**
 * Whether the model writes harmony: its vocabulary has `<|channel|>`, `<|message|>`, `<|start|>`
 * and `<|end|>` as single tokens that render as themselves. Decided from the vocabulary rather
 * than the chat template because the markers in generated text can only come from these tokens
 * (so a model without them never needs the parser), a GGUF may lack a template or be served with
 * a fallback one, and these are the very tokens llama.cpp's vocabulary singles out for gpt-oss.
 * A model that has the tokens but does not answer in harmony is safe: its text passes through.
 */
export function isHarmonyModel(model: Pick<Model, 'tokenize' | 'tokenPiece'>): boolean {
  let yes = detected.get(model);
  if (yes === undefined) {
    yes = [CHANNEL, MESSAGE, START, END].every((marker) => {
      const ids = model.tokenize(marker, { special: true, addSpecial: false });
      return ids.length === 1 && model.tokenPiece(ids[0]!) === marker;
    });
    detected.set(model, yes);
  }
  return yes;
}
