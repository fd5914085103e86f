import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse, parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { variableDescriptions } from '../../../scripts/config-descriptions.ts';
import { validateObject, type K8sObject } from './deploy/kubernetes-schema.ts';
import { skaffoldSchema } from './deploy/skaffold-schema.ts';

// Offline checks of what platform engineers deploy (no cluster, no skaffold here): both overlays render with
// `kubectl kustomize`, every object is valid against the Kubernetes schemas with no unknown key, skaffold.yaml
// against its schema, and the cross-checks below. kubectl is not installable from Debian with a kustomize
// that reads these overlays (bookworm's kubectl 1.20 carries kustomize 2.0, which predates `patches` with
// targets and panics on them), so without a kubectl whose kustomize is v4 or later this suite skips, and
// TASKMESH_REQUIRE_KUBECTL=1 turns that into a failure.
const root = join(import.meta.dirname, '..', '..', '..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');

function findKubectl(): string | undefined {
  for (const candidate of [process.env.KUBECTL, '/usr/bin/kubectl', '/usr/local/bin/kubectl']) {
    if (!candidate || !existsSync(candidate)) continue;
    try {
      const version = JSON.parse(execFileSync(candidate, ['version', '--client', '-o', 'json'], { encoding: 'utf8' })) as { kustomizeVersion?: string };
      if (Number(/^v(\d+)/.exec(version.kustomizeVersion ?? '')?.[1] ?? 0) >= 4) return candidate;
    } catch {
      // not a usable kubectl
    }
  }
  if (process.env.TASKMESH_REQUIRE_KUBECTL === '1') throw new Error('TASKMESH_REQUIRE_KUBECTL=1 but no kubectl with kustomize v4+ was found');
  return undefined;
}
const kubectl = findKubectl();

function render(overlay: string): K8sObject[] {
  const text = execFileSync(kubectl!, ['kustomize', join(root, 'deploy', 'overlays', overlay)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return parseAllDocuments(text).map((d) => d.toJS() as K8sObject);
}

/** Deployable gRPC services: every services/<name> with an entry point, except the edge and the launcher. */
const grpcServices = readdirSync(join(root, 'services')).filter(
  (name) => existsSync(join(root, 'services', name, 'src', 'main.ts')) && !['edge', 'embedded'].includes(name),
);

// Just the parts of the API objects these checks read.
interface Container {
  name: string;
  image: string;
  ports?: { name?: string; containerPort: number }[];
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string }; configMapKeyRef?: { name: string; key: string } } }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: { readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean };
}
interface Probe {
  grpc?: { port: number };
  httpGet?: { port: number | string };
  tcpSocket?: { port: number | string };
  exec?: unknown;
}
interface PodTemplate {
  metadata: { labels: Record<string, string>; annotations?: Record<string, string> };
  spec: {
    containers: Container[];
    volumes?: { name: string; configMap?: { name: string }; secret?: { secretName: string } }[];
    topologySpreadConstraints?: unknown[];
    securityContext?: { runAsNonRoot?: boolean };
  };
}
type Workload = K8sObject & { spec: { template: PodTemplate; selector: { matchLabels: Record<string, string> }; volumeClaimTemplates?: unknown[] } };
type ServiceObject = K8sObject & { spec: { selector: Record<string, string>; ports: { name: string; port: number; targetPort: string | number }[] } };
interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}
interface PolicyPeer {
  podSelector?: LabelSelector;
  namespaceSelector?: LabelSelector;
  ipBlock?: unknown;
}
interface PolicyRule {
  from?: PolicyPeer[];
  to?: PolicyPeer[];
  ports?: { protocol?: string; port?: number | string }[];
}
type NetworkPolicy = K8sObject & { spec: { podSelector: LabelSelector; policyTypes: string[]; ingress?: PolicyRule[]; egress?: PolicyRule[] } };

const of = <T extends K8sObject>(objects: K8sObject[], kind: string) => objects.filter((o) => o.kind === kind) as T[];
const workloads = (objects: K8sObject[]) => [...of<Workload>(objects, 'Deployment'), ...of<Workload>(objects, 'StatefulSet')];

