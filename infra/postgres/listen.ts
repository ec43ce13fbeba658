/**
 * LISTEN on a channel for the notifications of this schema (the payload names it: several
 * platforms may share a database), on a connection of its own, opened again when it is lost.
 * `onListening` runs each time listening starts, so a caller can catch up with what it missed
 * meanwhile; a notification is a hint to read, never the only way a reader learns.
 */
import type { Database, Session } from './database.ts';

export type SchemaListener = { stop(): Promise<void> };

export const listenToSchema = async (
  db: Database,
  channel: string,
  { onNotified, onListening, retryMs, warn }: { onNotified: () => void; onListening?: () => Promise<void>; retryMs: number; warn: (message: string, error?: unknown) => void },
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
        await session.listen(channel, (payload) => payload === schema && onNotified());
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
