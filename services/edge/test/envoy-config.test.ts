import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { collectHttpBindings, httpBoundServices, loadDescriptorSet } from '../src/http-bindings.ts';
import { defaultDescriptorPath } from '../src/edge.ts';
import { EnvoySchema, validateEnvoyMessage } from './envoy-config/envoy-schema.ts';

// envoy/envoy.yaml checked offline: against Envoy's own config protos (from @grpc/grpc-js-xds), and
// against the descriptor set the transcoder serves.

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const envoyYaml = readFileSync(`${repo}envoy/envoy.yaml`, 'utf8');
const dockerfile = readFileSync(`${repo}envoy/Dockerfile`, 'utf8');
const registry = loadDescriptorSet(defaultDescriptorPath);
const bindings = collectHttpBindings(registry);

/** The methods a client may call without an access token (API.md "Auth"; a share code is its own credential). */
const publicMethods = [
  ...['SignUp', 'LogIn', 'Refresh', 'LogOut', 'RequestPasswordReset', 'ResetPassword', 'GetJwks'].map(
    (m) => `/taskmesh.identity.v1.IdentityService/${m}`,
  ),
  ...['GetSharedTask', 'OpenSharedTask'].map((m) => `/taskmesh.share.v1.ShareService/${m}`),
];

type Json = Record<string, any>;
let config: Json;
let hcm: Json;
let schema: EnvoySchema;

function filter(name: string): Json {
  const found = hcm.http_filters.find((f: Json) => f.name === name);
  if (!found) throw new Error(`no http filter ${name}`);
  return found.typed_config;
}

function cluster(name: string): Json | undefined {
  return config.static_resources.clusters.find((c: Json) => c.name === name);
}

/** The first route whose match takes this gRPC path, as Envoy picks it. */
function routeFor(path: string): Json | undefined {
  const routes: Json[] = hcm.route_config.virtual_hosts[0].routes;
  return routes.find(({ match }) => {
    if (match.path !== undefined) return match.path === path;
    if (match.prefix !== undefined) return path.startsWith(match.prefix);
    if (match.safe_regex) return new RegExp(`^(?:${match.safe_regex.regex})$`).test(path);
    return false;
  });
}

beforeAll(() => {
  config = parse(envoyYaml);
  hcm = config.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  schema = new EnvoySchema();
});

describe('envoy.yaml against Envoy config protos', () => {
  it('is a valid envoy.config.bootstrap.v3.Bootstrap: no unknown or deprecated fields, no bad enum values', () => {
    expect(validateEnvoyMessage(schema, 'envoy.config.bootstrap.v3.Bootstrap', config)).toEqual([]);
  });

  it('the check itself refuses unknown fields, bad enums, unknown @types, bad durations and missing required values', () => {
    const broken = parse(envoyYaml);
    const brokenHcm = broken.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
    const transcoder = brokenHcm.http_filters.find((f: Json) => f.name === 'envoy.filters.http.grpc_json_transcoder').typed_config;
    transcoder.print_options.stream_sse_style_delimited = true;
    transcoder.url_unescape_spec = 'SOME_CHARACTERS';
    brokenHcm.tracing.provider.typed_config['@type'] = 'type.googleapis.com/envoy.config.trace.v3.NoSuchTracer';
    broken.static_resources.clusters[0].connect_timeout = 2;
    delete transcoder.proto_descriptor;
    brokenHcm.route_config.virtual_hosts[0].cors = {};
    const problems = validateEnvoyMessage(schema, 'envoy.config.bootstrap.v3.Bootstrap', broken);
    expect(problems.some((p) => p.includes('stream_sse_style_delimited: unknown field'))).toBe(true);
    expect(problems.some((p) => p.includes('"SOME_CHARACTERS" is not a value'))).toBe(true);
    expect(problems.some((p) => p.includes('unknown @type type.googleapis.com/envoy.config.trace.v3.NoSuchTracer'))).toBe(true);
    expect(problems.some((p) => p.includes('connect_timeout: 2 is not a duration'))).toBe(true);
    expect(problems.some((p) => p.includes('oneof descriptor_set') && p.includes('is required'))).toBe(true);
    expect(problems.some((p) => p.includes('virtual_hosts[0].cors: deprecated field'))).toBe(true);
    expect(problems).toHaveLength(6);
  });
});

