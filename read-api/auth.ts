/**
 * Who is asking: every request and every WebSocket connection carries
 * `Authorization: Bearer <key>` (over WebSocket, in connectionParams). The admin
 * key comes from HCP_ADMIN_KEY; other keys are looked up by hash in the read model.
 */
import { apiKeyDigest } from '../commands/api-keys.ts';
import type { Role } from '../domain/access/keys.ts';
import type { Sql } from '../infra/postgres/database.ts';
import { timingSafeEqual } from 'node:crypto';
import { HcpError } from '../infra/errors.ts';

export type Principal =
  | { role: 'customer'; keyId: string; customerId: string }
  | { role: 'admin' | 'auditor' | 'analyst'; keyId: string };

export class AuthError extends HcpError {
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

export type AuthenticatorOptions = {
  /**
   * Calls back with the id of each key revoked from now on (returns the unsubscribe function).
   * With it, keys found are remembered a while and forgotten the moment they are revoked; without
   * it, every request looks its key up.
   */
  onKeyRevoked?: (listener: (keyId: string) => void) => () => void;
  /** How long a key found is remembered (a bound on staleness should a revocation go unheard). */
  rememberMs?: number;
  /** How many keys are remembered at most (the oldest go first). */
  remember?: number;
  now?: () => number;
};

export const createAuthenticator = (readModels: Sql, adminKey: string, { onKeyRevoked, rememberMs = 10_000, remember = 10_000, now = Date.now }: AuthenticatorOptions = {}): Authenticator => {
  const adminHash = apiKeyDigest(adminKey);
  // a key's lookup was a query per request, a good share of a busy server's queries
  const known = new Map<string, { principal: Principal; untilMs: number }>();
  onKeyRevoked?.((keyId) => {
    for (const [hash, k] of known) if (k.principal.keyId === keyId) known.delete(hash);
  });
  const lookUp = async (hash: string): Promise<Principal> => {
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
  return async (authorization) => {
    const token = bearerToken(authorization);
    if (!token) throw new AuthError('UNAUTHENTICATED', 'missing or malformed Authorization: Bearer <api key>');
    const digest = apiKeyDigest(token);
    if (timingSafeEqual(digest, adminHash)) return { role: 'admin', keyId: 'env:HCP_ADMIN_KEY' };
    const hash = digest.toString('hex');
    if (!onKeyRevoked) return lookUp(hash);
    const hit = known.get(hash);
    if (hit && hit.untilMs > now()) return hit.principal;
    known.delete(hash);
    // a revocation heard while the lookup ran must not be undone by remembering its answer
    let revokedMeanwhile = false;
    const unsubscribe = onKeyRevoked(() => void (revokedMeanwhile = true));
    try {
      const principal = await lookUp(hash);
      if (!revokedMeanwhile) {
        if (known.size >= remember) known.delete(known.keys().next().value!);
        known.set(hash, { principal, untilMs: now() + rememberMs });
      }
      return principal;
    } finally {
      unsubscribe();
    }
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
