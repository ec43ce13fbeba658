/** Workloads submitted through the API in end-to-end tests, and a workload subscription made live first. */
import { expect } from 'vitest';
import type { subscribe } from './graphql-ws.ts';
import type { ApiClient } from './platform.ts';

export const SUBMIT = `mutation($i: SubmitWorkloadInput!) { submitWorkload(input: $i) { id } }`;

/** Submits one-hour, one-A100 training runs as `key`, keeping their ids in order. */
export const workloadSubmitter = (api: Pick<ApiClient, 'gql'>, key: string) => {
  const submitted: string[] = [];
  const submit = async () => {
    const res = await api.gql(key, SUBMIT, { i: { type: 'model_training', model: 'llama-3-8b', gpuType: 'A100', gpuCount: 1, durationHours: 1 } });
    expect(res.body.errors, JSON.stringify(res.body.errors)).toBeUndefined();
    submitted.push(res.body.data.submitWorkload.id);
  };
  return { submitted, submit };
};

/** Submits until `updates` delivers one: from then on the subscription is live and must miss nothing. */
export const submitUntilLive = async (updates: ReturnType<typeof subscribe>, { submitted, submit }: ReturnType<typeof workloadSubmitter>) => {
  while (updates.results.length === 0 && submitted.length < 20) {
    await submit();
    await updates.waitFor(1, 1_000);
  }
  expect(updates.results.length).toBeGreaterThan(0);
};
