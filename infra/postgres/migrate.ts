import type { Database } from './database.ts';

/**
 * Applies an idempotent schema script under a transaction-scoped advisory lock,
 * so that processes starting together do not race on CREATE ... IF NOT EXISTS.
 */
export const migrate = (db: Database, name: string, script: string): Promise<void> =>
  db.transaction(async (tx) => {
    await tx.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [name]);
    for (const statement of splitStatements(script)) await tx.query(statement);
  });

/** Splits on semicolons outside dollar-quoted bodies (our scripts put no `;` in strings or comments). */
export const splitStatements = (script: string): string[] => {
  const out: string[] = [];
  let current = '';
  let inDollar: string | null = null;
  const tokens = script.split(/(\$[a-z_]*\$|;)/);
  for (const token of tokens) {
    if (/^\$[a-z_]*\$$/.test(token)) {
      inDollar = inDollar === token ? null : inDollar ?? token;
      current += token;
    } else if (token === ';' && inDollar === null) {
      if (current.trim()) out.push(current.trim());
      current = '';
    } else current += token;
  }
  if (current.trim()) out.push(current.trim());
  return out;
};
