/** Topic names of the platform's bus (Kafka, or the in-process bus). */
export const TOPICS = {
  /** Price ticks and network stats from simulators and real feeds (JSON MarketTick, key = market stream). */
  marketTicks: 'hcp.market.ticks',
  /** Market messages that ingestion could not accept (bad JSON, schema violation), with the error. */
  marketTicksDlq: 'hcp.market.ticks.dlq',
  /** GPU samples (temperature, power, ECC and XID errors), a pool's batch per message (key = the pool). */
  gpuTelemetry: 'hcp.gpu.telemetry',
} as const;

/** Consumer groups. */
export const GROUPS = {
  ingestion: 'hcp-ingestion',
  telemetry: 'hcp-telemetry',
} as const;