describe('envoy.yaml against the descriptor set', () => {
  it('transcodes exactly the services that have HTTP bindings', () => {
    const transcoder = filter('envoy.filters.http.grpc_json_transcoder');
    expect([...transcoder.services].sort()).toEqual(httpBoundServices(registry).map((s) => s.typeName).sort());
  });

  it('uses the transcoding options services/edge reproduces', () => {
    const transcoder = filter('envoy.filters.http.grpc_json_transcoder');
    expect(transcoder.print_options).toEqual({
      add_whitespace: false,
      always_print_primitive_fields: true,
      always_print_enums_as_ints: false,
      preserve_proto_field_names: false,
      stream_newline_delimited: true,
    });
    expect(transcoder.convert_grpc_status).toBe(true);
    expect(transcoder.request_validation_options).toEqual({ reject_unknown_method: true, reject_unknown_query_parameters: true });
    expect(transcoder.url_unescape_spec).toBe('ALL_CHARACTERS_EXCEPT_RESERVED');
    expect(transcoder.query_param_unescape_plus).toBe(true);
    expect(transcoder.max_request_body_size).toBe(1024 * 1024);
    expect(transcoder.ignored_query_parameters).toBeUndefined();
  });

  it('runs the filters in order: health check, CORS, transcoder, JWT, router', () => {
    expect(hcm.http_filters.map((f: Json) => f.name)).toEqual([
      'envoy.filters.http.health_check',
      'envoy.filters.http.cors',
      'envoy.filters.http.grpc_json_transcoder',
      'envoy.filters.http.jwt_authn',
      'envoy.filters.http.router',
    ]);
  });

  it('routes every method of every service to an HTTP/2, gRPC-health-checked cluster of its own', () => {
    // Services a process hosts beside its own, on that process's cluster: org hosts the platform administration.
    const hostedBeside = new Map([['taskmesh.admin.v1.AdminService', 'org']]);
    const clustersSeen = new Set<string>();
    for (const service of httpBoundServices(registry)) {
      const clusterNames = new Set<string>();
      for (const method of service.methods) {
        const route = routeFor(`/${service.typeName}/${method.name}`);
        expect(route, `${service.typeName}/${method.name}`).toBeDefined();
        // The owners' export streams are for the attachment service only: Envoy answers 404 for them.
        if (method.name === 'ExportOrganizationData') {
          expect(route!.direct_response, `${service.typeName}/${method.name}`).toEqual({ status: 404 });
          continue;
        }
        clusterNames.add(route!.route.cluster);
      }
      expect(clusterNames.size, service.typeName).toBe(1);
      const name = [...clusterNames][0]!;
      if (hostedBeside.has(service.typeName)) {
        expect(name, service.typeName).toBe(hostedBeside.get(service.typeName));
        continue;
      }
      expect(clustersSeen.has(name), `${name} serves two services`).toBe(false);
      clustersSeen.add(name);
      const definition = cluster(name);
      expect(definition, `cluster ${name}`).toBeDefined();
      const protocol = definition!.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'];
      expect(protocol.explicit_http_config.http2_protocol_options).toBeDefined();
      expect(definition!.health_checks.some((h: Json) => h.grpc_health_check !== undefined)).toBe(true);
    }
    const health = filter('envoy.filters.http.health_check');
    expect(Object.keys(health.cluster_min_healthy_percentages).sort()).toEqual([...clustersSeen].sort());
  });

  it('retries on UNAVAILABLE exactly the GET-bound (safe) methods', () => {
    const safe = new Set(bindings.filter((b) => b.httpMethod === 'GET').map((b) => b.grpcPath));
    for (const service of httpBoundServices(registry)) {
      for (const method of service.methods) {
        const path = `/${service.typeName}/${method.name}`;
        if (method.name === 'ExportOrganizationData') continue;
        const retry = routeFor(path)!.route.retry_policy;
        if (safe.has(path)) {
          expect(retry?.retry_on.split(','), path).toContain('unavailable');
        } else {
          expect(retry, `${path} must not be retried`).toBeUndefined();
        }
      }
    }
  });

  it('gives server streams no route timeout and everything else a bounded one', () => {
    for (const binding of bindings) {
      const route = routeFor(binding.grpcPath)!.route;
      if (binding.method.methodKind === 'server_streaming') expect(route.timeout, binding.grpcPath).toBe('0s');
      else expect(route.timeout, binding.grpcPath).toMatch(/^[1-9]\d*s$/);
    }
  });

  it('requires a JWT everywhere except the public identity methods, verified against the JWKS served at GET /v1/jwks', () => {
    const jwt = filter('envoy.filters.http.jwt_authn');
    const open = jwt.rules.filter((r: Json) => r.requires === undefined).map((r: Json) => r.match.path);
    expect(open.sort()).toEqual([...publicMethods].sort());
    for (const path of publicMethods) expect(bindings.some((b) => b.grpcPath === path), path).toBe(true);
    expect(jwt.rules.at(-1)).toEqual({ match: { prefix: '/' }, requires: { provider_name: 'identity' } });
    const remote = jwt.providers.identity.remote_jwks.http_uri;
    expect(cluster(remote.cluster)).toBeDefined();
    const jwks = bindings.find((b) => b.grpcPath === '/taskmesh.identity.v1.IdentityService/GetJwks')!;
    expect(jwks.httpMethod).toBe('GET');
    expect(new URL(remote.uri).pathname).toBe(jwks.template.source);
    expect(jwt.providers.identity.forward).toBe(true);
  });

  it('references only clusters it defines', () => {
    const referenced = [
      ...hcm.route_config.virtual_hosts[0].routes.filter((r: Json) => r.route).map((r: Json) => r.route.cluster),
      filter('envoy.filters.http.jwt_authn').providers.identity.remote_jwks.http_uri.cluster,
      hcm.tracing.provider.typed_config.grpc_service.envoy_grpc.cluster_name,
      ...Object.keys(filter('envoy.filters.http.health_check').cluster_min_healthy_percentages),
    ];
    for (const name of referenced) expect(cluster(name), name).toBeDefined();
  });

  it('reads the descriptor set from the path the image puts it at', () => {
    const copied = /^COPY\s+gen\/descriptor\.binpb\s+(\S+)\s*$/m.exec(dockerfile);
    expect(copied).not.toBeNull();
    expect(filter('envoy.filters.http.grpc_json_transcoder').proto_descriptor).toBe(copied![1]);
    const config = /^COPY\s+envoy\/envoy\.yaml\s+(\S+)\s*$/m.exec(dockerfile);
    expect(dockerfile).toContain(`"-c", "${config![1]}"`);
  });
});
