/**
 * Who is asking: every request and every WebSocket connection carries
 * `Authorization: Bearer <key>` (over WebSocket, in connectionParams). The admin
 * key comes from HCP_ADMIN_KEY; other keys are looked up by hash in the read model.
 */
import { hashApiKey } from '../commands/api-keys.ts';
import type { Role } from '../domain/access/keys.ts';
import type { Sql } from '../infra/postgres/database.ts';
import { timingSafeEqual } from 'node:crypto';

export type Principal =
  | { role: 'customer'; keyId: string; customerId: string }
  | { role: 'admin' | 'auditor' | 'analyst'; keyId: string };

export class AuthError extends Error {
  readonly type = 'auth_error' as const;
  constructor(
    readonly code: 'UNAUTHENTICATED' | 'FORBIDDEN',
    message: string,
  ) {
    super(message);
    this.name = 'AuthError';
  }
}

/** The bearer token of an Authorization value, or undefined. */
export const bearerToken = (value: unknown): string | undefined => {
  if (typeof value !== 'string') return undefined;
  const m = /^Bearer\s+(\S{1,512})$/i.exec(value.trim());
  return m?.[1];
};

export type Authenticator = (authorization: unknown) => Promise<Principal>;

export const createAuthenticator = (readModels: Sql, adminKey: string): Authenticator => {
  const adminHash = Buffer.from(hashApiKey(adminKey), 'hex');
  return async (authorization) => {
    const token = bearerToken(authorization);
    if (!token) throw new AuthError('UNAUTHENTICATED', 'missing or malformed Authorization: Bearer <api key>');
    const hash = hashApiKey(token);
    if (timingSafeEqual(Buffer.from(hash, 'hex'), adminHash)) return { role: 'admin', keyId: 'env:HCP_ADMIN_KEY' };
    const [key] = await readModels.query<{ key_id: string; role: Role; customer_id: string | null; revoked: boolean }>(
      `SELECT key_id, role, customer_id, revoked FROM rm_api_keys WHERE key_hash = $1`,
      [hash],
    );
    if (!key || key.revoked) throw new AuthError('UNAUTHENTICATED', 'unknown or revoked API key');
    if (key.role === 'customer') {
      if (!key.customer_id) throw new AuthError('UNAUTHENTICATED', 'unknown or revoked API key');
      return { role: 'customer', keyId: key.key_id, customerId: key.customer_id };
    }
    return { role: key.role, keyId: key.key_id };
  };
};

/** Who may read operator data (fleet, switches, decisions): everyone but customers. */
export const STAFF_ROLES = ['admin', 'auditor', 'analyst'] as const satisfies readonly Role[];

export const requireRole = (principal: Principal, ...roles: Role[]) => {
  if (!roles.includes(principal.role)) throw new AuthError('FORBIDDEN', `requires role ${roles.join(' or ')}`);
};

/**
 * The customer whose data a request may see: a customer always itself (a
 * `customerId` argument naming someone else is refused); staff whoever they name.
 */
export const scopeCustomer = (principal: Principal, requested: string | undefined | null): string | undefined => {
  if (principal.role === 'customer') {
    if (requested && requested !== principal.customerId) throw new AuthError('FORBIDDEN', 'a customer sees only its own data');
    return principal.customerId;
  }
  return requested ?? undefined;
};
