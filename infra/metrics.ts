/**
 * The process's own metrics, in one prom-client registry: default Node.js process metrics (CPU,
 * memory, event-loop lag, GC), and latency histograms of the three paths that make HCP fast or
 * slow: HTTP requests, event appends and projection batches. Recorded where they happen; served
 * with the platform's state by GET /metrics (read-api/metrics.ts).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { EventStore } from './event-store/types.ts';

export const processMetrics = new Registry();
collectDefaultMetrics({ register: processMetrics });

// sub-millisecond to seconds: an append or a simple read takes a few ms, a slow batch seconds
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export const marketSpeed = new Gauge({
  name: 'hcp_market_speed',
  help: 'Simulated seconds per real second the platform clock runs at now (the embedded platform slows it while its event loop lags).',
  registers: [processMetrics],
});

export const httpRequests = new Counter({
  name: 'hcp_http_requests_total',
  help: 'HTTP requests answered, by method, route and status.',
  labelNames: ['method', 'route', 'status'] as const,
  registers: [processMetrics],
});

export const httpDuration = new Histogram({
  name: 'hcp_http_request_duration_seconds',
  help: 'Time to answer an HTTP request, by method and route.',
  labelNames: ['method', 'route'] as const,
  buckets: LATENCY_BUCKETS,
  registers: [processMetrics],
});

export const appendDuration = new Histogram({
  name: 'hcp_event_append_duration_seconds',
  help: 'Time to append events to a stream, by store and outcome.',
  labelNames: ['store', 'outcome'] as const,
  buckets: LATENCY_BUCKETS,
  registers: [processMetrics],
});

export const projectionBatchDuration = new Histogram({
  name: 'hcp_projection_batch_duration_seconds',
  help: 'Time to apply one batch of events to every projection, in its transaction.',
  buckets: LATENCY_BUCKETS,
  registers: [processMetrics],
});

export const projectionBatchEvents = new Counter({
  name: 'hcp_projection_batch_events_total',
  help: 'Events the projection runner of this process has read in its batches.',
  registers: [processMetrics],
});

/** The store with every append timed (ok, or the error's name: a conflict, a refused event). */
export const timedStore = (store: EventStore): EventStore => ({
  ...store,
  kind: store.kind,
  async appendToStream(streamName, events, options) {
    const end = appendDuration.startTimer({ store: store.kind });
    try {
      const result = await store.appendToStream(streamName, events, options);
      end({ outcome: 'ok' });
      return result;
    } catch (error) {
      end({ outcome: error instanceof Error ? error.name : 'error' });
      throw error;
    }
  },
});
