/** Read model of the economic controller's recommendations (the latest per facility, and their history). */
import type { RecordedEvent } from '../infra/event-store/types.ts';
import { oneByOne, type Change, type Projection } from './projection.ts';

const SCHEMA = /* sql */ `
CREATE TABLE IF NOT EXISTS rm_recommendations (
  facility_id     text NOT NULL,
  interval_start  timestamptz NOT NULL,
  changed         boolean NOT NULL,
  confidence      double precision NOT NULL,
  reason          text NOT NULL,
  recommendation  jsonb NOT NULL,
  PRIMARY KEY (facility_id, interval_start)
);
`;

export const economicsProjection: Projection = {
  name: 'economics',
  eventTypes: new Set(['RecommendationIssued']),
  schema: SCHEMA,
  tables: ['rm_recommendations'],
  apply: oneByOne(async (tx, recorded: RecordedEvent): Promise<Change[]> => {
    if (recorded.type !== 'RecommendationIssued') return [];
    const r = recorded.data as { facilityId: string; intervalStart: string; changed: boolean; confidence: number; reason: string };
    await tx.query(
      `INSERT INTO rm_recommendations (facility_id, interval_start, changed, confidence, reason, recommendation)
       VALUES ($1, $2, $3, $4, $5, $6::jsonb) ON CONFLICT DO NOTHING`,
      [r.facilityId, r.intervalStart, r.changed, r.confidence, r.reason, JSON.stringify(recorded.data)],
    );
    return [{ topic: 'recommendation', facilityId: r.facilityId }];
  }),
};
