/** Customer accounts and their quota. */
import { customerDecider, customerStream } from '../domain/customer/customer.ts';
import type { CustomerTier } from '../domain/workload/request.ts';
import { accepted, contextFor, type Caller, type CommandDeps } from './context.ts';
import { handleCommand } from './handle.ts';

export const registerCustomer = async (
  deps: CommandDeps,
  caller: Caller,
  input: { customerId?: string; name: string; tier: CustomerTier },
) => {
  const customerId = input.customerId ?? deps.ids.id('c');
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
