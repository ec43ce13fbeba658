/** REST: the seed's submit call and health. JSON errors name the field; unknown fields are refused. */
import type { FastifyInstance } from 'fastify';
import { callerCommandId, requestDigest } from '../commands/context.ts';
import { renameRejectedField } from './errors.ts';
import { submitWorkload } from '../commands/workloads.ts';
import type { Authenticator } from './auth.ts';
import { requireRole, scopeCustomer } from './auth.ts';
import { commandIdSchema, InputError, parseInput, restSubmitBody } from './inputs.ts';
import { findWorkload } from './queries.ts';
import type { ApiServices } from './resolvers.ts';

export const registerRest = (app: FastifyInstance, services: ApiServices, authenticate: Authenticator) => {
  app.get('/health', async () => ({ status: 'ok' }));

  app.post('/api/v1/workloads', async (request, reply) => {
    const principal = await authenticate(request.headers.authorization);
    requireRole(principal, 'customer', 'admin');
    if (request.body === undefined || request.body === null || typeof request.body !== 'object' || Array.isArray(request.body))
      throw new InputError('body', 'expected a JSON object');
    const input = parseInput(restSubmitBody, request.body);
    const customerId = scopeCustomer(principal, input.customerId);
    if (!customerId) throw new InputError('customer_id', 'staff must name the customer to submit for');
    const idempotencyKey = request.headers['idempotency-key'];
    const commandId = callerCommandId(
      idempotencyKey === undefined ? services.deps.ids.id('cmd') : parseInput(commandIdSchema, idempotencyKey, 'Idempotency-Key'),
    );
    // a refusal names fields as this API spells them: the command id is the Idempotency-Key header, the rest snake_case
    const { workloadId, position } = await submitWorkload(
      services.deps,
      { commandId, correlationId: request.id, actor: `${principal.role}:${principal.keyId}`, requestDigest: requestDigest({ restSubmit: request.body }) },
      { customerId, request: input.request },
    ).catch(renameRejectedField((field) => (field === 'commandId' ? 'Idempotency-Key' : field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`))));
    await services.progress.waitFor(position, 10_000);
    const workload = await findWorkload(services.readModels, workloadId);
    return reply.code(201).send({
      workload_id: workloadId,
      status: workload?.status ?? 'submitted',
      priority: workload?.priority ?? null,
      priority_reason: workload?.priorityReason ?? null,
      reserved_usd: workload?.reserved.budgetUsd ?? null,
    });
  });
};
