/** HCP processes for benchmarks measured from outside: a database of their own, `hcp start` with roles, ports. */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { serverUrl } from '../switch/backends.ts';

export const HCP_BIN = path.resolve(import.meta.dirname, '../../bin/hcp.js');

export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });

/** A fresh database on the PostgreSQL server; `drop` removes it. */
export const benchDatabase = async (prefix: string) => {
  const database = `${prefix}_${randomBytes(4).toString('hex')}`;
  const admin = async (sql: string) => {
    const c = new pg.Client({ connectionString: serverUrl() });
    await c.connect();
    await c.query(sql).finally(() => c.end());
  };
  await admin(`CREATE DATABASE ${database}`);
  const url = new URL(serverUrl());
  url.pathname = `/${database}`;
  return { url: url.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`) };
};

export type HcpProcess = {
  url: string;
  child: ChildProcess;
  lines: string[];
  /** When (epoch ms, from its log) this process started leading `role`, if it has. */
  leadingAt(role: string): number | undefined;
  stop(): Promise<void>;
};

/** Spawns `node <script> …args` on a free port and waits for `ready` in its output. */
export const startProcess = async ({ args, env, ready, nodeArgs = [] }: { args: string[]; env: NodeJS.ProcessEnv; ready: string; nodeArgs?: string[] }): Promise<HcpProcess> => {
  const port = await freePort();
  const child = spawn(process.execPath, [...nodeArgs, ...args], { env: { ...process.env, ...env, HCP_PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  // an access line per request is not kept: a throughput run would hold hundreds of thousands,
  // and the load generator in this process would pay for them
  const collect = (d: Buffer) => {
    for (const line of d.toString().split('\n')) if (line && !line.includes('"msg":"request"')) lines.push(line);
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const started = Date.now();
  while (!lines.some((l) => l.includes(ready))) {
    if (child.exitCode !== null) throw new Error(`${args.join(' ')} exited with ${child.exitCode}:\n${lines.slice(-20).join('\n')}`);
    if (Date.now() - started > 120_000) throw new Error(`${args.join(' ')} did not come up in 2 minutes:\n${lines.slice(-20).join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    child,
    lines,
    leadingAt(role) {
      for (const line of lines) {
        if (!line.startsWith('{')) continue;
        const entry = JSON.parse(line) as { leader?: string; msg?: string; time?: number };
        if (entry.leader === role && entry.msg === 'leading') return entry.time;
      }
      return undefined;
    },
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise((r) => (timer = setTimeout(r, 20_000)))]);
      clearTimeout(timer);
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
};

/** `hcp start --role …` with `env`, once it prints its banner. */
export const startHcp = (role: string, env: NodeJS.ProcessEnv, nodeArgs: string[] = []) =>
  startProcess({ args: [HCP_BIN, 'start', '--role', role], env, ready: 'HCP is running', nodeArgs });
