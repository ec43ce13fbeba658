/**
 * `hcp audit replay|verify|digest`: an auditor's tools over the event store the configuration
 * names (DATABASE_URL, ESDB_CONNECTION_STRING, or the embedded data folder while HCP is stopped).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { describeBreak, walkChains, type Walked } from '../audit/chains.ts';
import { describeDifference, digestOf, parseDigest, type Digest } from '../audit/digest.ts';
import { derivedChecks } from '../audit/derived.ts';
import { eventJson, eventText, logAsStored, replay, type ReplayFilter } from '../audit/replay.ts';
import { verifyStore, type VerifyReport } from '../audit/verify.ts';
import { decodePosition } from '../infra/event-store/position.ts';
import type { EventStore, RecordedEvent } from '../infra/event-store/types.ts';

export const AUDIT_USAGE = `usage:
  hcp audit replay [--stream S | --category C] [--type T]... [--after POS] [--until POS]
                   [--from ISO] [--to ISO] [--limit N] [--format text|jsonl]
                                       events in store order (POS is commit/prepare as printed)
  hcp audit verify [--digest FILE] [--json] [--chains-only]
                                       recompute every hash chain and every derived fact; exit 1 on any difference
  hcp audit digest [--out FILE]        the head of every stream and of the log, to check against later`;

/** A usage mistake: the message names the flag; exit code 2. */
export class AuditUsageError extends Error {}

const usage = (message: string) => new AuditUsageError(`${message}\n${AUDIT_USAGE}`);

/** Runs a parseArgs call, turning its complaint (unknown flag, missing value) into a usage error. */
const flags = <R>(parse: () => R): R => {
  try {
    return parse();
  } catch (error) {
    throw usage((error as Error).message);
  }
};

const position = (flag: string, v: string | undefined) => {
  if (v === undefined) return undefined;
  try {
    return decodePosition(v);
  } catch {
    throw usage(`--${flag}: expected a position commit/prepare (as replay prints it), got ${JSON.stringify(v)}`);
  }
};

const time = (flag: string, v: string | undefined) => {
  if (v === undefined) return undefined;
  const ms = /^\d{4}-\d{2}-\d{2}/.test(v) ? Date.parse(v) : NaN;
  if (Number.isNaN(ms)) throw usage(`--${flag}: expected an ISO time such as 2024-05-14T12:00:00Z, got ${JSON.stringify(v)}`);
  return ms;
};

/** Writes to stdout and waits when its buffer is full, so millions of events stream in bounded memory. */
const write = (text: string) =>
  new Promise<void>((resolve, reject) => {
    if (process.stdout.write(text)) resolve();
    else process.stdout.once('drain', resolve).once('error', reject);
  });

export const replayFilterOf = (argv: readonly string[]): { filter: ReplayFilter; format: 'text' | 'jsonl' } => {
  const v = flags(() => parseArgs({ args: [...argv], strict: true, options: {
    stream: { type: 'string' },
    category: { type: 'string' },
    type: { type: 'string', multiple: true },
    after: { type: 'string' },
    until: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    limit: { type: 'string' },
    format: { type: 'string' },
  } }).values);
  const format = v.format ?? 'text';
  if (format !== 'text' && format !== 'jsonl') throw usage(`--format: expected text or jsonl, got ${JSON.stringify(format)}`);
  if (v.stream !== undefined && v.category !== undefined) throw usage('--stream and --category: give one or the other');
  const limit = v.limit === undefined ? undefined : Number(v.limit);
  if (limit !== undefined && !(Number.isSafeInteger(limit) && limit > 0)) throw usage(`--limit: expected a whole number above 0, got ${JSON.stringify(v.limit)}`);
  const filter: ReplayFilter = {
    ...(v.stream !== undefined ? { stream: v.stream } : {}),
    ...(v.category !== undefined ? { category: v.category } : {}),
    ...(v.type ? { types: (v.type ).flatMap((t) => t.split(',')).filter(Boolean) } : {}),
    ...(v.after !== undefined ? { after: position('after', v.after) } : {}),
    ...(v.until !== undefined ? { until: position('until', v.until) } : {}),
    ...(v.from !== undefined ? { fromMs: time('from', v.from) } : {}),
    ...(v.to !== undefined ? { toMs: time('to', v.to) } : {}),
    ...(limit !== undefined ? { limit } : {}),
  };
  return { filter, format };
};

const replayCommand = (argv: readonly string[]) => {
  const { filter, format } = replayFilterOf(argv);
  return async (store: EventStore) => {
  let n = 0;
  for await (const e of replay(store, filter)) {
    n++;
    await write(format === 'jsonl' ? `${JSON.stringify(eventJson(e))}\n` : eventText(e));
  }
  if (format === 'text') process.stderr.write(`${n} event(s)\n`);
  };
};

