/**
 * The demo's load: a few customers of the demand simulator (simulators/demand/demand.ts)
 * submitting work on the platform's clock, so a newcomer sees workloads scheduled, running,
 * completing and billed from the first minute. Each simulated day's arrivals are drawn from a
 * seed of that day; each is submitted once its time has come, with a command id of its own,
 * so a restart submits nothing twice.
 */
import type { Logger } from 'pino';
import type { CommandDeps } from '../commands/context.ts';
import { grantQuota, registerCustomer } from '../commands/customers.ts';
import { CommandRejectedError } from '../commands/errors.ts';
import { submitWorkload } from '../commands/workloads.ts';
import { MAX_GRANTED } from '../domain/customer/customer.ts';
import { DAY_MS } from '../domain/time.ts';
import { arrivals, demandCustomers, type Arrival } from '../simulators/demand/demand.ts';

const POLL_MS = 100;

export const startDemoLoad = async (deps: CommandDeps, { perDay, logger }: { perDay: number; logger: Logger }) => {
  const log = logger.child({ component: 'demo-load' });
  const customers = demandCustomers(4, 'demo-load');
  const caller = (step: string) => ({ commandId: `demo-load:${step}`, correlationId: 'demo-load', actor: 'system:demo-load' });
  for (const c of customers) {
    await registerCustomer(deps, caller(`register:${c.customerId}`), { customerId: c.customerId, name: c.name, tier: c.tier }).catch((e) => {
      if (!(e instanceof CommandRejectedError && e.rejection.code === 'already_exists')) throw e;
    });
    await grantQuota(deps, caller(`grant:${c.customerId}`), { customerId: c.customerId, gpuSeconds: MAX_GRANTED.gpuSeconds / 100, budgetMicroUsd: MAX_GRANTED.budgetMicroUsd / 100 });
  }
  let day = Math.floor(deps.clock.now().getTime() / DAY_MS);
  let due: Arrival[] = [];
  const drawDay = (d: number) => arrivals({ seed: `demo-load/${d}`, startMs: d * DAY_MS, endMs: (d + 1) * DAY_MS, perDay, customers, burstsPerDay: 1, burstSize: 5 });
  due = drawDay(day).filter((a) => a.atMs >= deps.clock.now().getTime());
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const now = deps.clock.now().getTime();
      while (due.length > 0 && due[0]!.atMs <= now && !stopped) {
        const a = due.shift()!;
        await submitWorkload(deps, caller(`${day}:${a.n}`), { customerId: a.customerId, request: a.request }).catch((error: unknown) => {
          if (error instanceof CommandRejectedError) log.debug({ arrival: a.n, reason: error.message }, 'demo arrival refused');
          else log.warn({ err: error }, 'demo arrival failed');
        });
      }
      if (due.length === 0 && now >= (day + 1) * DAY_MS) due = drawDay(++day);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  })();
  return {
    customers: customers.length,
    async stop() {
      stopped = true;
      await loop;
    },
  };
};
