/**
 * A digest pins the store as it stood: the head (revision and hash) of every stream and the hash
 * of the whole log in store order. Kept outside HCP (say, daily), it lets an auditor detect a
 * rewrite of history even when every chain was recomputed to look whole: the heads it names and
 * the log up to its position must still hash the same.
 */
import type { ChainWalk, Walked } from './chains.ts';
import { encodePosition } from '../infra/event-store/position.ts';
import type { RecordedEvent } from '../infra/event-store/types.ts';

export const DIGEST_FORMAT = 'hcp-audit-digest/1';

export type Digest = {
  format: typeof DIGEST_FORMAT;
  takenAt: string;
  store: string;
  /** Events in the log when it was taken, and the position of the last of them (null: empty log). */
  events: number;
  position: string | null;
  logHash: string;
  streams: Record<string, { revision: string; hash: string }>;
};

export const digestOf = (walk: ChainWalk, last: Walked | undefined, store: string, takenAt: string): Digest => ({
  format: DIGEST_FORMAT,
  takenAt,
  store,
  events: walk.events,
  position: last ? encodePosition(last.position) : null,
  logHash: walk.logHash,
  streams: Object.fromEntries([...walk.heads].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, h]) => [name, { revision: h.revision.toString(), hash: h.hash }])),
});

export type DigestDifference =
  | { kind: 'head-changed'; stream: string; revision: string; digest: string; now: string }
  | { kind: 'stream-shorter'; stream: string; revision: string; nowRevision: string | null }
  | { kind: 'log-changed'; events: number; digestPosition: string | null; nowPosition: string; digest: string; now: string }
  | { kind: 'log-shorter'; events: number; nowEvents: number };

/** Refuses what is not a digest, naming the field, so a wrong file is not mistaken for a clean check. */
export const parseDigest = (text: string): Digest => {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error('digest: not JSON');
  }
  const d = value as Partial<Digest>;
  if (typeof d !== 'object' || d === null || d.format !== DIGEST_FORMAT) throw new Error(`digest.format: expected ${JSON.stringify(DIGEST_FORMAT)}`);
  if (!Number.isSafeInteger(d.events) || d.events! < 0) throw new Error('digest.events: expected a whole number');
  if (typeof d.logHash !== 'string') throw new Error('digest.logHash: expected a hash');
  if (d.position !== null && typeof d.position !== 'string') throw new Error('digest.position: expected a position or null');
  if (typeof d.streams !== 'object' || d.streams === null) throw new Error('digest.streams: expected an object');
  for (const [name, head] of Object.entries(d.streams)) {
    if (typeof head?.hash !== 'string' || !/^\d+$/.test(String(head?.revision))) throw new Error(`digest.streams[${JSON.stringify(name)}]: expected {revision, hash}`);
  }
  return d as Digest;
};

/** Checks a walk against a digest as the walk goes: call `see` after the walk took each event, `finish` at the end. */
export const digestCheck = (digest: Digest) => {
  const differences: DigestDifference[] = [];
  return {
    differences,
    see(e: Walked, walk: ChainWalk) {
      const head = digest.streams[e.streamName];
      if (head && head.revision === e.revision.toString() && head.hash !== e.hash) {
        differences.push({ kind: 'head-changed', stream: e.streamName, revision: head.revision, digest: head.hash, now: e.hash });
      }
      if (walk.events === digest.events) {
        const nowPosition = encodePosition(e.position);
        if (walk.logHash !== digest.logHash || nowPosition !== digest.position) {
          differences.push({ kind: 'log-changed', events: digest.events, digestPosition: digest.position, nowPosition, digest: digest.logHash, now: walk.logHash });
        }
      }
    },
    finish(walk: ChainWalk) {
      if (walk.events < digest.events) differences.push({ kind: 'log-shorter', events: digest.events, nowEvents: walk.events });
      for (const [stream, head] of Object.entries(digest.streams)) {
        const now = walk.heads.get(stream);
        if (!now || now.revision < BigInt(head.revision)) {
          differences.push({ kind: 'stream-shorter', stream, revision: head.revision, nowRevision: now ? now.revision.toString() : null });
        }
      }
      return differences;
    },
  };
};

export const describeDifference = (d: DigestDifference): string => {
  switch (d.kind) {
    case 'head-changed':
      return `${d.stream}@${d.revision}: hash ${d.now.slice(0, 12)}… is not the digest's ${d.digest.slice(0, 12)}… (history rewritten)`;
    case 'stream-shorter':
      return `${d.stream}: the digest saw revision ${d.revision}, the store now ends at ${d.nowRevision ?? 'nothing'} (events removed)`;
    case 'log-changed':
      return `the first ${d.events} events of the log no longer hash as in the digest (digest position ${d.digestPosition}, now ${d.nowPosition}): events before it were changed, added, removed or reordered`;
    case 'log-shorter':
      return `the digest counted ${d.events} events, the log now holds ${d.nowEvents}`;
  }
};
