// POST /tokenize and POST /detokenize, in llama.cpp server's shapes.
import { Hono } from 'hono';
import { readJson, type ServerContext } from './context.js';
import { invalidRequest } from './errors.js';
import { isObject, optBoolean, optString, requireObject } from './validate.js';

export function tokenizeRoutes(ctx: ServerContext): Hono {
  const app = new Hono();

  // { content | prompt, add_special = false, parse_special = true, with_pieces = false, model? }
  // → { tokens: number[] } or, with pieces, { tokens: [{ id, piece }] }.
  app.post('/tokenize', async (c) => {
    const body = requireObject(await readJson(c));
    const key = body.content !== undefined && body.content !== null ? 'content' : 'prompt';
    const content = optString(body, key);
    if (content === undefined) throw invalidRequest("Missing required parameter: 'content'.", 'content', 'missing_required_parameter');
    const addSpecial = optBoolean(body, 'add_special') ?? false;
    const special = optBoolean(body, 'parse_special') ?? true;
    const withPieces = optBoolean(body, 'with_pieces') ?? false;
    const handle = await ctx.registry.use(optString(body, 'model'), c.req.raw.signal);
    try {
      const tokens = handle.model.tokenize(content, { special, addSpecial });
      return c.json({ tokens: withPieces ? tokens.map((id) => ({ id, piece: handle.model.tokenPiece(id) })) : tokens });
    } finally {
      handle.release();
    }
  });

  // { tokens: number[], model? } → { content } (special tokens rendered as their text).
  app.post('/detokenize', async (c) => {
    const body = requireObject(await readJson(c));
    const tokens = body.tokens;
    if (!Array.isArray(tokens)) {
      throw tokens === undefined
        ? invalidRequest("Missing required parameter: 'tokens'.", 'tokens', 'missing_required_parameter')
        : invalidRequest("Invalid type for 'tokens': expected an array of token ids.", 'tokens', 'invalid_type');
    }
    const handle = await ctx.registry.use(optString(body, 'model'), c.req.raw.signal);
    try {
      const { nVocab } = handle.model;
      tokens.forEach((t: unknown, i) => {
        if (!Number.isInteger(t) || (t as number) < 0 || (t as number) >= nVocab) {
          const what = isObject(t) || Array.isArray(t) ? typeof t : JSON.stringify(t);
          throw invalidRequest(`Invalid 'tokens[${i}]': ${String(what).slice(0, 40)} is not a token id in [0, ${nVocab}).`, `tokens[${i}]`, 'invalid_value');
        }
      });
      return c.json({ content: handle.model.detokenize(tokens as number[], { special: true }) });
    } finally {
      handle.release();
    }
  });
  return app;
}
