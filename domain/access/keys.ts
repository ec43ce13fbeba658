/**
 * API keys: issued and revoked as events, stored as a SHA-256 hash only (keys are
 * 256-bit random secrets, so a fast hash is enough; the key itself is shown once).
 * Customer keys live in their customer's stream, staff keys in `staff-keys`.
 */
import type { DomainEvent } from '../decider.ts';

export const ROLES = ['admin', 'customer', 'auditor', 'analyst'] as const;
export type Role = (typeof ROLES)[number];
export type StaffRole = Exclude<Role, 'customer'>;

export const STAFF_KEYS_STREAM = 'staff-keys';

export type ApiKeyIssued = DomainEvent<
  'ApiKeyIssued',
  { keyId: string; role: Role; customerId: string | null; keyHash: string; label: string }
>;
export type ApiKeyRevoked = DomainEvent<'ApiKeyRevoked', { keyId: string; customerId: string | null }>;
export type ApiKeyEvent = ApiKeyIssued | ApiKeyRevoked;

export type KeyState = { role: Role; revoked: boolean };
export type KeyRing = Readonly<Record<string, KeyState>>;

export const evolveKeys = (keys: KeyRing, event: ApiKeyEvent): KeyRing => {
  switch (event.type) {
    case 'ApiKeyIssued':
      return { ...keys, [event.data.keyId]: { role: event.data.role, revoked: false } };
    case 'ApiKeyRevoked': {
      const key = keys[event.data.keyId];
      return key ? { ...keys, [event.data.keyId]: { ...key, revoked: true } } : keys;
    }
  }
};
