/**
 * The Kubernetes manifests (ops/k8s), checked where no cluster runs: kustomize renders them (when
 * kubectl is installed), and they hold together: selectors match their pods, probes hit /health on
 * the port the container opens, every role named is one `hcp start` knows, configuration comes
 * from the Secret the example defines, and no secret value sits in a Deployment.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { parseRoles } from '../cli/platform.ts';

const dir = path.resolve(import.meta.dirname, 'k8s');
type Manifest = { kind: string; apiVersion: string; metadata: { name: string; labels?: Record<string, string> }; spec?: any; stringData?: Record<string, string> };
const load = (file: string) => parseAllDocuments(readFileSync(path.join(dir, file), 'utf8')).map((d) => d.toJS() as Manifest);
const kustomization = load('kustomization.yaml')[0] as unknown as { resources: string[] };
const manifests = kustomization.resources.flatMap(load);
const deployments = manifests.filter((m) => m.kind === 'Deployment');
const secret = load('secret.example.yaml')[0]!;
const kubectl = (() => {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('ops/k8s manifests', () => {
  it.skipIf(!kubectl)('render with kustomize', () => {
    const rendered = parseAllDocuments(execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8' })).map((d) => d.toJS() as Manifest);
    expect(rendered.map((m) => `${m.kind}/${m.metadata.name}`).sort()).toEqual(['Deployment/hcp-api', 'Deployment/hcp-worker', 'Service/hcp-api']);
  });

  it('runs API instances and workers, each with roles hcp start knows, probed on /health', () => {
    expect(deployments.map((d) => d.metadata.name)).toEqual(['hcp-api', 'hcp-worker']);
    for (const d of deployments) {
      expect(d.spec.selector.matchLabels, d.metadata.name).toEqual(expect.objectContaining({ 'app.kubernetes.io/name': d.metadata.name }));
      expect(d.spec.template.metadata.labels).toEqual(expect.objectContaining(d.spec.selector.matchLabels));
      expect(d.spec.replicas).toBeGreaterThanOrEqual(2);
      const [container] = d.spec.template.spec.containers;
      const args: string[] = container.args;
      expect(args.slice(0, 4)).toEqual(['node', 'bin/hcp.js', 'start', '--role']);
      expect(() => parseRoles(args[4]!)).not.toThrow();
      const port = container.ports.find((p: { name: string }) => p.name === 'http');
      expect(String(port.containerPort)).toBe(container.env.find((e: { name: string }) => e.name === 'HCP_PORT').value);
      for (const probe of [container.readinessProbe, container.livenessProbe]) expect(probe.httpGet).toEqual({ path: '/health', port: 'http' });
      expect(container.envFrom).toEqual([{ secretRef: { name: secret.metadata.name } }]);
      // secrets come from the Secret only
      for (const e of container.env as Array<{ name: string }>) expect(Object.keys(secret.stringData!)).not.toContain(e.name);
    }
    expect(parseRoles(deployments[0]!.spec.template.spec.containers[0].args[4])).toEqual(new Set(['api']));
  });

  it('serves the API instances behind one Service', () => {
    const service = manifests.find((m) => m.kind === 'Service')!;
    const api = deployments.find((d) => d.metadata.name === 'hcp-api')!;
    expect(api.spec.template.metadata.labels).toEqual(expect.objectContaining(service.spec.selector));
    expect(service.spec.ports[0].targetPort).toBe('http');
  });

  it('names every required setting in the example Secret', () => {
    expect(Object.keys(secret.stringData!)).toEqual(expect.arrayContaining(['DATABASE_URL', 'HCP_ADMIN_KEY', 'KAFKA_BROKERS']));
  });
});
