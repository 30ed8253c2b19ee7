// gpt-oss (harmony): a turn's messages, from ts/harmony.ts's splitter, into assistant parts as
// llama.cpp's gpt-oss parser reads them: the analysis channel is reasoning; final, and commentary
// addressed to no one (a preamble), are content; a message to `functions.NAME` is a call of NAME
// with its body as the arguments. Messages to built-in tools (`python`, `browser.*`) were never
// offered by an OpenAI request and are dropped.
import { HarmonyMessages, parseHarmonyHeader, type HarmonyEvent } from '../harmony.js';
import { DeltaBuilder, type AssistantDelta, type AssistantParser, type AssistantParserOptions } from './delta.js';
import { argumentsText, newCallId, parseJson } from './tool-json.js';

const FUNCTIONS = 'functions.';

export function harmonyParser(options: AssistantParserOptions): AssistantParser {
  const messages = new HarmonyMessages();
  const out = new DeltaBuilder();
  /** The body of the tool call being written, by its message's header. */
  let callBody = '';

  const handle = (events: HarmonyEvent[]): AssistantDelta => {
    for (const e of events) {
      if (e.header === null) {
        if (e.type === 'text') out.content += e.text; // not harmony at all: passed through
        continue;
      }
      const { role, channel, recipient } = parseHarmonyHeader(e.header);
      if (role !== '' && role !== 'assistant') continue;
      if (recipient !== null) {
        if (!options.tools || !recipient.startsWith(FUNCTIONS)) continue;
        if (e.type === 'text') {
          callBody += e.text;
          continue;
        }
        const args = argumentsText(parseJson(callBody.trim()));
        if (args !== null) out.calls.push({ id: newCallId(), name: recipient.slice(FUNCTIONS.length), arguments: args });
        else out.content += callBody; // malformed: the text is all there is
        callBody = '';
        continue;
      }
      if (e.type !== 'text') continue;
      if (channel === 'analysis') {
        if (options.thinking !== false) out.reasoning += e.text;
      } else if (channel === null || channel === 'final' || channel === 'commentary') {
        out.content += e.text;
      }
    }
    return out.take();
  };

  return {
    push: (text) => handle(messages.push(text)),
    flush: () => handle(messages.flush()),
  };
}
