/**
 * What a worker (a process without the api role) serves: /health, with what it leads, for load
 * balancers and Kubernetes probes; and /metrics, its own process's registry (append and projection
 * batch histograms, Node.js metrics), to staff keys, checked as the API checks them.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { processMetrics } from '../infra/metrics.ts';
import type { Sql } from '../infra/postgres/database.ts';
import { createAuthenticator, requireRole, STAFF_ROLES } from './auth.ts';
import { replyWithError } from './errors.ts';

export const buildWorkerServer = ({ readModels, adminKey, health }: { readModels: Sql; adminKey: string; health: () => Record<string, unknown> }): FastifyInstance => {
  const app = Fastify({ logger: false });
  const authenticate = createAuthenticator(readModels, adminKey);
  app.setErrorHandler(replyWithError);
  app.get('/health', async () => ({ status: 'ok', ...health() }));
  app.get('/metrics', async (request, reply) => {
    requireRole(await authenticate(request.headers.authorization), ...STAFF_ROLES);
    return reply.header('content-type', processMetrics.contentType).send(await processMetrics.metrics());
  });
  return app;
};
