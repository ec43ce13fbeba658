import { createPostgresEventStore } from '../../infra/event-store/postgres/store.ts';
import { postgresBackends } from '../support/databases.ts';
import { eventStoreContract } from './event-store.contract.ts';

for (const backend of postgresBackends()) {
  eventStoreContract(`postgres (${backend.label})`, async () => {
    const db = await backend.open();
    const store = await createPostgresEventStore(db);
    return { store, dispose: () => db.drop() };
  });
}
