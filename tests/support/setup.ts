import fc from 'fast-check';

// Property tests are deterministic in CI: a fixed seed (override with FC_SEED to explore)
// and a bounded number of runs. A failure prints its seed, path and counterexample.
fc.configureGlobal({
  seed: Number(process.env.FC_SEED ?? 20261126),
  numRuns: Number(process.env.FC_NUM_RUNS ?? 50),
  endOnFailure: true,
});
