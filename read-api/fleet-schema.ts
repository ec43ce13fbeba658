/** Operator data: facilities, resources, switches, switch latency (admins, auditors and analysts; not customers). */
export const fleetTypeDefs = /* GraphQL */ `
  enum ResourceKind { asic_group gpu_pool }
  enum ResourceMode { mining underclocked sleeping off warm_standby serving training }
  enum SwitchStatus { in_flight completed failed }

  type Facility {
    id: ID!
    name: String!
    "ERCOT settlement point pricing its electricity."
    marketNode: String!
    powerBudgetKw: Int!
    resources: [Resource!]!
  }

  type Resource {
    id: ID!
    facilityId: ID!
    kind: ResourceKind!
    "ASIC model or GPU type."
    model: String!
    units: Int!
    powerWPerUnit: Int!
    hashrateThsPerUnit: Int
    "GPU pools: GPUs held warm for real-time inference."
    warmStandbyUnits: Int
    "Nameplate draw in the current mode."
    powerKw: Float!
    mode: ResourceMode!
    healthy: Boolean!
    allocatedUnits: Int!
    switchInFlight: ID
  }

  type SwitchPhaseTiming { phase: String!, durationMs: Int!, at: String! }

  type Switch {
    id: ID!
    resourceId: ID!
    facilityId: ID!
    from: ResourceMode!
    to: ResourceMode!
    reason: String!
    status: SwitchStatus!
    phasesTotal: Int!
    phasesDone: Int!
    "Signal to endpoint ready, without the physical ASIC ramp."
    controlPathMs: Int
    "The ASIC ramp, reported beside the control path."
    physicalMs: Int
    failedPhase: String
    failureReason: String
    requestedAt: String!
    finishedAt: String
    phases: [SwitchPhaseTiming!]!
  }

  type LatencyPercentiles { p50Ms: Float, p95Ms: Float, p99Ms: Float, maxMs: Float }
  type SwitchLatency { completed: Int!, controlPath: LatencyPercentiles!, physicalRamp: LatencyPercentiles! }

  extend type Query {
    facilities: [Facility!]!
    resources(facilityId: ID, kind: ResourceKind, mode: ResourceMode): [Resource!]!
    switches(resourceId: ID, facilityId: ID, status: SwitchStatus, first: Int = 20): [Switch!]!
    switchLatency(facilityId: ID): SwitchLatency!
  }

  extend type Mutation {
    "Admin: switch a resource to another mode by hand."
    requestSwitch(resourceId: ID!, to: ResourceMode!, reason: String, commandId: ID): Switch!
  }

  extend type Subscription {
    "Each phase of switches, of one resource or all."
    switchProgress(resourceId: ID): Switch!
  }
`;
