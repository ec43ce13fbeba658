/** A fleet to schedule on, for tests of the scheduler's parts: one facility of the seed, its price list, and a customer holding quota. */
import type { CommandDeps } from '../../commands/context.ts';
import { grantQuota, registerCustomer } from '../../commands/customers.ts';
import { registerScenario } from '../../commands/fleet.ts';
import { ensurePriceList } from '../../commands/price-list.ts';
import { SEED_SCENARIO } from '../../domain/fleet/inventory.ts';

export const testCaller = (commandId: string) => ({ commandId, correlationId: commandId, actor: 'test' });

/** Texas North (H100, A100 and L40S pools, all in warm standby) registered on `deps`, with a customer granted `quota`. */
export const texasNorthWithCustomer = async (deps: CommandDeps, quota: { gpuSeconds: number; budgetMicroUsd: number }) => {
  const facilities = SEED_SCENARIO.filter((f) => f.facilityId === 'texas-north');
  await registerScenario(deps, testCaller('scenario'), facilities);
  await ensurePriceList(deps);
  const { customerId } = await registerCustomer(deps, testCaller('register'), { name: 'C', tier: 'standard' });
  await grantQuota(deps, testCaller('grant'), { customerId, ...quota });
  return { facilities, customerId };
};
