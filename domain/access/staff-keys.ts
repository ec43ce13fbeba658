/** Staff keys (admin, auditor, analyst): one stream, `staff-keys`, with the same key events as customers'. */
import { accept, reject, type Decider } from '../decider.ts';
import { evolveKeys, type ApiKeyEvent, type KeyRing, type StaffRole } from './keys.ts';

export type StaffKeyCommand =
  | { type: 'IssueStaffKey'; keyId: string; role: StaffRole; keyHash: string; label: string }
  | { type: 'RevokeStaffKey'; keyId: string };

export const staffKeysDecider: Decider<StaffKeyCommand, ApiKeyEvent, KeyRing> = {
  initialState: () => ({}),
  evolve: evolveKeys,
  decide: (command, keys) => {
    const key = keys[command.keyId];
    switch (command.type) {
      case 'IssueStaffKey':
        if (key) return reject('already_exists', `key ${command.keyId} exists`, 'keyId');
        return accept({
          type: 'ApiKeyIssued',
          data: { keyId: command.keyId, role: command.role, customerId: null, keyHash: command.keyHash, label: command.label },
        });
      case 'RevokeStaffKey':
        if (!key) return reject('not_found', `key ${command.keyId} not found`, 'keyId');
        return key.revoked ? accept() : accept({ type: 'ApiKeyRevoked', data: { keyId: command.keyId, customerId: null } });
    }
  },
};
