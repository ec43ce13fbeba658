/** A real graphql-ws client for end-to-end tests, and a subscription that collects what it is sent. */
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import type { ApiClient } from './platform.ts';

export const wsClient = (p: Pick<ApiClient, 'wsUrl'>, key: string): Client =>
  createClient({
    url: p.wsUrl,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${key}` },
    retryAttempts: 0,
    lazy: true,
  });

/**
 * Subscribes and collects results; `errors` gets a subscription's error or close, or the errors of
 * a result (a subscription its resolver refuses answers, as graphql-ws' reference server does,
 * with one `next` carrying the errors, then `complete`).
 */
export const subscribe = (client: Client, query: string, variables: Record<string, unknown> = {}) => {
  const results: any[] = [];
  const errors: unknown[] = [];
  let resolveNext: (() => void) | undefined;
  const dispose = client.subscribe(
    { query, variables },
    {
      next: (v) => {
        if (v.errors) errors.push(v.errors);
        else results.push(v);
        resolveNext?.();
      },
      error: (e) => {
        errors.push(e);
        resolveNext?.();
      },
      complete: () => resolveNext?.(),
    },
  );
  const waitFor = async (count: number, timeoutMs = 10_000) => {
    const deadline = Date.now() + timeoutMs;
    while (results.length < count && errors.length === 0 && Date.now() < deadline)
      await new Promise<void>((r) => {
        resolveNext = r;
        setTimeout(r, 100);
      });
  };
  return { results, errors, dispose, waitFor };
};
