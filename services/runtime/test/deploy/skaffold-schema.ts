// skaffold.yaml's schema, the part this project uses. Skaffold publishes a JSON schema per config version
// (skaffold/v4beta13), but neither the npm registry nor Debian carries it, and a test cannot download it, so
// the fields below are the ones we rely on, named and typed as in that schema, each object closed
// (additionalProperties: false) so a misspelt or misplaced key fails. Keys of the published schema that we
// do not use are listed as allowed, without their inner shape.
const object = (properties: Record<string, unknown>, required: string[] = [], others: string[] = []) => ({
  type: 'object',
  properties: { ...properties, ...Object.fromEntries(others.map((key) => [key, {}])) },
  required,
  additionalProperties: false,
});
const stringMap = { type: 'object', additionalProperties: { type: 'string' } };
const strings = { type: 'array', items: { type: 'string' } };

const dockerArtifact = object({ dockerfile: { type: 'string' }, target: { type: 'string' }, buildArgs: stringMap }, [], [
  'network', 'addHost', 'cacheFrom', 'cliFlags', 'pullParent', 'noCache', 'squash', 'secrets', 'ssh',
]);
const artifact = object({ image: { type: 'string' }, context: { type: 'string' }, docker: dockerArtifact }, ['image'], [
  'sync', 'requires', 'hooks', 'platforms', 'runtimeType',
]);
const build = object(
  {
    artifacts: { type: 'array', items: artifact },
    local: object({ push: { type: 'boolean' }, useBuildkit: { type: 'boolean' }, useDockerCLI: { type: 'boolean' }, concurrency: { type: 'integer' }, tryImportMissing: { type: 'boolean' } }),
  },
  [],
  ['insecureRegistries', 'tagPolicy', 'platforms', 'googleCloudBuild', 'cluster'],
);
const manifests = object({ kustomize: object({ paths: strings, buildArgs: strings }) }, [], ['rawYaml', 'helm', 'kpt', 'transform', 'validate', 'output', 'hooks']);
const deploy = object({ kubectl: object({ defaultNamespace: { type: 'string' }, flags: {}, hooks: {}, remoteManifests: strings }) }, [], [
  'docker', 'helm', 'kpt', 'cloudrun', 'statusCheck', 'statusCheckDeadlineSeconds', 'tolerateFailuresUntilDeadline', 'kubeContext', 'logs', 'transformableAllowList',
]);
const portForward = {
  type: 'array',
  items: object(
    {
      resourceType: { type: 'string', enum: ['pod', 'deployment', 'service', 'replicaset', 'replicationcontroller', 'statefulset', 'daemonset', 'cronjob', 'job'] },
      resourceName: { type: 'string' },
      namespace: { type: 'string' },
      port: { anyOf: [{ type: 'integer' }, { type: 'string' }] },
      address: { type: 'string' },
      localPort: { type: 'integer' },
    },
    ['resourceType', 'resourceName', 'port'],
  ),
};
const sections = { build, manifests, deploy, portForward };

export const skaffoldSchema = object(
  {
    apiVersion: { const: 'skaffold/v4beta13' },
    kind: { const: 'Config' },
    metadata: object({ name: { type: 'string' }, labels: stringMap, annotations: stringMap }),
    ...sections,
    profiles: {
      type: 'array',
      items: object({ name: { type: 'string' }, ...sections }, ['name'], ['activation', 'requiresAllActivations', 'patches', 'test', 'resourceSelector', 'verify', 'customActions']),
    },
  },
  ['apiVersion', 'kind'],
  ['requires', 'test', 'resourceSelector', 'verify', 'customActions'],
);
