/** The GraphQL schema (SDL). Money is integer micro-USD (SafeInt) with a formatted USD string beside it. */
export const typeDefs = /* GraphQL */ `
  "An integer between -(2^53-1) and 2^53-1, e.g. micro-USD amounts."
  scalar SafeInt

  enum Role { admin customer auditor analyst }
  enum Tier { standard premium enterprise }
  enum WorkloadType { ai_inference_realtime ai_inference_batch model_training }
  enum GpuType { H100 A100 L40S }
  enum Priority { P1 P2 P3 P4 }
  enum WorkloadStatus { submitted queued allocated running preempted completed failed cancelled }

  type Principal {
    role: Role!
    keyId: ID!
    "The customer account, for customer keys."
    customer: Customer
  }

  type Amount {
    gpuSeconds: SafeInt!
    gpuHours: Float!
    budgetMicroUsd: SafeInt!
    "Decimal USD, e.g. \\"1500.00\\"."
    budgetUsd: String!
  }

  type Balance {
    customerId: ID!
    granted: Amount!
    reserved: Amount!
    consumed: Amount!
    available: Amount!
  }

  type Customer {
    id: ID!
    name: String!
    tier: Tier!
    registeredAt: String!
    balance: Balance!
  }

  type StatusChange {
    status: WorkloadStatus!
    reason: String
    at: String!
  }

  type Workload {
    id: ID!
    customerId: ID!
    type: WorkloadType!
    model: String!
    gpuType: GpuType!
    gpuCount: Int!
    maxLatencyMs: Int
    durationSeconds: Int!
    durationHours: Float!
    priority: Priority
    priorityReason: String
    status: WorkloadStatus!
    "GPU time and budget held for this workload."
    reserved: Amount!
    submittedAt: String!
    updatedAt: String!
    history: [StatusChange!]!
  }

  type WorkloadEdge { cursor: String!, node: Workload! }
  type PageInfo { hasNextPage: Boolean!, endCursor: String }
  type WorkloadConnection { edges: [WorkloadEdge!]!, nodes: [Workload!]!, pageInfo: PageInfo! }

  type IssuedApiKey {
    keyId: ID!
    "The key itself: shown once, stored only as a hash."
    key: String!
    role: Role!
    customerId: ID
  }

  type ApiKey { keyId: ID!, role: Role!, customerId: ID, revoked: Boolean!, label: String! }

  input RegisterCustomerInput { name: String!, tier: Tier = standard, customerId: ID }
  input GrantQuotaInput { customerId: ID!, gpuHours: Float!, "Decimal USD, e.g. \\"1500.00\\"." budgetUsd: String! }
  input SubmitWorkloadInput {
    type: WorkloadType!
    model: String!
    gpuType: GpuType!
    gpuCount: Int = 1
    "Required for real-time inference."
    maxLatencyMs: Int
    durationHours: Float!
    "Staff only: the customer to submit for."
    customerId: ID
  }

  type Query {
    me: Principal!
    workload(id: ID!): Workload
    "Newest first. Customers see their own; staff may filter by customerId."
    workloads(status: WorkloadStatus, first: Int = 20, after: String, customerId: ID): WorkloadConnection!
    balance(customerId: ID): Balance!
    customers(first: Int = 50): [Customer!]!
  }

  "Every mutation takes an optional commandId: sending the same one again appends nothing new."
  type Mutation {
    registerCustomer(input: RegisterCustomerInput!, commandId: ID): Customer!
    grantQuota(input: GrantQuotaInput!, commandId: ID): Balance!
    issueApiKey(role: Role!, customerId: ID, label: String, commandId: ID): IssuedApiKey!
    revokeApiKey(keyId: ID!, commandId: ID): ApiKey!
    submitWorkload(input: SubmitWorkloadInput!, commandId: ID): Workload!
    cancelWorkload(id: ID!, commandId: ID): Workload!
  }

  type Subscription {
    "Updates of one of your workloads, or of all of them when id is omitted."
    workloadUpdated(id: ID): Workload!
  }
`;
