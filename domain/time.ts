/**
 * Time, in one place: instants are epoch milliseconds (or ISO-8601 UTC text at the edges), and
 * durations milliseconds unless a name says seconds. Months are `yyyymm` (billing periods).
 */
export const SECOND_MS = 1000;
export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

/** ISO-8601 UTC text of an instant, e.g. 2023-08-20T00:00:00.000Z. */
export const iso = (t: number | string | Date): string => new Date(t).toISOString();

/** The same, or null for null (a nullable column). */
export const isoOrNull = (t: number | string | Date | null | undefined): string | null => (t === null || t === undefined ? null : iso(t));

/** ISO text without the seconds when they are zero: 2023-08-20T00:15Z (reports). */
export const isoMinute = (ms: number): string => iso(ms).replace(':00.000Z', 'Z');

/** A billing month, `yyyymm`. */
export type Month = string;

export const monthOf = (t: number | string): Month => {
  const d = new Date(t);
  return `${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
};

export const isMonth = (m: string): boolean => /^(19|20|21)\d{2}(0[1-9]|1[0-2])$/.test(m);

/** First instant of a month. */
export const monthStartMs = (m: Month): number => Date.UTC(Number(m.slice(0, 4)), Number(m.slice(4, 6)) - 1, 1);

/** First instant after a month. */
export const monthEndMs = (m: Month): number => Date.UTC(Number(m.slice(0, 4)), Number(m.slice(4, 6)), 1);

export const nextMonth = (m: Month): Month => monthOf(monthEndMs(m));
