// Which JSON Schemas admit a finite value (recursive schemas that require themselves do not).
import { expect, it } from 'vitest';
import { admitsFiniteValue as f } from '../ts/server/schema-finite.js';
it('recursion through required properties and non-empty arrays has no finite value; optional or alternative branches do', () => {
  expect(f({ type: 'object', properties: { a: { $ref: '#' } }, required: ['a'] })).toBe(false);
  expect(f({ type: 'object', properties: { a: { $ref: '#' } } })).toBe(true);
  expect(f({ $defs: { n: { type: 'object', properties: { kids: { type: 'array', items: { $ref: '#/$defs/n' } } }, required: ['kids'] } }, $ref: '#/$defs/n' })).toBe(true);
  expect(f({ $defs: { n: { type: 'object', properties: { kid: { $ref: '#/$defs/n' } }, required: ['kid'] } }, $ref: '#/$defs/n' })).toBe(false);
  expect(f({ $defs: { n: { anyOf: [{ type: 'string' }, { type: 'object', properties: { kid: { $ref: '#/$defs/n' } }, required: ['kid'] }] } }, $ref: '#/$defs/n' })).toBe(true);
  expect(f({ $ref: '#' })).toBe(false);
  expect(f({ type: 'string' })).toBe(true);
  expect(f({ $ref: '#/definitions/missing' })).toBe(true); // the engine reports it
  expect(f({ type: 'array', minItems: 1, items: { $ref: '#' } })).toBe(false);
  expect(f({ type: ['array', 'null'], minItems: 1, items: { $ref: '#' } })).toBe(true);
});
