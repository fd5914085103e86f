import type { PathTemplate } from './path-template.ts';
import { unescapePathPart } from './url-escaping.ts';

/**
 * The route lookup of Envoy's grpc_json_transcoder (its PathMatcher), reproduced: templates go into a
 * trie keyed by literal, `*` and `**` segments, with the custom verb as one more literal at the end.
 * Lookup walks the request's parts depth first, trying the literal child, then `*`, then `**`, and
 * backtracks when a branch has no route for the HTTP method. A trailing `:verb` on the request is only
 * split off when some template declares that verb; a `**` may match zero parts at the very end.
 */

export interface RouteMatch<T> {
  route: T;
  /** Variable bindings in template order: field path and the unescaped value. */
  bindings: { fieldPath: string[]; value: string }[];
}

interface Entry<T> {
  route: T;
  template: PathTemplate;
}

class TrieNode<T> {
  readonly literals = new Map<string, TrieNode<T>>();
  single: TrieNode<T> | undefined;
  multi: TrieNode<T> | undefined;
  readonly byMethod = new Map<string, Entry<T>>();
}

export class DuplicateRouteError extends Error {
  constructor(method: string, template: string) {
    super(`two routes for ${method} ${template}`);
    this.name = 'DuplicateRouteError';
  }
}

export class RouteTable<T> {
  private readonly root = new TrieNode<T>();
  private readonly verbs = new Set<string>();

  /** Adds a route; the same HTTP method on an equivalent template twice is a configuration error. */
  add(httpMethod: string, template: PathTemplate, route: T): void {
    let node = this.root;
    const keys = [...template.segments];
    if (template.verb) {
      keys.push({ kind: 'literal', value: template.verb });
      this.verbs.add(template.verb);
    }
    for (const key of keys) {
      if (key.kind === 'literal') {
        let next = node.literals.get(key.value);
        if (!next) node.literals.set(key.value, (next = new TrieNode<T>()));
        node = next;
      } else if (key.kind === 'single') {
        node = node.single ??= new TrieNode<T>();
      } else {
        if (!node.multi) {
          node.multi = new TrieNode<T>();
          // `**` keeps matching further parts: it is its own child.
          node.multi.multi = node.multi;
        }
        node = node.multi;
      }
    }
    const method = httpMethod.toUpperCase();
    if (node.byMethod.has(method)) throw new DuplicateRouteError(method, template.source);
    node.byMethod.set(method, { route, template });
  }

  /** Finds the route for an HTTP method and a raw (still percent-encoded) request path without query. */
  lookup(httpMethod: string, rawPath: string): RouteMatch<T> | undefined {
    const parts = this.requestParts(rawPath);
    if (!parts) return undefined;
    const entry = find(this.root, parts, 0, httpMethod.toUpperCase());
    if (!entry) return undefined;
    // Without a '%' in the path, unescaping changes nothing.
    const escaped = rawPath.includes('%');
    const bindings = entry.template.variables.map((v) => {
      const end = v.open ? parts.length - v.tail : v.end;
      let value: string;
      if (end - v.start === 1) value = escaped ? unescapePathPart(parts[v.start]!) : parts[v.start]!;
      else {
        const covered = parts.slice(v.start, end);
        value = (escaped ? covered.map(unescapePathPart) : covered).join('/');
      }
      return { fieldPath: v.fieldPath, value };
    });
    return { route: entry.route, bindings };
  }

  private requestParts(rawPath: string): string[] | undefined {
    if (!rawPath.startsWith('/')) return undefined;
    let path = rawPath.slice(1);
    const lastColon = path.lastIndexOf(':');
    if (lastColon >= 0 && lastColon > path.lastIndexOf('/') && this.verbs.has(path.slice(lastColon + 1))) {
      path = `${path.slice(0, lastColon)}/${path.slice(lastColon + 1)}`;
    }
    return path.split('/');
  }
}

function find<T>(node: TrieNode<T>, parts: string[], index: number, method: string): Entry<T> | undefined {
  if (index === parts.length) {
    return node.byMethod.get(method) ?? node.multi?.byMethod.get(method);
  }
  const literal = node.literals.get(parts[index]!);
  return (
    (literal && find(literal, parts, index + 1, method)) ??
    (node.single && find(node.single, parts, index + 1, method)) ??
    (node.multi && find(node.multi, parts, index + 1, method)) ??
    undefined
  );
}
