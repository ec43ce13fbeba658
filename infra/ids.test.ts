/**
 * Event ids are derived from names, and stores hold them: the derivation must never change. Pinned
 * values (computed with the first implementation: a SHA-1 hasher object, the version and variant
 * bits set in the bytes), and the same for any name against that reference.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { uuidFromName } from './ids.ts';

const reference = (name: string) => {
  const h = createHash('sha1').update('hcp:').update(name).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
};

describe('name-based ids', () => {
  it('give the ids stores already hold', () => {
    expect(uuidFromName('tick:ercot-hb_north-2023-08-20T00:00Z')).toBe('b535651b-17f5-5a2d-8e86-688fe629e4e0');
    expect(uuidFromName('submit-1|workload-w-0001|0')).toBe('cedf414e-7157-5dfc-9766-b7b226cdfccc');
    expect(uuidFromName('é✓')).toBe('642da39e-ad1a-5cc8-b1f6-b9d7607f9f62');
  });

  it('equal the reference derivation for any name', () => {
    const sameAsReference = fc.property(fc.string({ unit: 'binary', maxLength: 80 }), (name) => {
      expect(uuidFromName(name)).toBe(reference(name));
    });
    fc.assert(sameAsReference, { numRuns: 500 });
  });
});
