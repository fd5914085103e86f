// Validation of rendered Kubernetes objects against the API schemas that kubernetes-models ships (compiled
// validators of the Kubernetes OpenAPI), plus a strict pass: the OpenAPI schemas allow unknown keys, which
// the API server would drop or reject, so every key an object carries must be one the validator looked at.
// The validator reads each declared property and enumerates only maps (labels, data…), so an own key it
// never read is not in the schema.
import { validate as deployment } from 'kubernetes-models/_schemas/IoK8sApiAppsV1Deployment';
import { validate as statefulSet } from 'kubernetes-models/_schemas/IoK8sApiAppsV1StatefulSet';
import { validate as horizontalPodAutoscaler } from 'kubernetes-models/_schemas/IoK8sApiAutoscalingV2HorizontalPodAutoscaler';
import { validate as configMap } from 'kubernetes-models/_schemas/IoK8sApiCoreV1ConfigMap';
import { validate as namespace } from 'kubernetes-models/_schemas/IoK8sApiCoreV1Namespace';
import { validate as secret } from 'kubernetes-models/_schemas/IoK8sApiCoreV1Secret';
import { validate as service } from 'kubernetes-models/_schemas/IoK8sApiCoreV1Service';
import { validate as networkPolicy } from 'kubernetes-models/_schemas/IoK8sApiNetworkingV1NetworkPolicy';
import { validate as podDisruptionBudget } from 'kubernetes-models/_schemas/IoK8sApiPolicyV1PodDisruptionBudget';

type ValidateFunction = ((data: unknown) => boolean) & { errors?: { instancePath: string; message?: string; keyword: string; params: unknown }[] | null };

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

/** The kinds the overlays use, by apiVersion and kind. */
const validators: Record<string, ValidateFunction> = {
  'apps/v1 Deployment': deployment as ValidateFunction,
  'apps/v1 StatefulSet': statefulSet as ValidateFunction,
  'autoscaling/v2 HorizontalPodAutoscaler': horizontalPodAutoscaler as ValidateFunction,
  'v1 ConfigMap': configMap as ValidateFunction,
  'v1 Namespace': namespace as ValidateFunction,
  'v1 Secret': secret as ValidateFunction,
  'v1 Service': service as ValidateFunction,
  'networking.k8s.io/v1 NetworkPolicy': networkPolicy as ValidateFunction,
  'policy/v1 PodDisruptionBudget': podDisruptionBudget as ValidateFunction,
};

interface Tracked {
  path: string;
  target: object;
  read: Set<PropertyKey>;
  enumerated: boolean;
}

function track(value: unknown, path: string, all: Tracked[]): unknown {
  if (value === null || typeof value !== 'object') return value;
  const entry: Tracked = { path, target: value, read: new Set(), enumerated: false };
  all.push(entry);
  const children = new Map<PropertyKey, unknown>();
  return new Proxy(value, {
    get(target, key) {
      entry.read.add(key);
      const child = Reflect.get(target, key);
      if (typeof key !== 'string' || child === null || typeof child !== 'object') return child;
      if (!children.has(key)) children.set(key, track(child, `${path}/${key}`, all));
      return children.get(key);
    },
    has(target, key) {
      entry.read.add(key);
      return Reflect.has(target, key);
    },
    ownKeys(target) {
      entry.enumerated = true;
      return Reflect.ownKeys(target);
    },
  });
}

/** Schema errors and unknown keys of one object; empty when it is valid. */
export function validateObject(object: K8sObject): string[] {
  const validate = validators[`${object.apiVersion} ${object.kind}`];
  if (!validate) return [`no Kubernetes schema here for ${object.apiVersion} ${object.kind}`];
  const tracked: Tracked[] = [];
  const valid = validate(track(structuredClone(object), '', tracked));
  const problems = valid ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'}: ${e.message ?? e.keyword} ${JSON.stringify(e.params)}`);
  if (!valid) return problems;
  for (const entry of tracked) {
    if (Array.isArray(entry.target) || entry.enumerated) continue;
    for (const key of Object.keys(entry.target)) if (!entry.read.has(key)) problems.push(`${entry.path}/${key}: unknown field`);
  }
  return problems;
}
