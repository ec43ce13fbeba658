/**
 * Who is asking, by address: the socket's peer, or, when that peer is a proxy the operator named
 * (HCP_TRUSTED_PROXIES: addresses, CIDR ranges, or `loopback`, `linklocal`, `uniquelocal`), the
 * address it forwarded in X-Forwarded-For (the nearest one not itself trusted). From anyone else
 * the header is ignored: a client cannot pick the address its rate limit is counted against.
 */
import type { IncomingMessage } from 'node:http';
import proxyaddr from '@fastify/proxy-addr';

export type TrustProxy = (address: string, hop: number) => boolean;

/** Compiles the trusted list; throws naming the entry that is not an address or range. */
export const trustedProxies = (list: readonly string[]): TrustProxy | undefined => {
  if (list.length === 0) return undefined;
  try {
    return proxyaddr.compile([...list]);
  } catch (error) {
    throw new Error(`HCP_TRUSTED_PROXIES: ${(error as Error).message}`);
  }
};

export const clientAddress = (request: IncomingMessage, trust: TrustProxy | undefined) =>
  trust ? proxyaddr(request, trust) : (request.socket.remoteAddress ?? 'unknown');
