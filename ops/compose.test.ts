/**
 * docker-compose.yml and the Dockerfile, checked here where no Docker engine runs: parsed, and
 * held to what running them needs (what a review found wrong by reading them against the images'
 * documentation). `docker compose up` itself has not been run on these machines.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const root = path.resolve(import.meta.dirname, '..');
type Service = {
  image?: string;
  build?: unknown;
  command?: string[];
  init?: boolean;
  restart?: string;
  ports?: string[];
  volumes?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test: string[] };
};
const compose = parse(readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service>; volumes: Record<string, unknown> };
const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');

describe('docker-compose.yml', () => {
  const { postgres, kafka } = compose.services;
  const hcp = compose.services['api-1'];
  const platform = Object.entries(compose.services).filter(([, s]) => s.image === 'hcp:local');

  it('builds the platform once, in an image, and runs node itself under an init (SIGTERM reaches it)', () => {
    expect(platform.map(([name]) => name)).toEqual(['api-1', 'api-2', 'worker-1', 'worker-2']);
    for (const [name, s] of platform) {
      expect(s.build, name).toBe('.');
      expect(JSON.stringify(s.command ?? ''), name).not.toMatch(/npm ci|sh -c/);
      expect(s.command?.toString(), name).toMatch(/^node,bin\/hcp\.js,start,--role,(api|projections,processes,ingestion)$/);
      expect(s.init, name).toBe(true);
    }
    expect(dockerfile).toMatch(/^FROM node:22/m); // Node 20 reached end of life on 2026-04-30
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(dockerfile).toMatch(/^CMD \["node", "bin\/hcp\.js", "start"\]$/m);
  });

  it('keeps the platform\'s data in a named volume of its own, never a checkout\'s folder', () => {
    for (const [name, s] of platform) {
      expect(s.environment!.HCP_DATA_DIR).toBe('/data');
      expect(s.volumes).toEqual([`hcp-${name}:/data`]);
      expect(compose.volumes).toHaveProperty(`hcp-${name}`);
    }
    for (const s of Object.values(compose.services)) for (const v of s.volumes ?? []) expect(v, v).not.toMatch(/^\.{1,2}\//);
  });

  it('restarts every service, and publishes every port on 127.0.0.1 only', () => {
    for (const [name, s] of Object.entries(compose.services)) {
      expect(s.restart, name).toBe('unless-stopped');
      for (const p of s.ports ?? []) expect(p, `${name} ${p}`).toMatch(/^127\.0\.0\.1:\d+:\d+$/);
    }
  });

  it('checks PostgreSQL over TCP, and gives host clients a Kafka listener of their own', () => {
    expect(postgres!.healthcheck!.test.join(' ')).toMatch(/pg_isready -h 127\.0\.0\.1/);
    const env = kafka!.environment!;
    expect(env.KAFKA_LISTENERS).toMatch(/EXTERNAL:\/\/:9094/);
    expect(env.KAFKA_ADVERTISED_LISTENERS).toMatch(/PLAINTEXT:\/\/kafka:9092/);
    expect(env.KAFKA_ADVERTISED_LISTENERS).toMatch(/EXTERNAL:\/\/127\.0\.0\.1:9094/);
    expect(env.KAFKA_LISTENER_SECURITY_PROTOCOL_MAP).toMatch(/EXTERNAL:PLAINTEXT/);
    expect(kafka!.ports).toContain('127.0.0.1:9094:9094');
    expect(hcp!.environment!.KAFKA_BROKERS).toBe('kafka:9092');
  });
});
