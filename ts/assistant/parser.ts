// The streaming parser: a model's generated text, in pieces of any size, into OpenAI's assistant
// message parts (content, reasoning, tool calls). Text that may be the start of a marker is held
// back until it is decided, as the stop matcher does; a tool call comes out once, whole, when its
// block is complete; a malformed block is content, never an error.
import { DeltaBuilder, partialTail, type AssistantDelta, type AssistantParser, type AssistantParserOptions } from './delta.js';
import type { ToolFamily } from './family.js';
import { familyFormat, type BlockFormat, type FamilyFormat } from './formats.js';
import { harmonyParser } from './harmony-parser.js';
import { newCallId, type RawToolCall } from './tool-json.js';

export type { AssistantDelta, AssistantParser, AssistantParserOptions } from './delta.js';

const THINK_OPEN = '<think>';
const THINK_CLOSE = '</think>';

/** A parser for one generated assistant turn. */
export function assistantParser(options: AssistantParserOptions): AssistantParser {
  if (options.family === 'harmony') return harmonyParser(options);
  return new TextParser(options);
}

type Mode = 'start' | 'reasoning' | 'content' | 'block';

class TextParser implements AssistantParser {
  readonly #format: FamilyFormat;
  readonly #thinking: boolean | 'auto';
  readonly #markers: string[];
  #mode: Mode;
  #buf = '';
  #block: BlockFormat | null = null;
  /** No content yet since the output (or its reasoning) began: anchored openers may match. */
  #atStart = true;
  /** Whitespace after the last text: sent when more text follows, dropped before a call. */
  #heldSpace = '';
  /** Leading whitespace is dropped (after `</think>`, after a block, at reasoning's start). */
  #trimLeading = false;
  #calls = 0;
  /** The content an unfinished block streamed already (see BlockFormat.partial). */
  #streamed = '';
  readonly #out = new DeltaBuilder();

  constructor(options: AssistantParserOptions) {
    this.#format = options.tools ? familyFormat(options.family as Exclude<ToolFamily, 'harmony'>, options.toolDefs) : { blocks: [], drop: [] };
    this.#thinking = options.thinking;
    this.#markers = [...this.#format.blocks.filter((b) => !b.anchored).map((b) => b.opener), ...this.#format.drop];
    this.#mode = options.thinking === true ? 'reasoning' : 'start';
    this.#trimLeading = options.thinking === true;
  }

  push(text: string): AssistantDelta {
    this.#buf += text;
    this.#run(false);
    return this.#out.take();
  }

  flush(): AssistantDelta {
    this.#run(true);
    this.#heldSpace = this.#calls > 0 || this.#mode === 'reasoning' ? '' : this.#heldSpace;
    this.#out.content += this.#heldSpace;
    this.#heldSpace = '';
    return this.#out.take();
  }

