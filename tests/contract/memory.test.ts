import { createMemoryEventStore } from '../../infra/event-store/memory.ts';
import { eventStoreContract } from './event-store.contract.ts';

eventStoreContract('memory', async () => ({ store: createMemoryEventStore(), dispose: async () => {} }));
