import type { Capability, ConsumedInputParameter, ConsumedOperation } from '../capability/types.js'
import { resolveStaticText, type ExpressionScope } from './compile-value.js'
import { compileRequest, mergeParameters, type RequestBuilder } from './compile-request.js'
import { buildDispatchers, type Dispatchers, type UpstreamTimeouts } from './upstream-dispatchers.js'
import type { Dispatcher } from 'undici'

export interface UpstreamTarget {
  origin: string
  dispatcher: Dispatcher
}

/** A consumed operation ready for the request path. */
export interface ConsumedOperationRuntime {
  readonly namespace: string
  readonly name: string
  readonly method: string
  /** undefined when the namespace has no usable base URI: calls answer 502 upstream_not_configured */
  readonly target: UpstreamTarget | undefined
  readonly buildRequest: RequestBuilder
  readonly definition: ConsumedOperation
  /** consumes-, resource- and operation-level parameters, merged */
  readonly parameters: readonly ConsumedInputParameter[]
  /** placeholders of the path that a call must fill (bound variables excluded) */
  readonly pathPlaceholders: readonly string[]
}

export interface Consumers {
  operation (call: string): ConsumedOperationRuntime | undefined
  close (): Promise<void>
}

export interface ConsumerOptions {
  timeouts: UpstreamTimeouts
  /** namespace -> base URI that replaces the capability's */
  baseUris: ReadonlyMap<string, string>
  proxy: { httpProxy?: string, httpsProxy?: string, noProxy?: string } | undefined
}

/**
 * Builds every consumed operation: its base URI resolved, its request compiled, its connection
 * pool created. Runs once at startup.
 */
export function buildConsumers (cap: Capability, scope: ExpressionScope, options: ConsumerOptions): Consumers {
  const consumes = cap.capability.consumes ?? []
  const bases = new Map<string, { origin: string, basePath: string } | undefined>()
  for (const c of consumes) bases.set(c.namespace, parseBaseUri(options.baseUris.get(c.namespace) ?? c.baseUri, scope))

  const origins = [...bases.values()].filter((b) => b !== undefined).map((b) => b.origin)
  const dispatchers: Dispatchers = buildDispatchers(origins, options.timeouts, options.proxy)

  const operations = new Map<string, ConsumedOperationRuntime>()
  for (const c of consumes) {
    const base = bases.get(c.namespace)
    const target = base === undefined ? undefined : { origin: base.origin, dispatcher: dispatchers.forOrigin(base.origin) }
    for (const resource of c.resources ?? []) {
      for (const op of resource.operations ?? []) {
        operations.set(`${c.namespace}.${op.name}`, {
          namespace: c.namespace,
          name: op.name,
          method: String(op.method).toUpperCase(),
          target,
          buildRequest: compileRequest(c, resource, op, base?.basePath ?? '', scope),
          definition: op,
          parameters: mergeParameters(c.inputParameters, resource.inputParameters, op.inputParameters),
          pathPlaceholders: pathPlaceholders(op.path ?? resource.path, scope),
        })
      }
    }
  }
  return {
    operation: (call) => operations.get(call),
    close: () => dispatchers.close(),
  }
}

function pathPlaceholders (path: string, scope: ExpressionScope): string[] {
  return [...String(path).matchAll(/\{\{?\s*([^{}]+?)\s*\}?\}/g)]
    .map((m) => m[1] as string)
    .filter((token) => !scope.bindings.values.has(token))
    .map((token) => token.slice(token.lastIndexOf('.') + 1))
}

/** `https://api.openai.com/v1` -> origin + base path; undefined when empty or still holding
 * OpenAPI server variables (`https://{subdomain}.example.com`). */
function parseBaseUri (raw: string | null | undefined, scope: ExpressionScope): { origin: string, basePath: string } | undefined {
  if (raw === undefined || raw === null || raw.trim() === '') return undefined
  const resolved = resolveStaticText(raw, scope)
  if (/[{}]/.test(resolved)) return undefined
  let url: URL
  try {
    url = new URL(resolved)
  } catch {
    return undefined
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined
  const basePath = url.pathname.endsWith('/') ? url.pathname.slice(0, -1) : url.pathname
  return { origin: url.origin, basePath }
}