const bigintsAsText = (_key: string, value: unknown) => (typeof value === 'bigint' ? value.toString() : value);

export const reportText = (r: VerifyReport): string => {
  const lines = [
    `${r.events} events in ${r.streams} streams, up to position ${r.position ?? '(none)'}; log hash ${r.logHash || '(empty)'}`,
    `hash chains: ${r.chain.count === 0 ? 'every stream intact' : `${r.chain.count} break(s)`}`,
    ...r.chain.listed.map((b) => `  ${describeBreak(b)}`),
  ];
  if (r.digest) {
    lines.push(`digest of ${r.digest.takenAt} (${r.digest.events} events): ${r.digest.count === 0 ? 'the log still holds it unchanged' : `${r.digest.count} difference(s)`}`);
    // the listed items are digest differences; their type is carried by the report
    lines.push(...r.digest.listed.map((d) => `  ${describeDifference(d)}`));
  }
  if (r.derived.checks.length > 0) {
    lines.push(`derived facts: ${r.derived.checks.map((c) => `${c.name} ${c.checked}`).join(', ')} checked; ${r.derived.count === 0 ? 'all follow from the events' : `${r.derived.count} difference(s)`}`);
    lines.push(...r.derived.listed.map((d) => `  [${d.check}] ${d.stream}@${d.revision}: ${d.message}`));
  }
  const listedAll = r.chain.listed.length === r.chain.count && r.derived.listed.length === r.derived.count && (r.digest?.listed.length ?? 0) === (r.digest?.count ?? 0);
  if (!listedAll) lines.push('(only the first findings of each kind are listed; every one is counted)');
  lines.push(r.ok ? 'OK' : 'DIFFERENCES FOUND');
  return `${lines.join('\n')}\n`;
};

const verifyCommand = async (argv: readonly string[]) => {
  const v = flags(() => parseArgs({ args: [...argv], strict: true, options: { digest: { type: 'string' }, json: { type: 'boolean' }, 'chains-only': { type: 'boolean' } } }).values);
  let digest: Digest | undefined;
  if (v.digest !== undefined) {
    const text = await readFile(v.digest, 'utf8').catch((error: Error) => {
      throw usage(`--digest: cannot read ${JSON.stringify(v.digest)}: ${error.message}`);
    });
    try {
      digest = parseDigest(text);
    } catch (error) {
      throw usage(`--digest ${v.digest}: ${(error as Error).message}`);
    }
  }
  return async (store: EventStore) => {
  const started = Date.now();
  const report = await verifyStore(store, {
    ...(digest ? { digest } : {}),
    derived: v['chains-only'] ? [] : derivedChecks(),
    onProgress: (n) => process.stderr.write(`… ${n} events\n`),
  });
  const elapsedMs = Date.now() - started;
  await write(v.json ? `${JSON.stringify({ ...report, elapsedMs }, bigintsAsText)}\n` : `${reportText(report)}(${elapsedMs} ms)\n`);
  if (!report.ok) process.exitCode = 1;
  };
};

const digestCommand = (argv: readonly string[], nowIso: string) => {
  const v = flags(() => parseArgs({ args: [...argv], strict: true, options: { out: { type: 'string' } } }).values);
  return async (store: EventStore) => {
  const walk = walkChains();
  let breaks = 0;
  let last: Walked | undefined;
  for await (const e of logAsStored(store)) {
    breaks += walk.add(e).length;
    last = e;
  }
  const text = `${JSON.stringify(digestOf(walk, last, store.kind, nowIso), null, 2)}\n`;
  if (v.out !== undefined) await writeFile(v.out, text);
  else await write(text);
  process.stderr.write(`digest of ${walk.events} events in ${walk.heads.size} streams${v.out ? ` written to ${v.out}` : ''}\n`);
  if (breaks > 0) {
    // the digest pins what is there, breaks included; say so rather than bless it
    process.stderr.write(`warning: ${breaks} chain break(s) in the log as digested: run hcp audit verify\n`);
    process.exitCode = 1;
  }
  };
};

export const AUDIT_COMMANDS = ['replay', 'verify', 'digest'] as const;

/** Checks the flags (and reads a digest) first, then gives what runs against the store, so a usage mistake never waits for a database. */
export const auditCommand = async (sub: string | undefined, argv: readonly string[], nowIso: string): Promise<(store: EventStore) => Promise<void>> => {
  if (sub === 'replay') return replayCommand(argv);
  if (sub === 'verify') return verifyCommand(argv);
  if (sub === 'digest') return digestCommand(argv, nowIso);
  throw usage(`audit: expected one of ${AUDIT_COMMANDS.join(', ')}`);
};
