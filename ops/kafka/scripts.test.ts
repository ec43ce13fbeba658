/**
 * ops/kafka's scripts, with a fake `mvn` and a fake `java` on PATH (no broker is started here):
 * the jars are resolved with strict checksums and checked against their pinned SHA-256 at every
 * start; a start that times out waits for its JVM to exit before it lets go of the pid file.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const SCRIPTS = import.meta.dirname;
let dirs: string[] = [];
afterEach(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
});

const JARS = { 'kafka_2.13-4.3.1.jar': 'broker bytes', 'kafka-clients-4.3.1.jar': 'client bytes' };
const sha = (text: string) => createHash('sha256').update(text).digest('hex');

/** A sandbox: a fake mvn that "resolves" JARS (and logs its arguments), pins for them, a lib dir. */
const sandbox = () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'hcp-kafka-ops-'));
  dirs.push(dir);
  const bin = path.join(dir, 'bin');
  spawnSync('mkdir', ['-p', bin]);
  const script = (name: string, body: string) => {
    writeFileSync(path.join(bin, name), `#!/usr/bin/env bash\n${body}\n`);
    chmodSync(path.join(bin, name), 0o755);
  };
  script(
    'mvn',
    `echo "$@" >> "${dir}/mvn-args"
for a in "$@"; do case "$a" in -Dkafka.lib.dir=*) out="\${a#-Dkafka.lib.dir=}";; esac; done
mkdir -p "$out"
${Object.entries(JARS).map(([name, text]) => `printf '%s' '${text}' > "$out/${name}"`).join('\n')}`,
  );
  const pins = path.join(dir, 'pins.sha256');
  writeFileSync(pins, Object.entries(JARS).map(([name, text]) => `${sha(text)}  ${name}\n`).join(''));
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, KAFKA_LIB_DIR: path.join(dir, 'lib'), KAFKA_JARS_SHA256: pins, KAFKA_DATA_DIR: path.join(dir, 'data') };
  const ensureJars = () => spawnSync('bash', ['-c', `SCRIPT_DIR='${SCRIPTS}'; . '${SCRIPTS}/common.sh'; ensure_jars`], { env, encoding: 'utf8' });
  return { dir, bin, script, pins, env, ensureJars };
};

describe('ops/kafka', () => {
  it('resolves the jars with strict checksums, once, and refuses one changed on disk since', () => {
    const s = sandbox();
    expect(s.ensureJars().status).toBe(0);
    expect(readFileSync(path.join(s.dir, 'mvn-args'), 'utf8')).toMatch(/--strict-checksums/);
    expect(s.ensureJars().status).toBe(0);
    expect(readFileSync(path.join(s.dir, 'mvn-args'), 'utf8').trim().split('\n')).toHaveLength(1); // not resolved again
    writeFileSync(path.join(s.env.KAFKA_LIB_DIR, 'kafka-clients-4.3.1.jar'), 'tampered');
    const tampered = s.ensureJars();
    expect(tampered.status).not.toBe(0);
    expect(tampered.stderr).toMatch(/no longer matches its pinned SHA-256/);
  });

  it('refuses a resolve whose jars are not the pinned ones', () => {
    const s = sandbox();
    writeFileSync(s.pins, `${sha('other bytes')}  kafka_2.13-4.3.1.jar\n${sha('client bytes')}  kafka-clients-4.3.1.jar\n`);
    const r = s.ensureJars();
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/do not match their pinned SHA-256/);
    expect(existsSync(s.env.KAFKA_LIB_DIR)).toBe(false);
  });

  it('a start that times out waits for its JVM to exit before it lets the pid file go', () => {
    const s = sandbox();
    // a "broker" that never opens its port and takes 3 s to exit on SIGTERM
    s.script(
      'java',
      `case "$*" in
  *-XshowSettings*) echo '    java.specification.version = 17' >&2;;
  *StorageTool*) mkdir -p "$KAFKA_DATA_DIR/kraft-logs"; touch "$KAFKA_DATA_DIR/kraft-logs/meta.properties";;
  *kafka.Kafka*) echo $$ > "${s.dir}/broker-pid"; trap 'sleep 3; touch "${s.dir}/broker-exited"; exit 0' TERM; while :; do sleep 0.1; done;;
esac`,
    );
    const port = String(40_000 + Math.floor(Math.random() * 10_000));
    const r = spawnSync('bash', [path.join(SCRIPTS, 'start.sh')], { env: { ...s.env, KAFKA_PORT: port, KAFKA_START_TIMEOUT: '2', KAFKA_STOP_TIMEOUT: '20' }, encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/failed to start/);
    const pid = Number(readFileSync(path.join(s.dir, 'broker-pid'), 'utf8'));
    // gone when start.sh returned: its SIGTERM took 3 s, and start.sh waited for it
    expect(existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2]!.startsWith('Z')).toBe(false);
    // and it had finished its slow exit (not just vanished): no clock involved, a slow machine passes too
    expect(existsSync(path.join(s.dir, 'broker-exited'))).toBe(true);
    expect(existsSync(path.join(s.env.KAFKA_DATA_DIR, 'kafka.pid'))).toBe(false);
  });
});
