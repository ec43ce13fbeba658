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

  extend type Query {
    latestPrices: [Price!]!
    "Bars of one feed in [from, to), at most 5,000 buckets."
    prices(feed: String!, from: String!, to: String!, bucket: PriceBucket = HOUR): [PriceBar!]!
    networkStats: NetworkStats
  }

  extend type Subscription {
    "Each new price of a feed, or of every feed."
    priceTicked(feed: String): Price!
  }
`;