  #run(final: boolean): void {
    for (;;) {
      const buf = this.#buf;
      switch (this.#mode) {
        case 'start': {
          // Where the output (or what follows reasoning) begins: an opening <think>?
          const lead = buf.trimStart();
          if (this.#thinking !== false && lead.startsWith(THINK_OPEN)) {
            this.#buf = lead.slice(THINK_OPEN.length);
            this.#toReasoning();
            continue;
          }
          if (this.#thinking !== false && !final && THINK_OPEN.startsWith(lead)) return; // maybe "<thi"
          this.#mode = 'content';
          continue;
        }
        case 'reasoning': {
          if (buf.startsWith(THINK_OPEN) && this.#trimLeading) {
            this.#buf = buf.slice(THINK_OPEN.length); // a redundant opener after a prompt's <think>
            continue;
          }
          const at = buf.indexOf(THINK_CLOSE);
          if (at !== -1) {
            this.#text(buf.slice(0, at), 'reasoning');
            this.#heldSpace = '';
            this.#buf = buf.slice(at + THINK_CLOSE.length);
            this.#mode = 'content';
            this.#atStart = true;
            this.#trimLeading = true;
            continue;
          }
          const keep = final ? 0 : partialTail(buf, [THINK_CLOSE, THINK_OPEN]);
          this.#text(buf.slice(0, buf.length - keep), 'reasoning');
          this.#buf = buf.slice(buf.length - keep);
          return;
        }
        case 'content': {
          if (this.#atStart) {
            const lead = buf.trimStart();
            if (lead === '' && !final) return;
            const anchored = this.#format.blocks.find((b) => b.anchored && lead.startsWith(b.opener));
            if (anchored) {
              this.#enter(anchored, lead.slice(anchored.opener.length));
              continue;
            }
          }
          const hit = this.#findMarker(buf);
          if (hit) {
            this.#text(buf.slice(0, hit.at), 'content');
            const rest = buf.slice(hit.at + hit.marker.length);
            const block = this.#format.blocks.find((b) => !b.anchored && b.opener === hit.marker);
            if (block) this.#enter(block, rest);
            else {
              this.#buf = rest; // a dropped marker: whitespace around it goes too
              this.#heldSpace = '';
              this.#trimLeading = true;
            }
            continue;
          }
          const keep = final ? 0 : partialTail(buf, this.#markers);
          this.#text(buf.slice(0, buf.length - keep), 'content');
          this.#buf = buf.slice(buf.length - keep);
          return;
        }
        case 'block': {
          const block = this.#block!;
          const result = block.scan(buf, final);
          if (result === null) {
            this.#stream(block.partial?.(buf) ?? null);
            return;
          }
          const end = Math.min(Math.max(result.end, 0), buf.length);
          if (this.#streamed !== '') {
            // Part of it went out as content already: only what completes that text follows.
            this.#stream(result.content ?? null);
            this.#streamed = '';
          } else if (result.calls === null) {
            // Malformed: the block's text is content, and parsing goes on after it.
            this.#text(block.opener + buf.slice(0, end), 'content');
          } else {
            this.#heldSpace = ''; // whitespace before a call is not content
            for (const call of result.calls) this.#call(call);
            if (result.content !== undefined) this.#text(result.content, 'content');
            this.#trimLeading = true;
          }
          this.#buf = buf.slice(end);
          this.#block = null;
          this.#mode = 'content';
          if (final && this.#buf === '') return;
          continue;
        }
      }
    }
  }

  /** Sends what `content` adds to the block's streamed content (nothing if it does not extend it). */
  #stream(content: string | null): void {
    if (content === null || content.length <= this.#streamed.length || !content.startsWith(this.#streamed)) return;
    this.#text(content.slice(this.#streamed.length), 'content');
    this.#streamed = content;
  }

  #toReasoning(): void {
    this.#mode = 'reasoning';
    this.#trimLeading = true;
  }

  #enter(block: BlockFormat, rest: string): void {
    this.#block = block;
    this.#mode = 'block';
    this.#buf = rest;
    this.#atStart = false;
  }

  #findMarker(buf: string): { at: number; marker: string } | null {
    let best: { at: number; marker: string } | null = null;
    for (const marker of this.#markers) {
      const at = buf.indexOf(marker);
      if (at !== -1 && (best === null || at < best.at || (at === best.at && marker.length > best.marker.length))) best = { at, marker };
    }
    return best;
  }

  /** Text for `part`, with whitespace at its edges held or dropped (see #heldSpace). */
  #text(text: string, part: 'content' | 'reasoning'): void {
    if (this.#trimLeading) {
      text = text.trimStart();
      if (text === '') return;
      this.#trimLeading = false;
    }
    if (text === '') return;
    const body = text.trimEnd();
    if (body === '') {
      this.#heldSpace += text;
      return;
    }
    if (part === 'content') this.#atStart = false;
    this.#out[part] += this.#heldSpace + body;
    this.#heldSpace = text.slice(body.length);
  }

  #call(raw: RawToolCall): void {
    this.#calls++;
    this.#out.calls.push({ id: raw.id ?? (this.#format.newId ?? newCallId)(), name: raw.name, arguments: raw.arguments });
  }
}
