/**
 * The dashboards at /dashboard: one page that asks for an API key, then shows the operator's view
 * to staff keys (facilities' KPIs, electricity price against each ASIC model's strike price, BTC,
 * the controller's current recommendation and why, recent switches) and the customer's view to a
 * customer key (their workloads live, quota left, usage and spend this month, invoices). Live over
 * graphql-ws (the graphql-ws client in the page); charts by uPlot; every asset served by HCP.
 * What a page shows comes from the same API, with the same checks, as any client's.
 */
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { CSS, JS, packageDir, serveAssets, servePage, type Assets } from '../assets.ts';

const here = import.meta.dirname;

const ASSETS: Assets = {
  'uplot.js': { file: () => path.join(packageDir('uplot'), 'dist/uPlot.iife.min.js'), type: JS },
  'uplot.css': { file: () => path.join(packageDir('uplot'), 'dist/uPlot.min.css'), type: CSS },
  'graphql-ws.js': { file: () => path.join(packageDir('graphql-ws'), 'umd/graphql-ws.min.js'), type: JS },
  'dashboard.js': { file: () => path.join(here, 'dashboard.js'), type: JS },
  'dashboard.css': { file: () => path.join(here, 'dashboard.css'), type: CSS },
};

const PAGE = /* html */ `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>HCP dashboard</title>
  <link rel="stylesheet" href="/dashboard/assets/uplot.css">
  <link rel="stylesheet" href="/dashboard/assets/dashboard.css">
</head>
<body>
  <header>
    <h1>HCP</h1>
    <form id="sign-in"><label for="api-key">API key</label><input id="api-key" type="password" autocomplete="off" placeholder="an HCP API key"><button>Sign in</button></form>
    <span id="who"></span>
    <span id="live" data-state="off">offline</span>
  </header>
  <main id="view"><p class="hint">Sign in with an API key: staff keys see the operator's dashboard, customer keys their own workloads.</p></main>
  <script src="/dashboard/assets/uplot.js"></script>
  <script src="/dashboard/assets/graphql-ws.js"></script>
  <script src="/dashboard/assets/dashboard.js"></script>
</body>
</html>
`;

export const registerDashboard = (app: FastifyInstance) => {
  servePage(app, '/dashboard', PAGE);
  serveAssets(app, '/dashboard/assets', ASSETS);
};
