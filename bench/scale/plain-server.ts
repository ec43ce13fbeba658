/**
 * The same read as GraphQL's `latestPrices`, served by plain fastify as JSON: the yardstick of
 * bench:scale (what HTTP, the pool and the query cost without GraphQL, keys and limits).
 * DATABASE_URL, HCP_PORT; prints "plain fastify listening" when ready.
 */
import Fastify from 'fastify';
import { createPgDatabase } from '../../infra/postgres/database.ts';
import { latestPrices } from '../../read-api/market-api.ts';

const db = await createPgDatabase({ connectionString: process.env.DATABASE_URL! });
const app = Fastify({ logger: false });
app.get('/prices', async () => ({ data: { latestPrices: await latestPrices(db) } }));
await app.listen({ host: '127.0.0.1', port: Number(process.env.HCP_PORT) });
process.stdout.write('plain fastify listening\n');
process.on('SIGTERM', () => void app.close().then(() => db.close()).then(() => process.exit(0)));
