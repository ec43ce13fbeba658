/** Small helpers of the Kafka adapter: pauses, bounded waits, headers as text, clients connected on first use. */

/** The `n`-th back-off (from 0): the first retry time, doubled each time, up to the largest. */
export const backoffMs = (retry: { initialRetryTime: number; maxRetryTime: number }, n: number) => Math.min(retry.initialRetryTime * 2 ** Math.min(n, 10), retry.maxRetryTime);

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Resolves with `promise`, or after `ms` with undefined (and logs): shutting down must not hang on a dead broker. */
export const within = async <T>(promise: Promise<T>, ms: number, onTimeout: () => void): Promise<T | undefined> => {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => {
      onTimeout();
      resolve(undefined);
    }, ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
};

export const headersOf = (headers: Record<string, unknown> | undefined): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) {
    const one = Array.isArray(v) ? v[0] : v;
    if (one !== undefined && one !== null) out[k] = Buffer.isBuffer(one) ? one.toString('utf8') : String(one);
  }
  return out;
};

/**
 * A client connected on first use and shared after; a failed connect is tried again
 * on the next use, and a broken client can be forgotten so the next use makes a new one.
 */
export const lazyClient = <C extends { connect(): Promise<void> }>(create: () => C) => {
  let client: Promise<C> | undefined;
  return {
    get: (): Promise<C> =>
      (client ??= (async () => {
        const c = create();
        await c.connect();
        return c;
      })().catch((error) => {
        client = undefined;
        throw error;
      })),
    /** The connected client, if there is one (never throws). */
    current: async (): Promise<C | undefined> => client?.catch(() => undefined),
    async forget(broken: C) {
      if (client && (await client.catch(() => undefined)) === broken) client = undefined;
    },
  };
};
