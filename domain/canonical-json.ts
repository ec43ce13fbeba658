/**
 * JSON with object keys sorted, and keys whose value is undefined left out as JSON.stringify
 * leaves them: two values that mean the same give the same text, whatever order their keys
 * came in (a jsonb column reorders them; so may a client).
 */
export const canonicalJson = (v: unknown): string =>
  Array.isArray(v)
    ? `[${v.map((x) => (x === undefined ? 'null' : canonicalJson(x))).join(',')}]`
    : v !== null && typeof v === 'object'
      ? `{${Object.keys(v)
          .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
          .sort()
          .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`)
          .join(',')}}`
      : JSON.stringify(v);
