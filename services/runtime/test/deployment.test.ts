import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigMap, Namespace, Service } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { parseAllDocuments, parse } from 'yaml';
import { describe, expect, it } from 'vitest';

// Offline checks of what platform engineers deploy: the kustomize base, skaffold.yaml and how they line up
// with the services in the tree and with Envoy's clusters. (No cluster here; skaffold is not installable.)
const root = join(import.meta.dirname, '..', '..', '..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');

type K8sObject = { apiVersion: string; kind: string; metadata: { name: string }; [k: string]: unknown };
const kustomization = parse(read('deploy/base/kustomization.yaml')) as { resources: string[] };
const objects: K8sObject[] = kustomization.resources.flatMap((file) =>
  parseAllDocuments(read(`deploy/base/${file}`)).map((d) => d.toJS() as K8sObject),
);
const deployments = objects.filter((o) => o.kind === 'Deployment') as unknown as InstanceType<typeof Deployment>[];
const services = objects.filter((o) => o.kind === 'Service') as unknown as InstanceType<typeof Service>[];

/** Deployable gRPC services: every services/<name> with an entry point, except the local edge and launcher. */
const grpcServices = readdirSync(join(root, 'services')).filter(
  (name) => existsSync(join(root, 'services', name, 'src', 'main.ts')) && !['edge', 'embedded'].includes(name),
);

describe('Kubernetes manifests and skaffold', () => {
  it('are valid Kubernetes objects', () => {
    const models: Record<string, new (data: never) => { validate(): void }> = {
      Deployment: Deployment as never,
      Service: Service as never,
      ConfigMap: ConfigMap as never,
      Namespace: Namespace as never,
    };
    expect(objects.length).toBeGreaterThan(0);
    for (const object of objects) {
      const Model = models[object.kind];
      expect(Model, `unexpected kind ${object.kind}`).toBeDefined();
      expect(() => new Model!(object as never).validate(), `${object.kind}/${object.metadata.name}`).not.toThrow();
    }
  });

  it('give every gRPC service a Deployment and Service named after its folder, probed over grpc.health.v1', () => {
    expect(grpcServices).toContain('identity');
    for (const name of grpcServices) {
      const deployment = deployments.find((d) => d.metadata?.name === name);
      expect(deployment, `Deployment ${name}`).toBeDefined();
      const container = deployment!.spec!.template.spec!.containers[0]!;
      expect(container.image).toBe(`taskmesh/${name}`);
      const grpcPort = container.ports?.find((p) => p.name === 'grpc');
      expect(grpcPort, `${name} names its port grpc`).toBeDefined();
      expect(container.readinessProbe?.grpc?.port).toBe(grpcPort!.containerPort);
      expect(container.livenessProbe?.grpc?.port).toBe(grpcPort!.containerPort);
      const service = services.find((s) => s.metadata?.name === name);
      expect(service?.spec?.ports?.find((p) => p.name === 'grpc')?.targetPort).toBe('grpc');
    }
  });

  it('build an image for every Deployment with skaffold, from the service folder named in the build args', () => {
    const skaffold = parse(read('skaffold.yaml')) as {
      apiVersion: string;
      build: { artifacts: { image: string; docker: { dockerfile: string; buildArgs?: Record<string, string> } }[] };
      manifests: { kustomize: { paths: string[] } };
    };
    expect(skaffold.apiVersion).toBe('skaffold/v4beta13');
    const images = new Map(skaffold.build.artifacts.map((a) => [a.image, a]));
    for (const deployment of deployments) {
      const image = deployment.spec!.template.spec!.containers[0]!.image!;
      expect(images.has(image), `skaffold builds ${image}`).toBe(true);
    }
    for (const artifact of skaffold.build.artifacts) {
      expect(existsSync(join(root, artifact.docker.dockerfile)), artifact.docker.dockerfile).toBe(true);
      const service = artifact.docker.buildArgs?.SERVICE;
      if (service) expect(existsSync(join(root, 'services', service)), `services/${service}`).toBe(true);
    }
    for (const path of skaffold.manifests.kustomize.paths) expect(existsSync(join(root, path, 'kustomization.yaml'))).toBe(true);
  });

  it('point the config map and Envoy clusters at the Services and their ports', () => {
    const config = objects.find((o) => o.kind === 'ConfigMap') as unknown as { data: Record<string, string> };
    const servicePort = (name: string) => services.find((s) => s.metadata?.name === name)?.spec?.ports?.[0]?.port;
    for (const [key, value] of Object.entries(config.data).filter(([k]) => k.endsWith('_ADDR'))) {
      const [host, port] = value.split(':');
      expect(servicePort(host!), key).toBe(Number(port));
    }
    const envoy = read('envoy/envoy.yaml');
    for (const match of envoy.matchAll(/address: ([a-z]+), port_value: (\d+)/g)) {
      const [, host, port] = match;
      if (host === 'otel') continue;
      if (services.some((s) => s.metadata?.name === host)) expect(servicePort(host!), `envoy cluster ${host}`).toBe(Number(port));
    }
  });

  const kubectl = ['/usr/bin/kubectl', '/usr/local/bin/kubectl'].find((p) => existsSync(p));
  it.skipIf(!kubectl)('render with kustomize (kubectl kustomize) for the dev overlay', () => {
    const rendered = execFileSync(kubectl!, ['kustomize', join(root, 'deploy/overlays/dev')], { encoding: 'utf8' });
    const docs = parseAllDocuments(rendered).map((d) => d.toJS() as K8sObject);
    for (const name of grpcServices) expect(docs.some((d) => d.kind === 'Deployment' && d.metadata.name === name)).toBe(true);
    expect(docs.find((d) => d.kind === 'Secret')).toBeDefined();
  });
});
