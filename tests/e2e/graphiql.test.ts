/** GraphiQL works without internet: the page names only assets HCP serves, and each is served. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgliteDatabase } from '../support/databases.ts';
import { startTestPlatform, type TestPlatform } from '../support/platform.ts';

describe('GraphiQL', () => {
  let p: TestPlatform;
  beforeAll(async () => {
    p = await startTestPlatform(await pgliteDatabase());
  });
  afterAll(() => p.close());

  it('serves its page and every asset itself, and nothing else under its assets', async () => {
    const page = await fetch(`${p.url}/graphiql`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    // no CDN, no other host
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    const assets = [...html.matchAll(/(?:src|href)="(\/graphiql\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    expect(assets.sort()).toEqual(['/graphiql/assets/graphiql.css', '/graphiql/assets/graphiql.js', '/graphiql/assets/react-dom.js', '/graphiql/assets/react.js']);
    for (const asset of assets) {
      const res = await fetch(`${p.url}${asset}`);
      expect(res.status, asset).toBe(200);
      expect(res.headers.get('content-type'), asset).toMatch(asset.endsWith('.css') ? /^text\/css/ : /^text\/javascript/);
      expect((await res.arrayBuffer()).byteLength, asset).toBeGreaterThan(1000);
    }
    for (const bad of ['/graphiql/assets/package.json', '/graphiql/assets/..%2f..%2fpackage.json', '/graphiql/assets/constructor'])
      expect((await fetch(`${p.url}${bad}`)).status, bad).toBe(404);
  });
});
