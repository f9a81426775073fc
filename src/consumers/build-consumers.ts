import type { Dispatcher } from 'undici'
import type { CapabilityModel, ConsumedOperation } from '../capability/model.js'
import { unsupportedAuthentication } from '../capability/check-capability.js'
import { resolveStaticText, type ExpressionScope } from '../expressions/compile-value.js'
import { compileRequest, type RequestBuilder } from './compile-request.js'
import { buildDispatchers, type Dispatchers, type UpstreamTimeouts } from './upstream-dispatchers.js'

export interface UpstreamTarget {
  readonly origin: string
  readonly dispatcher: Dispatcher
}

/** A consumed operation ready for the request path. */
export interface ConsumedOperationRuntime {
  readonly definition: ConsumedOperation
  /** undefined when the namespace has no usable base URI: calls answer 502 upstream_not_configured */
  readonly target: UpstreamTarget | undefined
  readonly buildRequest: RequestBuilder
  /** the upstream credential this runtime cannot send yet: the call is never made */
  readonly unsupported: string | undefined
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
export function buildConsumers (model: CapabilityModel, scope: ExpressionScope, options: ConsumerOptions): Consumers {
  const bases = new Map<string, { origin: string, basePath: string } | undefined>()
  for (const c of model.consumes) bases.set(c.namespace, parseBaseUri(options.baseUris.get(c.namespace) ?? c.baseUri, scope))

  const origins = [...bases.values()].filter((b) => b !== undefined).map((b) => b.origin)
  const dispatchers: Dispatchers = buildDispatchers(origins, options.timeouts, options.proxy)

  const operations = new Map<string, ConsumedOperationRuntime>()
  for (const c of model.consumes) {
    const base = bases.get(c.namespace)
    const target = base === undefined ? undefined : { origin: base.origin, dispatcher: dispatchers.forOrigin(base.origin) }
    for (const op of c.operations) {
      operations.set(`${c.namespace}.${op.name}`, {
        definition: op,
        target,
        buildRequest: compileRequest(c, op, base?.basePath ?? '', scope),
        unsupported: unsupportedAuthentication(c.authentication),
      })
    }
  }
  return {
    operation: (call) => operations.get(call),
    close: () => dispatchers.close(),
  }
}

/** `https://api.openai.com/v1` -> origin + base path; undefined when empty or still holding
 * OpenAPI server variables (`https://{subdomain}.example.com`). */
function parseBaseUri (raw: string | undefined, scope: ExpressionScope): { origin: string, basePath: string } | undefined {
  if (raw === undefined || raw.trim() === '') return undefined
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
