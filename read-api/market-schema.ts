/** Market data: visible to every role (customers see prices, nothing of other customers). */
export const marketTypeDefs = /* GraphQL */ `
  enum PriceBucket { MINUTE FIVE_MINUTES FIFTEEN_MINUTES HOUR DAY }

  type Price {
    "btc-usd, power-<ercot hub>, gpu-<type>"
    feed: String!
    at: String!
    priceMicroUsd: SafeInt!
    priceUsd: Float!
  }

  type PriceBar {
    start: String!
    openMicroUsd: SafeInt!
    highMicroUsd: SafeInt!
    lowMicroUsd: SafeInt!
    closeMicroUsd: SafeInt!
    averageMicroUsd: SafeInt!
    closeUsd: Float!
    ticks: Int!
  }

  type NetworkStats { at: String!, difficulty: Float!, subsidySats: SafeInt!, feesPerBlockSats: SafeInt! }

  "A node's day-ahead price for one hour, as published before it (USD/MWh)."
  type DayAheadPrice { node: String!, hour: String!, priceMicroUsd: SafeInt!, priceUsd: Float!, publishedAt: String! }

  extend type Query {
    latestPrices: [Price!]!
    "Bars of one feed in [from, to), at most 5,000 buckets."
    prices(feed: String!, from: String!, to: String!, bucket: PriceBucket = HOUR): [PriceBar!]!
    networkStats: NetworkStats
    "Day-ahead prices of an ERCOT hub (HB_WEST, HB_NORTH, …) for the hours in [from, to), at most 744 hours (a month)."
    dayAheadPrices(node: String!, from: String!, to: String!): [DayAheadPrice!]!
  }

  extend type Subscription {
    "Each new price of a feed, or of every feed."
    priceTicked(feed: String): Price!
  }
`;
