// Whether a JSON Schema admits any finite value. A schema whose required properties (or
// non-empty arrays) lead back to itself through `$ref` describes only infinite documents: the
// grammar engine compiles it, but a constrained generation could then only run until
// max_tokens and end with broken JSON. Such schemas are refused up front instead.
//
// A least fixed point over the schema's `$ref` targets: every target starts as "no finite
// value" and is re-evaluated until nothing changes. Keywords that only narrow a value (formats,
// lengths, patterns) are taken as satisfiable: this check is about recursion, the grammar engine
// reports the rest.
type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Resolves a local JSON pointer (`#`, `#/$defs/node`); undefined when it points nowhere. */
function resolve(root: unknown, ref: string): unknown {
  if (!ref.startsWith('#')) return true; // remote refs: not ours to judge (the engine refuses them)
  let at: unknown = root;
  for (const raw of ref.slice(1).split('/').slice(1)) {
    const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (!isObject(at) && !Array.isArray(at)) return undefined;
    at = (at as Json)[key];
  }
  return at;
}

export function admitsFiniteValue(root: unknown): boolean {
  const known = new Map<string, boolean>(); // $ref → has a finite value (so far)
  let changed = true;
  const finite = (s: unknown, depth: number): boolean => {
    if (depth > 64) return true; // absurd nesting: the engine's limits apply
    if (s === false) return false;
    if (!isObject(s)) return true;
    if (typeof s.$ref === 'string') {
      if (!known.has(s.$ref)) known.set(s.$ref, false);
      if (!known.get(s.$ref)) return false;
    }
    for (const key of ['anyOf', 'oneOf'] as const) {
      const list = s[key];
      if (Array.isArray(list) && list.length > 0 && !list.some((x) => finite(x, depth + 1))) return false;
    }
    if (Array.isArray(s.allOf) && !s.allOf.every((x) => finite(x, depth + 1))) return false;
    const types = Array.isArray(s.type) ? s.type : typeof s.type === 'string' ? [s.type] : null;
    const can = (t: string) => types === null || types.includes(t);
    // Some type must work; a value of another type than object/array is always finite.
    if (types && types.some((t) => t !== 'object' && t !== 'array')) return true;
    if (can('object')) {
      const props = isObject(s.properties) ? s.properties : {};
      const required = Array.isArray(s.required) ? s.required.filter((k): k is string => typeof k === 'string') : [];
      if (required.every((k) => !(k in props) || finite(props[k], depth + 1))) return true;
      if (types === null) return true; // untyped: a string or number satisfies it
    }
    if (can('array')) {
      const min = typeof s.minItems === 'number' ? s.minItems : 0;
      const prefix = Array.isArray(s.prefixItems) ? s.prefixItems.slice(0, min) : [];
      if (prefix.every((x) => finite(x, depth + 1)) && (min <= prefix.length || finite(s.items, depth + 1))) return true;
    }
    return false;
  };
  let result = finite(root, 0);
  // Re-evaluate the targets until no "no finite value" turns into "has one".
  while (changed) {
    changed = false;
    for (const [ref, has] of known) {
      if (has) continue;
      const target = resolve(root, ref);
      // A ref to nowhere is the engine's to report (as an invalid schema), not a recursion.
      if (target === undefined || finite(target, 0)) {
        known.set(ref, true);
        changed = true;
      }
    }
    result = finite(root, 0);
  }
  return result;
}
