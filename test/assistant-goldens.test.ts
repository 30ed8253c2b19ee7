// Goldens for the assistant parser (ts/assistant): tool-call outputs as each family's models
// write them, copied from llama.cpp's own tests and the families' templates (each .txt names its
// source on its first line), fed through the streaming parser whole, one character at a time and
// in random pieces; content, reasoning and tool calls must equal the .expected.json next to it.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { assistantParser, TOOL_FAMILIES, type AssistantDelta, type ParsedToolCall, type ToolFamily } from '../ts/assistant/index.js';

const ROOT = join(import.meta.dirname, 'fixtures', 'tool-calls');

interface Expected {
  thinking: boolean | 'auto';
  tools: boolean;
  content: string;
  reasoning: string;
  toolCalls: { name: string; arguments: Record<string, unknown>; id?: string }[];
  toolDefs?: Record<string, unknown>[];
}

interface Golden {
  family: ToolFamily;
  name: string;
  output: string;
  expected: Expected;
}

function goldens(): Golden[] {
  const out: Golden[] = [];
  for (const family of readdirSync(ROOT, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name)) {
    for (const file of readdirSync(join(ROOT, family)).filter((f) => f.endsWith('.txt'))) {
      const text = readFileSync(join(ROOT, family, file), 'utf8');
      const newline = text.indexOf('\n');
      if (!text.startsWith('# provenance: ') || newline === -1) throw new Error(`${family}/${file}: no provenance line`);
      const name = file.slice(0, -'.txt'.length);
      const expected = JSON.parse(readFileSync(join(ROOT, family, `${name}.expected.json`), 'utf8')) as Expected;
      out.push({ family: family as ToolFamily, name, output: text.slice(newline + 1), expected });
    }
  }
  return out;
}

/** A deterministic PRNG (mulberry32), so a failing split can be reproduced. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function chunkings(output: string): [string, string[]][] {
  const chars = Array.from(output); // code points: the engine never splits one
  const ways: [string, string[]][] = [
    ['whole', [output]],
    ['char by char', chars],
  ];
  for (let seed = 1; seed <= 12; seed++) {
    const next = rng(seed);
    const pieces: string[] = [];
    for (let i = 0; i < chars.length; ) {
      const n = 1 + Math.floor(next() * 9);
      pieces.push(chars.slice(i, i + n).join(''));
      i += n;
    }
    ways.push([`random split ${seed}`, pieces]);
  }
  return ways;
}

function run(g: Golden, pieces: string[]) {
  const parser = assistantParser({ family: g.family, tools: g.expected.tools, thinking: g.expected.thinking, toolDefs: g.expected.toolDefs });
  const deltas: AssistantDelta[] = pieces.map((p) => parser.push(p));
  deltas.push(parser.flush());
  let content = '';
  let reasoning = '';
  const calls: ParsedToolCall[] = [];
  for (const d of deltas) {
    // A delta never carries an empty part.
    if ('content' in d) expect(d.content).not.toBe('');
    if ('reasoning' in d) expect(d.reasoning).not.toBe('');
    if ('toolCalls' in d) expect(d.toolCalls!.length).toBeGreaterThan(0);
    content += d.content ?? '';
    reasoning += d.reasoning ?? '';
    calls.push(...(d.toolCalls ?? []));
  }
  return { content, reasoning, calls };
}

const all = goldens();

describe('assistant parser goldens', () => {
  it('has goldens for every family', () => {
    for (const family of TOOL_FAMILIES) expect(all.some((g) => g.family === family), family).toBe(true);
    expect(all.every((g) => TOOL_FAMILIES.includes(g.family))).toBe(true);
  });

  for (const g of all) {
    it(`${g.family}/${g.name}`, () => {
      for (const [how, pieces] of chunkings(g.output)) {
        const got = run(g, pieces);
        expect(got.content, how).toBe(g.expected.content);
        expect(got.reasoning, how).toBe(g.expected.reasoning);
        expect(
          got.calls.map((c) => ({ name: c.name, arguments: JSON.parse(c.arguments) as unknown })),
          how,
        ).toEqual(g.expected.toolCalls.map((c) => ({ name: c.name, arguments: c.arguments })));
        got.calls.forEach((c, i) => {
          const want = g.expected.toolCalls[i]!.id;
          if (want !== undefined) expect(c.id, how).toBe(want);
          else expect(c.id, how).toMatch(g.family === 'mistral' ? /^[A-Za-z0-9]{9}$/ : /^call_[A-Za-z0-9]{24}$/);
        });
      }
    });
  }
});
