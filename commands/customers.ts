/** Customer accounts and their quota. */
import { customerDecider, customerStream } from '../domain/customer/customer.ts';
import type { CustomerTier } from '../domain/workload/request.ts';
import { accepted, contextFor, type Caller, type CommandDeps } from './context.ts';
import { handleCommand } from './handle.ts';
import { uuidFromName } from '../infra/ids.ts';

export const registerCustomer = async (
  deps: CommandDeps,
  caller: Caller,
  input: { customerId?: string; name: string; tier: CustomerTier },
) => {
  // derived from the command id, so the same command sent again names the same customer
  const customerId = input.customerId ?? `c-${uuidFromName(`register-customer:${caller.commandId}`).slice(0, 13).replace('-', '')}`;
  const handled = accepted(
    await handleCommand(
      deps.store,
      customerDecider,
      customerStream(customerId),
      { type: 'RegisterCustomer', customerId, name: input.name, tier: input.tier },
      contextFor(deps, caller),
    ),
  );
  const registered = handled.events.find((e) => e.type === 'CustomerRegistered');
  return { customerId: registered?.type === 'CustomerRegistered' ? registered.data.customerId : customerId, position: handled.position };
};

export const grantQuota = async (
  deps: CommandDeps,
  caller: Caller,
  input: { customerId: string; gpuSeconds: number; budgetMicroUsd: number },
) =>
  accepted(
    await handleCommand(
      deps.store,
      customerDecider,
      customerStream(input.customerId),
      { type: 'GrantQuota', gpuSeconds: input.gpuSeconds, budgetMicroUsd: input.budgetMicroUsd },
      contextFor(deps, caller),
    ),
  );
