/**
 * GraphiQL at /graphiql with every asset served by HCP itself (React, ReactDOM, GraphiQL and its
 * stylesheet from the installed packages), so the page works without internet, where mercurius'
 * own page loads them from a CDN and stays blank. The page asks for an API key once (kept in the
 * tab's sessionStorage, never sent anywhere but this server) and uses it for queries over HTTP
 * and subscriptions over graphql-ws alike.
 */
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { CSS, JS, packageDir, serveAssets, servePage, type Assets } from './assets.ts';

const GRAPHIQL_ASSETS: Assets = {
  'react.js': { file: () => path.join(packageDir('react'), 'umd/react.production.min.js'), type: JS },
  'react-dom.js': { file: () => path.join(packageDir('react-dom'), 'umd/react-dom.production.min.js'), type: JS },
  'graphiql.js': { file: () => path.join(packageDir('graphiql'), 'graphiql.min.js'), type: JS },
  'graphiql.css': { file: () => path.join(packageDir('graphiql'), 'graphiql.min.css'), type: CSS },
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
  servePage(app, '/graphiql', PAGE);
  serveAssets(app, '/graphiql/assets', GRAPHIQL_ASSETS);
};
