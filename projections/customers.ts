/** Read model of customer accounts (quota granted / reserved / consumed) and API keys (for authentication). */
import type { CustomerEvent } from '../domain/customer/customer.ts';
import type { Change, Projection } from './projection.ts';
import { addInt8, loadRows, saveRows, type Int8, type RowTable } from './rows.ts';

const SCHEMA = /* sql */ `
CREATE TABLE IF NOT EXISTS rm_customers (
  customer_id              text PRIMARY KEY,
  name                     text NOT NULL,
  tier                     text NOT NULL,
  granted_gpu_seconds      bigint NOT NULL DEFAULT 0,
  granted_budget_micro_usd bigint NOT NULL DEFAULT 0,
  reserved_gpu_seconds      bigint NOT NULL DEFAULT 0,
  reserved_budget_micro_usd bigint NOT NULL DEFAULT 0,
  consumed_gpu_seconds      bigint NOT NULL DEFAULT 0,
  consumed_budget_micro_usd bigint NOT NULL DEFAULT 0,
  registered_at            timestamptz NOT NULL,
  updated_at               timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS rm_api_keys (
  key_id      text PRIMARY KEY,
  key_hash    text NOT NULL UNIQUE,
  role        text NOT NULL,
  customer_id text,
  label       text NOT NULL,
  revoked     boolean NOT NULL DEFAULT false,
  issued_at   timestamptz NOT NULL,
  revoked_at  timestamptz
);
`;

const CUSTOMERS: RowTable = { name: 'rm_customers', key: ['customer_id'] };

type CustomerRow = {
  customer_id: string;
  name: string;
  tier: string;
  granted_gpu_seconds: Int8;
  granted_budget_micro_usd: Int8;
  reserved_gpu_seconds: Int8;
  reserved_budget_micro_usd: Int8;
  consumed_gpu_seconds: Int8;
  consumed_budget_micro_usd: Int8;
  registered_at: string | Date;
  updated_at: string | Date;
};

type Balance = 'granted' | 'reserved' | 'consumed';
/** How each quota event moves the balances: +1 adds its amounts, -1 takes them away. */
const MOVES: Partial<Record<CustomerEvent['type'], Partial<Record<Balance, 1 | -1>>>> = {
  QuotaGranted: { granted: 1 },
  QuotaReserved: { reserved: 1 },
  QuotaReservationExtended: { reserved: 1 },
  QuotaReleased: { reserved: -1 },
  QuotaConsumed: { reserved: -1, consumed: 1 },
};

export const customersProjection: Projection = {
  name: 'customers',
  eventTypes: new Set(['CustomerRegistered', 'QuotaGranted', 'QuotaReserved', 'QuotaReservationExtended', 'QuotaReleased', 'QuotaConsumed', 'ApiKeyIssued', 'ApiKeyRevoked']),
  schema: SCHEMA,
  tables: ['rm_api_keys', 'rm_customers'],
  async apply(tx, events): Promise<Change[]> {
    const all = events.map((e) => ({ type: e.type, data: e.data, at: e.metadata.occurredAt }) as CustomerEvent & { at: string });
    const customers = await loadRows<CustomerRow>(tx, CUSTOMERS, all.flatMap((e) => ('customerId' in e.data && e.data.customerId ? [[e.data.customerId]] : [])));
    const changes: Change[] = [];
    for (const event of all) {
      const { at } = event;
      switch (event.type) {
        case 'CustomerRegistered':
          if (!customers.get(event.data.customerId))
            customers.put({
              customer_id: event.data.customerId, name: event.data.name, tier: event.data.tier,
              granted_gpu_seconds: 0, granted_budget_micro_usd: 0, reserved_gpu_seconds: 0, reserved_budget_micro_usd: 0, consumed_gpu_seconds: 0, consumed_budget_micro_usd: 0,
              registered_at: at, updated_at: at,
            });
          break;
        case 'QuotaGranted':
        case 'QuotaReserved':
        case 'QuotaReservationExtended':
        case 'QuotaReleased':
        case 'QuotaConsumed': {
          const row = customers.get(event.data.customerId);
          if (row) {
            for (const [balance, sign] of Object.entries(MOVES[event.type]!) as Array<[Balance, 1 | -1]>) {
              row[`${balance}_gpu_seconds`] = addInt8(row[`${balance}_gpu_seconds`], sign * event.data.gpuSeconds);
              row[`${balance}_budget_micro_usd`] = addInt8(row[`${balance}_budget_micro_usd`], sign * event.data.budgetMicroUsd);
            }
            row.updated_at = at;
            customers.changed(row);
          }
          break;
        }
        case 'ApiKeyIssued':
          await tx.query(
            `INSERT INTO rm_api_keys (key_id, key_hash, role, customer_id, label, issued_at) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (key_id) DO NOTHING`,
            [event.data.keyId, event.data.keyHash, event.data.role, event.data.customerId, event.data.label, at],
          );
          continue;
        case 'ApiKeyRevoked':
          await tx.query(`UPDATE rm_api_keys SET revoked = true, revoked_at = $2 WHERE key_id = $1`, [event.data.keyId, at]);
          changes.push({ topic: 'api-key-revoked', keyId: event.data.keyId });
          continue;
        default:
          continue;
      }
      changes.push({ topic: 'customer', customerId: event.data.customerId });
    }
    await saveRows(tx, customers);
    return changes;
  },
};
