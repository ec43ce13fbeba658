import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.ts';

describe('configuration', () => {
  it('defaults to the embedded quick start', () => {
    expect(loadConfig({})).toMatchObject({ HCP_HOST: '127.0.0.1', HCP_PORT: 4000, HCP_DATA_DIR: '.hcp/data', LOG_LEVEL: 'info' });
  });

  it.each([
    ['HCP_PORT', 'eighty'],
    ['HCP_PORT', '70000'],
    ['DATABASE_URL', 'mysql://x'],
    ['ESDB_CONNECTION_STRING', 'http://localhost:2113'],
    ['KAFKA_BROKERS', 'localhost'],
    ['HCP_ADMIN_KEY', 'short'],
    ['LOG_LEVEL', 'loud'],
    ['HCP_DEMO', 'maybe'],
    ['HCP_TRUSTED_PROXIES', '10.0.0.0/8, proxy.example'],
    ['HCP_TRUSTED_PROXIES', '999.1.1.1'],
    ['HCP_BUS_NAMESPACE', 'has space'],
    ['HCP_KAFKA_SESSION_TIMEOUT_MS', '500'],
  ])('a bad %s (%s) is refused with a message naming it', (name, value) => {
    const attempt = () => loadConfig({ [name]: value });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(new RegExp(`${name}:`));
  });

  it('accepts real server settings and treats empty variables as unset', () => {
    const c = loadConfig({
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/test',
      ESDB_CONNECTION_STRING: 'esdb://localhost:2113?tls=false',
      KAFKA_BROKERS: '127.0.0.1:9092,kafka:9092',
      HCP_PORT: '',
      HCP_TRUSTED_PROXIES: '10.0.0.0/8, loopback,fd00::1',
    });
    expect(c.HCP_TRUSTED_PROXIES).toEqual(['10.0.0.0/8', 'loopback', 'fd00::1']);
    expect(c.HCP_PORT).toBe(4000);
    expect(c.KAFKA_BROKERS).toBe('127.0.0.1:9092,kafka:9092');
  });
});