function matches(selector: LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!selector) return true;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) if (labels[key] !== value) return false;
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    const has = key in labels;
    if (operator === 'In' && !(has && values.includes(labels[key]!))) return false;
    if (operator === 'NotIn' && has && values.includes(labels[key]!)) return false;
    if (operator === 'Exists' && !has) return false;
    if (operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

/** A peer: pod labels in our namespace, or (outside) something beyond the cluster. */
type Peer = { labels: Record<string, string> } | 'outside';

function peerMatches(peers: PolicyPeer[] | undefined, peer: Peer): boolean {
  if (!peers || peers.length === 0) return true;
  return peers.some((p) => {
    if (peer === 'outside') return p.ipBlock !== undefined;
    // A namespaceSelector names other namespaces (monitoring, kube-system); our pods are in this one.
    return p.namespaceSelector === undefined && p.ipBlock === undefined && matches(p.podSelector, peer.labels);
  });
}

const portMatches = (ports: PolicyRule['ports'], port: number) => !ports || ports.length === 0 || ports.some((p) => p.port === undefined || p.port === port);

/** Whether the NetworkPolicies let `from` open a TCP connection to `to` on `port` (both directions checked). */
function allowed(policies: NetworkPolicy[], from: Peer, to: Peer, port: number): boolean {
  const direction = (pod: Peer, type: 'Ingress' | 'Egress', other: Peer) => {
    if (pod === 'outside') return true;
    const selecting = policies.filter((p) => p.spec.policyTypes.includes(type) && matches(p.spec.podSelector, pod.labels));
    if (selecting.length === 0) return true;
    return selecting.some((p) =>
      (type === 'Ingress' ? p.spec.ingress : p.spec.egress)?.some((rule) => peerMatches(type === 'Ingress' ? rule.from : rule.to, other) && portMatches(rule.ports, port)),
    );
  };
  return direction(from, 'Egress', to) && direction(to, 'Ingress', from);
}

const skaffold = parse(read('skaffold.yaml')) as {
  build: { artifacts: { image: string; docker: { dockerfile: string; buildArgs?: Record<string, string> } }[] };
  manifests: { kustomize: { paths: string[] } };
  portForward?: { resourceType: string; resourceName: string; namespace?: string; port: number; localPort?: number }[];
  profiles: { name: string; build?: { artifacts: { image: string; docker: { dockerfile: string; buildArgs?: Record<string, string> } }[] }; manifests?: { kustomize: { paths: string[] } } }[];
};

describe('skaffold.yaml', () => {
  it('is valid against the skaffold/v4beta13 schema (the part this project uses)', () => {
    const validate = new Ajv({ allErrors: true, strict: true }).compile(skaffoldSchema);
    expect(validate(skaffold), JSON.stringify(validate.errors, null, 2)).toBe(true);
  });

  it('builds every deployable from deploy/Dockerfile by its folder name, or Envoy from envoy/Dockerfile', () => {
    for (const artifacts of [skaffold.build.artifacts, ...skaffold.profiles.map((p) => p.build?.artifacts ?? [])]) {
      for (const artifact of artifacts) {
        expect(existsSync(join(root, artifact.docker.dockerfile)), artifact.docker.dockerfile).toBe(true);
        const service = artifact.docker.buildArgs?.SERVICE;
        if (artifact.docker.dockerfile === 'deploy/Dockerfile') {
          expect(artifact.image).toBe(`taskmesh/${service}`);
          expect(existsSync(join(root, 'services', service!, 'src', 'main.ts')), `services/${service}`).toBe(true);
        } else {
          expect(artifact).toEqual({ image: 'taskmesh/edge-envoy', docker: { dockerfile: 'envoy/Dockerfile' } });
        }
      }
    }
  });
});

const overlays = {
  dev: { artifacts: skaffold.build.artifacts, paths: skaffold.manifests.kustomize.paths },
  prod: { artifacts: skaffold.profiles.find((p) => p.name === 'prod')!.build!.artifacts, paths: skaffold.profiles.find((p) => p.name === 'prod')!.manifests!.kustomize.paths },
} as const;

describe.skipIf(!kubectl).each(Object.entries(overlays))('the %s overlay', (overlay, profile) => {
  const objects = render(overlay);
  const services = of<ServiceObject>(objects, 'Service');
  const deployments = of<Workload>(objects, 'Deployment');
  const containers = workloads(objects).flatMap((w) => w.spec.template.spec.containers.map((c) => ({ workload: w, container: c })));
  const podLabels = (name: string) => deployments.find((d) => d.metadata.name === name)!.spec.template.metadata.labels;

  it('renders with kubectl kustomize into objects valid against the Kubernetes schemas, with no unknown field', () => {
    expect(objects.length).toBeGreaterThan(10);
    for (const object of objects) expect(validateObject(object), `${object.kind}/${object.metadata.name}`).toEqual([]);
  });

  it('is what skaffold deploys, with an image it builds for every taskmesh container and no image built for nothing', () => {
    expect(profile.paths).toEqual([`deploy/overlays/${overlay}`]);
    const used = new Set(containers.map(({ container }) => container.image));
    const built = new Set(profile.artifacts.map((a) => a.image));
    for (const image of used) if (image.startsWith('taskmesh/')) expect(built.has(image), `skaffold builds ${image}`).toBe(true);
    for (const image of built) expect(used.has(image), `${image} is deployed`).toBe(true);
  });

  it('gives every gRPC service a Deployment and Service named after its folder, probed over grpc.health.v1 on an integer port', () => {
    expect(grpcServices).toEqual(expect.arrayContaining(['identity', 'org', 'board', 'task', 'audit', 'notify']));
    for (const name of grpcServices) {
      const deployment = deployments.find((d) => d.metadata.name === name);
      expect(deployment, `Deployment ${name}`).toBeDefined();
      const container = deployment!.spec.template.spec.containers[0]!;
      expect(container.image).toBe(`taskmesh/${name}`);
      const grpcPort = container.ports?.find((p) => p.name === 'grpc')?.containerPort;
      expect(grpcPort, `${name} names its port grpc`).toBe(50051);
      for (const probe of [container.readinessProbe, container.livenessProbe, container.startupProbe]) {
        expect(probe?.grpc?.port, `${name} probes`).toBe(grpcPort);
        expect(Number.isInteger(probe?.grpc?.port)).toBe(true);
      }
      const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value]));
      expect(env[`${name.toUpperCase()}_PORT`]).toBe(String(grpcPort));
      const service = services.find((s) => s.metadata.name === name);
      expect(service?.spec.ports.find((p) => p.name === 'grpc')).toMatchObject({ port: 50051, targetPort: 'grpc' });
      expect(matches({ matchLabels: service!.spec.selector }, deployment!.spec.template.metadata.labels)).toBe(true);
    }
  });

  it('has an edge Deployment and Service with a readiness probe, and the edge reaches every service through the NetworkPolicies', () => {
    const edge = deployments.find((d) => d.metadata.name === 'edge');
    expect(edge?.spec.template.spec.containers[0]!.readinessProbe?.httpGet).toBeDefined();
    expect(services.find((s) => s.metadata.name === 'edge')).toBeDefined();
    const policies = of<NetworkPolicy>(objects, 'NetworkPolicy');
    for (const name of grpcServices) {
      expect(allowed(policies, { labels: podLabels('edge') }, { labels: podLabels(name) }, 50051), `edge -> ${name}`).toBe(true);
      for (const other of grpcServices) expect(allowed(policies, { labels: podLabels(other) }, { labels: podLabels(name) }, 50051), `${other} -> ${name}`).toBe(true);
    }
  });

  it('serves Prometheus metrics on port 9464 from every Taskmesh process, with scrape annotations, and the collector scrapes them', () => {
    for (const name of [...grpcServices, 'edge']) {
      const deployment = deployments.find((d) => d.metadata.name === name)!;
      const container = deployment.spec.template.spec.containers[0]!;
      expect(container.ports?.find((p) => p.name === 'metrics')?.containerPort, name).toBe(9464);
      // Envoy's port is its own listener (envoy.yaml); the Node processes take METRICS_PORT.
      if (!container.image.endsWith('envoy')) expect(container.env?.find((e) => e.name === 'METRICS_PORT')?.value).toBe('9464');
      expect(deployment.spec.template.metadata.annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9464' });
    }
    const collectorConfig = of<K8sObject & { data: Record<string, string> }>(objects, 'ConfigMap').find((c) => c.metadata.name.startsWith('otel-collector-config'))!;
    const scrape = parse(collectorConfig.data['collector.yaml']!) as { receivers: { prometheus: { config: { scrape_configs: { static_configs: { targets: string[] }[] }[] } } } };
    const targets = scrape.receivers.prometheus.config.scrape_configs.flatMap((c) => c.static_configs.flatMap((t) => t.targets));
    const scraped = targets.map((target) => {
      const [host, port] = target.split(':');
      const service = services.find((s) => s.metadata.name === host);
      expect(service?.spec.ports.some((p) => p.port === Number(port) && p.targetPort === 'metrics'), target).toBe(true);
      return service!;
    });
    for (const name of [...grpcServices, 'edge']) {
      const labels = podLabels(name);
      expect(scraped.some((service) => matches({ matchLabels: service.spec.selector }, labels)), `collector scrapes ${name}`).toBe(true);
    }
  });

  it('runs every container as non-root with a read-only root filesystem and resource requests and a memory limit', () => {
    for (const { workload, container } of containers) {
      const where = `${workload.metadata.name}/${container.name}`;
      expect(workload.spec.template.spec.securityContext?.runAsNonRoot, where).toBe(true);
      expect(container.securityContext, where).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
      expect(container.resources?.requests?.cpu, where).toBeDefined();
      expect(container.resources?.requests?.memory, where).toBeDefined();
      expect(container.resources?.limits?.memory, where).toBeDefined();
    }
  });

  it('defines every Secret and ConfigMap key a container reads, and only configuration the processes know', () => {
    const secretKeys = new Map<string, Set<string>>();
    for (const secret of of<K8sObject & { data?: Record<string, string> }>(objects, 'Secret')) secretKeys.set(secret.metadata.name, new Set(Object.keys(secret.data ?? {})));
    if (overlay === 'prod') {
      // Created by the operator from this file (docs/operations.md), not rendered.
      const example = read('deploy/overlays/prod/secrets.env.example');
      secretKeys.set('taskmesh-secrets', new Set([...example.matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!)));
    }
    const configMaps = new Map(of<K8sObject & { data?: Record<string, string> }>(objects, 'ConfigMap').map((c) => [c.metadata.name, c.data ?? {}]));
    for (const { workload, container } of containers) {
      const where = `${workload.metadata.name}/${container.name}`;
      for (const { name, valueFrom } of container.env ?? []) {
        if (valueFrom?.secretKeyRef) expect(secretKeys.get(valueFrom.secretKeyRef.name)?.has(valueFrom.secretKeyRef.key), `${where} ${name}`).toBe(true);
        if (valueFrom?.configMapKeyRef) expect(configMaps.get(valueFrom.configMapKeyRef.name)?.[valueFrom.configMapKeyRef.key], `${where} ${name}`).toBeDefined();
      }
      for (const source of container.envFrom ?? []) {
        if (source.configMapRef) expect(configMaps.has(source.configMapRef.name), `${where} ${source.configMapRef.name}`).toBe(true);
        if (source.secretRef) expect(secretKeys.has(source.secretRef.name), `${where} ${source.secretRef.name}`).toBe(true);
      }
      for (const volume of workload.spec.template.spec.volumes ?? []) {
        if (volume.configMap) expect(configMaps.has(volume.configMap.name), `${where} volume ${volume.name}`).toBe(true);
        if (volume.secret) expect(secretKeys.has(volume.secret.secretName), `${where} volume ${volume.name}`).toBe(true);
      }
    }
    // The shared settings and secrets are variables of the configuration reference (a misspelt key would be
    // ignored by every process).
    const secrets = [...secretKeys].filter(([name]) => name.startsWith('taskmesh-secrets')).flatMap(([, keys]) => [...keys]);
    expect(secrets).toContain('DATABASE_URL');
    for (const key of [...Object.keys(configMaps.get('taskmesh-config') ?? {}), ...secrets]) expect(variableDescriptions[key], key).toBeDefined();
  });

  it('points the service addresses at the Services and their ports', () => {
    const data = (objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === 'taskmesh-config') as unknown as { data: Record<string, string> }).data;
    const servicePort = (name: string) => services.find((s) => s.metadata.name === name)?.spec.ports.find((p) => p.name === 'grpc')?.port;
    for (const [key, value] of Object.entries(data).filter(([k]) => k.endsWith('_ADDR'))) {
      const [host, port] = value.split(':');
      expect(servicePort(host!), key).toBe(Number(port));
    }
  });

  if (overlay === 'dev') {
    it('runs PostgreSQL and NATS JetStream as StatefulSets on volumes, Mailpit and the OpenTelemetry Collector, and forwards the edge, Mailpit and the embedded attachment store', () => {
      const statefulSets = of<Workload>(objects, 'StatefulSet');
      for (const name of ['postgres', 'nats']) {
        const set = statefulSets.find((s) => s.metadata.name === name);
        expect(set?.spec.volumeClaimTemplates?.length, name).toBe(1);
        expect(services.some((s) => s.metadata.name === name)).toBe(true);
      }
      const nats = statefulSets.find((s) => s.metadata.name === 'nats')!.spec.template.spec.containers[0]! as Container & { args: string[] };
      expect(nats.args).toEqual(expect.arrayContaining(['--jetstream', '--store_dir=/data']));
      for (const name of ['mailpit', 'otel-collector']) expect(deployments.some((d) => d.metadata.name === name), name).toBe(true);
      const namespace = objects.find((o) => o.kind === 'Namespace')!.metadata.name;
      for (const forward of skaffold.portForward ?? []) {
        const service = services.find((s) => s.metadata.name === forward.resourceName);
        expect(forward.namespace).toBe(namespace);
        expect(service?.spec.ports.some((p) => p.port === forward.port), `${forward.resourceName}:${forward.port}`).toBe(true);
      }
      expect((skaffold.portForward ?? []).map((f) => f.resourceName).sort()).toEqual(['attachment', 'edge', 'mailpit']);
    });

    it('lets only the services reach the in-cluster PostgreSQL and NATS', () => {
      const policies = of<NetworkPolicy>(objects, 'NetworkPolicy');
      const pod = (name: string) => ({ labels: workloads(objects).find((w) => w.metadata.name === name)!.spec.template.metadata.labels });
      for (const [server, port] of [['postgres', 5432], ['nats', 4222]] as const) {
        for (const name of grpcServices) expect(allowed(policies, pod(name), pod(server), port), `${name} -> ${server}`).toBe(true);
        for (const name of ['edge', 'mailpit', 'otel-collector']) expect(allowed(policies, pod(name), pod(server), port), `${name} -> ${server}`).toBe(false);
      }
    });
  }

  if (overlay === 'prod') {
    it('lets only the edge be reached from outside, and only the services reach PostgreSQL and NATS', () => {
      const policies = of<NetworkPolicy>(objects, 'NetworkPolicy');
      for (const workload of workloads(objects)) {
        const labels = workload.spec.template.metadata.labels;
        for (const port of [8080, 50051, 9464, 4317, 4318]) {
          expect(allowed(policies, 'outside', { labels }, port), `outside -> ${workload.metadata.name}:${port}`).toBe(workload.metadata.name === 'edge' && port === 8080);
        }
        for (const port of [5432, 4222]) {
          expect(allowed(policies, { labels }, 'outside', port), `${workload.metadata.name} -> :${port}`).toBe(grpcServices.includes(workload.metadata.name));
        }
      }
    });

    it('has an HPA and a PodDisruptionBudget for every Deployment, spread over zones and nodes', () => {
      const hpas = of<K8sObject & { spec: { scaleTargetRef: { kind: string; name: string }; minReplicas: number; maxReplicas: number } }>(objects, 'HorizontalPodAutoscaler');
      const pdbs = of<K8sObject & { spec: { selector: LabelSelector } }>(objects, 'PodDisruptionBudget');
      for (const name of [...grpcServices, 'edge']) {
        const deployment = deployments.find((d) => d.metadata.name === name)!;
        const hpa = hpas.find((h) => h.spec.scaleTargetRef.kind === 'Deployment' && h.spec.scaleTargetRef.name === name);
        expect(hpa?.spec.minReplicas, `HPA ${name}`).toBeGreaterThanOrEqual(2);
        expect(pdbs.some((p) => matches(p.spec.selector, deployment.spec.template.metadata.labels)), `PDB ${name}`).toBe(true);
        const keys = (deployment.spec.template.spec.topologySpreadConstraints as { topologyKey: string }[] | undefined)?.map((c) => c.topologyKey);
        expect(keys, `spread ${name}`).toEqual(['topology.kubernetes.io/zone', 'kubernetes.io/hostname']);
      }
    });

    it('routes every Envoy cluster to a Service on its port', () => {
      const envoy = read('envoy/envoy.yaml');
      for (const [, host, port] of envoy.matchAll(/address: ([a-z-]+), port_value: (\d+)/g)) {
        expect(services.some((s) => s.metadata.name === host), `Service ${host}`).toBe(true);
        expect(services.find((s) => s.metadata.name === host)!.spec.ports.some((p) => p.port === Number(port)), `${host}:${port}`).toBe(true);
      }
    });
  }
});
