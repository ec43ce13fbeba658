/**
 * GraphiQL at /graphiql with every asset served by HCP itself (React, ReactDOM, GraphiQL and its
 * stylesheet from the installed packages), so the page works without internet, where mercurius'
 * own page loads them from a CDN and stays blank. The page asks for an API key once (kept in the
 * tab's sessionStorage, never sent anywhere but this server) and uses it for queries over HTTP
 * and subscriptions over graphql-ws alike.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';

const require = createRequire(import.meta.url);
const packageDir = (name: string) => path.dirname(require.resolve(`${name}/package.json`));

/** The only files served under /graphiql/assets/: a fixed list, never a path from the request. */
export const GRAPHIQL_ASSETS: Record<string, { file: () => string; type: string }> = {
  'react.js': { file: () => path.join(packageDir('react'), 'umd/react.production.min.js'), type: 'text/javascript; charset=utf-8' },
  'react-dom.js': { file: () => path.join(packageDir('react-dom'), 'umd/react-dom.production.min.js'), type: 'text/javascript; charset=utf-8' },
  'graphiql.js': { file: () => path.join(packageDir('graphiql'), 'graphiql.min.js'), type: 'text/javascript; charset=utf-8' },
  'graphiql.css': { file: () => path.join(packageDir('graphiql'), 'graphiql.min.css'), type: 'text/css; charset=utf-8' },
};

const PAGE = /* html */ `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>HCP GraphiQL</title>
  <link rel="stylesheet" href="/graphiql/assets/graphiql.css">
  <style>
    body { margin: 0; height: 100vh; display: flex; flex-direction: column; font-family: system-ui, sans-serif; }
    #key { display: flex; gap: .5rem; align-items: center; padding: .4rem .8rem; border-bottom: 1px solid #ddd; font-size: 14px; }
    #key input { flex: 1; max-width: 40rem; font-family: monospace; }
    #graphiql { flex: 1; min-height: 0; }
  </style>
</head>
<body>
  <form id="key"><label for="api-key">API key</label><input id="api-key" type="password" autocomplete="off" placeholder="hcp_… (sent as Authorization: Bearer …)"><button>Use</button><span id="who"></span></form>
  <div id="graphiql">Loading…</div>
  <script src="/graphiql/assets/react.js"></script>
  <script src="/graphiql/assets/react-dom.js"></script>
  <script src="/graphiql/assets/graphiql.js"></script>
  <script>
    const input = document.getElementById('api-key');
    const root = ReactDOM.createRoot(document.getElementById('graphiql'));
    const render = () => {
      const key = sessionStorage.getItem('hcp-api-key') || '';
      input.value = key;
      const url = new URL('/graphql', location.href).href;
      const fetcher = GraphiQL.createFetcher({
        url,
        subscriptionUrl: url.replace(/^http/, 'ws'),
        headers: key ? { authorization: 'Bearer ' + key } : {},
        wsConnectionParams: key ? { authorization: 'Bearer ' + key } : {},
      });
      root.render(React.createElement(GraphiQL, { fetcher, key, defaultQuery: '{ me { role } }' }));
      document.getElementById('who').textContent = key ? '' : 'enter a key to query';
    };
    document.getElementById('key').addEventListener('submit', (e) => {
      e.preventDefault();
      sessionStorage.setItem('hcp-api-key', input.value.trim());
      render();
    });
    render();
  </script>
</body>
</html>
`;

export const registerGraphiql = (app: FastifyInstance) => {
  const cache = new Map<string, Promise<Buffer>>();
  app.get('/graphiql', async (_request, reply) => reply.header('content-type', 'text/html; charset=utf-8').header('cache-control', 'no-store').send(PAGE));
  app.get<{ Params: { file: string } }>('/graphiql/assets/:file', async (request, reply) => {
    const asset = Object.hasOwn(GRAPHIQL_ASSETS, request.params.file) ? GRAPHIQL_ASSETS[request.params.file] : undefined;
    if (!asset) return reply.code(404).send({ error: { code: 'NOT_FOUND', message: `no asset ${request.params.file.slice(0, 100)}` } });
    let body = cache.get(request.params.file);
    if (!body) cache.set(request.params.file, (body = readFile(asset.file())));
    return reply.header('content-type', asset.type).header('cache-control', 'public, max-age=3600').send(await body);
  });
};
