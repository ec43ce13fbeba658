/**
 * Files HCP serves to browsers itself (no CDN: pages work without internet): a fixed list per
 * prefix, looked up by name, never a path taken from the request. Read once, kept in memory.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';

const require = createRequire(import.meta.url);

/** An installed package's folder (its package.json's), for assets shipped inside it. */
export const packageDir = (name: string) => path.dirname(require.resolve(`${name}/package.json`));

export const JS = 'text/javascript; charset=utf-8';
export const CSS = 'text/css; charset=utf-8';

export type Assets = Record<string, { file: () => string; type: string }>;

/** GET `${prefix}/:file` for each named asset; anything else 404. */
export const serveAssets = (app: FastifyInstance, prefix: string, assets: Assets) => {
  const cache = new Map<string, Promise<Buffer>>();
  app.get<{ Params: { file: string } }>(`${prefix}/:file`, async (request, reply) => {
    const name = request.params.file;
    const asset = Object.hasOwn(assets, name) ? assets[name] : undefined;
    if (!asset) return reply.code(404).send({ error: { code: 'NOT_FOUND', message: `no asset ${name.slice(0, 100)}` } });
    let body = cache.get(name);
    if (!body) {
      body = readFile(asset.file());
      cache.set(name, body);
      body.catch(() => cache.delete(name));
    }
    return reply.header('content-type', asset.type).header('cache-control', 'public, max-age=3600').send(await body);
  });
};

/** An HTML page, never cached (it names the assets of this version). */
export const servePage = (app: FastifyInstance, url: string, html: string) =>
  app.get(url, async (_request, reply) => reply.header('content-type', 'text/html; charset=utf-8').header('cache-control', 'no-store').send(html));
