/** Resolvers for market data, open to every authenticated role. */
import { z } from 'zod';
import { feedIdSchema, MARKET_NODES } from '../domain/market/ticks.ts';
import { InputError, parseInput } from './inputs.ts';
import { liveFeed, sharedLoad } from './live.ts';
import { bucketsSpanned, dayAheadPrices, latestPrice, latestPrices, MAX_BUCKETS, MAX_DAY_AHEAD_HOURS, networkStats, priceHistory, type Bucket } from './market-queries.ts';
import type { ApiContext, ApiServices } from './resolvers.ts';
import { HOUR_MS } from '../domain/time.ts';

/** An ISO time with any offset, passed on in UTC (PostgreSQL refuses year 0 and offsets past ±15:59 that ISO allows). */
const isoTime = z.iso
  .datetime({ offset: true })
  .transform((s) => new Date(s))
  .refine((d) => d.getUTCFullYear() >= 1 && d.getUTCFullYear() <= 9999, 'a time between years 1 and 9999')
  .transform((d) => d.toISOString());

/** A `from`..`to` pair of arguments, each parsed, `to` not before `from`. */
const timeRange = (args: { from: string; to: string }) => {
  const [from, to] = [parseInput(isoTime, args.from, 'from'), parseInput(isoTime, args.to, 'to')];
  if (Date.parse(to) < Date.parse(from)) throw new InputError('to', `${to} is before from (${from})`);
  return { from, to };
};

export const createMarketResolvers = ({ readModels: db, feed }: ApiServices) => {
  const deliveredPrice = sharedLoad(feed, (c) => (c.topic === 'price' ? c.feed : undefined), (f) => latestPrice(db, f));
  return {
    Query: {
      latestPrices: () => latestPrices(db),
      prices: (_: unknown, args: { feed: string; from: string; to: string; bucket?: Bucket }) => {
        const feedId = parseInput(feedIdSchema, args.feed, 'feed');
        const { from, to } = timeRange(args);
        const bucket = args.bucket ?? 'HOUR';
        // bounded before the database sees it: the aggregate would otherwise read every tick in the range
        const spanned = bucketsSpanned(Date.parse(from), Date.parse(to), bucket);
        if (spanned > MAX_BUCKETS)
          throw new InputError('to', `from..to spans ${spanned} ${bucket} buckets; at most ${MAX_BUCKETS}: narrow the range or use a larger bucket`);
        return priceHistory(db, { feed: feedId, from, to, bucket });
      },
      networkStats: () => networkStats(db),
      dayAheadPrices: (_: unknown, args: { node: string; from: string; to: string }) => {
        const node = parseInput(z.enum(MARKET_NODES, { message: `one of ${MARKET_NODES.join(', ')}` }), args.node, 'node');
        const { from, to } = timeRange(args);
        const hours = Math.ceil((Date.parse(to) - Date.parse(from)) / HOUR_MS);
        if (hours > MAX_DAY_AHEAD_HOURS) throw new InputError('to', `from..to spans ${hours} hours; at most ${MAX_DAY_AHEAD_HOURS}`);
        return dayAheadPrices(db, { node, from, to });
      },
    },
    Subscription: {
      priceTicked: {
        subscribe: async (_: unknown, args: { feed?: string | null }, _ctx: ApiContext) => {
          const only = args.feed == null ? undefined : parseInput(feedIdSchema, args.feed, 'feed');
          return liveFeed({
            feed,
            select: (c) => (c.topic === 'price' && c.feed !== 'network-btc' && (!only || c.feed === only) ? c.feed : undefined),
            load: deliveredPrice,
          });
        },
        resolve: (payload: unknown) => payload,
      },
    },
  };
};
