/** Read model of customer accounts (quota granted / reserved / consumed) and API keys (for authentication). */
import type { CustomerEvent } from '../domain/customer/customer.ts';
import type { RecordedEvent } from '../infra/event-store/types.ts';
import type { Change, Projection } from './projection.ts';

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

const balanceUpdate = (columns: string) =>
  `UPDATE rm_customers SET ${columns}, updated_at = $4 WHERE customer_id = $1`;

export const customersProjection: Projection = {
  name: 'customers',
  eventTypes: new Set(['CustomerRegistered', 'QuotaGranted', 'QuotaReserved', 'QuotaReservationExtended', 'QuotaReleased', 'QuotaConsumed', 'ApiKeyIssued', 'ApiKeyRevoked']),
  schema: SCHEMA,
  tables: ['rm_api_keys', 'rm_customers'],
  async apply(tx, recorded: RecordedEvent): Promise<Change[]> {
    const event = { type: recorded.type, data: recorded.data } as CustomerEvent;
    const at = recorded.metadata.occurredAt;
    switch (event.type) {
      case 'CustomerRegistered':
        await tx.query(
          `INSERT INTO rm_customers (customer_id, name, tier, registered_at, updated_at) VALUES ($1, $2, $3, $4, $4)
           ON CONFLICT (customer_id) DO NOTHING`,
          [event.data.customerId, event.data.name, event.data.tier, at],
        );
        break;
      case 'QuotaGranted':
        await tx.query(
          balanceUpdate(`granted_gpu_seconds = granted_gpu_seconds + $2, granted_budget_micro_usd = granted_budget_micro_usd + $3`),
          [event.data.customerId, event.data.gpuSeconds, event.data.budgetMicroUsd, at],
        );
        break;
      case 'QuotaReserved':
        await tx.query(
          balanceUpdate(`reserved_gpu_seconds = reserved_gpu_seconds + $2, reserved_budget_micro_usd = reserved_budget_micro_usd + $3`),
          [event.data.customerId, event.data.gpuSeconds, event.data.budgetMicroUsd, at],
        );
        break;
      case 'QuotaReservationExtended':
        await tx.query(
          balanceUpdate(`reserved_gpu_seconds = reserved_gpu_seconds + $2, reserved_budget_micro_usd = reserved_budget_micro_usd + $3`),
          [event.data.customerId, event.data.gpuSeconds, event.data.budgetMicroUsd, at],
        );
        break;
      case 'QuotaReleased':
        await tx.query(
          balanceUpdate(`reserved_gpu_seconds = reserved_gpu_seconds - $2, reserved_budget_micro_usd = reserved_budget_micro_usd - $3`),
          [event.data.customerId, event.data.gpuSeconds, event.data.budgetMicroUsd, at],
        );
        break;
      case 'QuotaConsumed':
        await tx.query(
          balanceUpdate(
            `reserved_gpu_seconds = reserved_gpu_seconds - $2, reserved_budget_micro_usd = reserved_budget_micro_usd - $3,
             consumed_gpu_seconds = consumed_gpu_seconds + $2, consumed_budget_micro_usd = consumed_budget_micro_usd + $3`,
          ),
          [event.data.customerId, event.data.gpuSeconds, event.data.budgetMicroUsd, at],
        );
        break;
      case 'ApiKeyIssued':
        await tx.query(
          `INSERT INTO rm_api_keys (key_id, key_hash, role, customer_id, label, issued_at) VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (key_id) DO NOTHING`,
          [event.data.keyId, event.data.keyHash, event.data.role, event.data.customerId, event.data.label, at],
        );
        return [];
      case 'ApiKeyRevoked':
        await tx.query(`UPDATE rm_api_keys SET revoked = true, revoked_at = $2 WHERE key_id = $1`, [event.data.keyId, at]);
        return [{ topic: 'api-key-revoked', keyId: event.data.keyId }];
      default:
        return [];
    }
    return [{ topic: 'customer', customerId: event.data.customerId }];
  },
};
