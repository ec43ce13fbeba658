/**
 * API keys: a key is `hcp_` + 256 random bits, shown once; only its SHA-256 is stored.
 * Customer keys go to the customer's stream, staff keys to `staff-keys`.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { customerDecider, customerStream } from '../domain/customer/customer.ts';
import { STAFF_KEYS_STREAM, type Role, type StaffRole } from '../domain/access/keys.ts';
import { staffKeysDecider } from '../domain/access/staff-keys.ts';
import { CommandRejectedError } from './errors.ts';
import { accepted, contextFor, type Caller, type CommandDeps } from './context.ts';
import { handleCommand } from './handle.ts';

/** A key's SHA-256, as bytes (to compare) and as the hex text stored for it. */
export const apiKeyDigest = (key: string) => createHash('sha256').update(key).digest();
export const hashApiKey = (key: string) => apiKeyDigest(key).toString('hex');

export const sameSecret = (a: string, b: string) => {
  const x = Buffer.from(hashApiKey(a));
  const y = Buffer.from(hashApiKey(b));
  return timingSafeEqual(x, y);
};

export const issueApiKey = async (
  deps: CommandDeps,
  caller: Caller,
  input: { role: Role; customerId?: string; label: string },
) => {
  const keyId = deps.ids.id('key');
  const key = `hcp_${deps.ids.secret(32)}`;
  const keyHash = hashApiKey(key);
  if (input.role === 'customer' && !input.customerId)
    throw new CommandRejectedError({ code: 'invalid_input', message: 'a customer key needs a customerId', field: 'customerId' });
  if (input.role !== 'customer' && input.customerId)
    throw new CommandRejectedError({ code: 'invalid_input', message: `a staff key (${input.role}) belongs to no customer`, field: 'customerId' });
  const handled = accepted(
    input.role === 'customer'
      ? await handleCommand(
          deps.store,
          customerDecider,
          customerStream(input.customerId!),
          { type: 'IssueCustomerKey', keyId, keyHash, label: input.label },
          contextFor(deps, caller),
        )
      : await handleCommand(
          deps.store,
          staffKeysDecider,
          STAFF_KEYS_STREAM,
          { type: 'IssueStaffKey', keyId, role: input.role as StaffRole, keyHash, label: input.label },
          contextFor(deps, caller),
        ),
  );
  if (handled.duplicate)
    throw new CommandRejectedError({
      code: 'already_exists',
      message: 'this command id already issued a key; a key is shown only once: issue a new one',
      field: 'commandId',
    });
  return { keyId, key, role: input.role, customerId: input.customerId ?? null, position: handled.position };
};

export const revokeApiKey = async (deps: CommandDeps, caller: Caller, input: { keyId: string }) => {
  const [key] = await deps.readModels.query<{ customer_id: string | null }>(
    `SELECT customer_id FROM rm_api_keys WHERE key_id = $1`,
    [input.keyId],
  );
  if (!key) throw new CommandRejectedError({ code: 'not_found', message: `key ${input.keyId} not found`, field: 'keyId' });
  const handled = accepted(
    key.customer_id
      ? await handleCommand(
          deps.store,
          customerDecider,
          customerStream(key.customer_id),
          { type: 'RevokeCustomerKey', keyId: input.keyId },
          contextFor(deps, caller),
        )
      : await handleCommand(deps.store, staffKeysDecider, STAFF_KEYS_STREAM, { type: 'RevokeStaffKey', keyId: input.keyId }, contextFor(deps, caller)),
  );
  return { keyId: input.keyId, position: handled.position };
};
