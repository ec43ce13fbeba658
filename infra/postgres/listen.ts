/**
 * LISTEN on a channel for the notifications of this schema (the payload names it: several
 * platforms may share a database), on a connection of its own, opened again when it is lost.
 * `onListening` runs each time listening starts, so a caller can catch up with what it missed
 * meanwhile; a notification is a hint to read, never the only way a reader learns.
 *
 * A payload is `<schema>:<sender>:<kind>`: `sender` is a token of the store or runner that sent
 * it, so a process can tell its own notifications (it knew before the server told it) from
 * another's, and `kind` says what happened (`appended`, `changed`) or that the sender is `here`,
 * listening. A bare `<schema>` (an older sender) counts as another's.
 */
import { randomBytes } from 'node:crypto';
import type { Database, Session, Sql } from './database.ts';

export type SchemaListener = { stop(): Promise<void> };

export type Notice = { sender: string | undefined; kind: string | undefined };

/** A token naming one sender (a store, a runner) in its notifications. */
export const senderToken = () => randomBytes(6).toString('hex');

/** Notifies `channel` for this schema, as `sender`. */
export const notifySchema = (sql: Sql, channel: string, sender: string, kind: string) =>
  sql.query(`SELECT pg_notify($1, current_schema() || ':' || $2)`, [channel, `${sender}:${kind}`]);

const noticeOf = (payload: string, schema: string): Notice | undefined => {
  if (payload === schema) return { sender: undefined, kind: undefined };
  if (!payload.startsWith(`${schema}:`)) return undefined;
  const [sender, kind] = payload.slice(schema.length + 1).split(':');
  return { sender, kind };
};

export const listenToSchema = async (
  db: Database,
  channel: string,
  { onNotified, onListening, retryMs, warn }: { onNotified: (notice: Notice) => void; onListening?: () => Promise<void>; retryMs: number; warn: (message: string, error?: unknown) => void },
): Promise<SchemaListener> => {
  if (!db.session) throw new Error('notifications are heard on a PostgreSQL server');
  const openSession = db.session.bind(db);
  const schema = (await db.query<{ s: string }>(`SELECT current_schema() AS s`))[0]!.s;
  let stopped = false;
  let session: Session | undefined;
  const loop = async () => {
    while (!stopped) {
      try {
        session = await openSession();
        if (stopped) break; // stopped while connecting: the finally closes it
        await session.listen(channel, (payload) => {
          const notice = noticeOf(payload, schema);
          if (notice) onNotified(notice);
        });
        await onListening?.();
        await session.ended;
        if (!stopped) warn(`the connection listening on ${channel} ended: listening again`);
      } catch (error) {
        if (!stopped) warn(`cannot listen on ${channel}: trying again`, error);
      } finally {
        await session?.close();
        session = undefined;
      }
      if (!stopped) await new Promise((r) => setTimeout(r, retryMs));
    }
  };
  const running = loop();
  return {
    async stop() {
      stopped = true;
      await session?.close();
      await running;
    },
  };
};
