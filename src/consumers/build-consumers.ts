import type { Dispatcher } from 'undici'
import type { CapabilityModel, ConsumedNamespace, ConsumedOperation } from '../capability/model.js'
import { envName } from '../options.js'
import { unsupportedAuthentication } from '../capability/check-capability.js'
import { resolveStaticText, type ExpressionScope } from '../expressions/compile-value.js'
import { compileRequest, type RequestBuilder } from './compile-request.js'
import { DigestSession } from './digest-auth.js'
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
  /** why there is no target, with the flag or variable that would give one */
  readonly unconfigured: string | undefined
  readonly buildRequest: RequestBuilder
  /** the upstream credential this runtime cannot send yet: the call is never made */
  readonly unsupported: string | undefined
  /** HTTP Digest to this namespace: one session (challenge, nonce count) per namespace */
  readonly digest: DigestSession | undefined
}

export interface Consumers {
  operation (call: string): ConsumedOperationRuntime | undefined
  /** what a `forward` to the namespace sends besides the caller's request: its base path, fixed
   * parameters and credential, as an operation with an empty path */
  forwarder (namespace: string): ConsumedOperationRuntime | undefined
  /** where a consumed namespace points, as resolved at startup */
  baseUri (namespace: string): ResolvedBaseUri
  close (): Promise<void>
}

export interface ConsumerOptions {
  timeouts: UpstreamTimeouts
  /** namespace -> base URI that replaces the capability's (`--base-uri`) */
  baseUris: ReadonlyMap<string, string>
  /** the same from the environment, by the namespace's environment name */
  envBaseUris: ReadonlyMap<string, string>
  /** OpenAPI server variables, by environment name */
  serverVars: ReadonlyMap<string, string>
  proxy: { httpProxy?: string, httpsProxy?: string, noProxy?: string } | undefined
}

/**
 * Builds every consumed operation: its base URI resolved, its request compiled, its connection
 * pool created. Runs once at startup.
 */
export function buildConsumers (model: CapabilityModel, scope: ExpressionScope, options: ConsumerOptions): Consumers {
  const bases = new Map(model.consumes.map((c) => [c.namespace, resolveBaseUri(c, options, scope)]))
  const origins = [...bases.values()].flatMap((b) => b.base === undefined ? [] : [b.base.origin])
  const dispatchers: Dispatchers = buildDispatchers(origins, options.timeouts, options.proxy)

  const operations = new Map<string, ConsumedOperationRuntime>()
  const forwarders = new Map<string, ConsumedOperationRuntime>()
  for (const c of model.consumes) {
    const resolved = bases.get(c.namespace) as ResolvedBaseUri
    const base = resolved.base
    const target = base === undefined ? undefined : { origin: base.origin, dispatcher: dispatchers.forOrigin(base.origin) }
    const auth = c.authentication
    const digest = auth?.type === 'digest' ? new DigestSession(resolveStaticText(auth.username, scope), resolveStaticText(auth.password, scope)) : undefined
    const runtime = (op: ConsumedOperation): ConsumedOperationRuntime => ({
      definition: op,
      target,
      unconfigured: resolved.missing,
      buildRequest: compileRequest(c, op, base?.basePath ?? '', scope),
      unsupported: unsupportedAuthentication(c.authentication),
      digest,
    })
    for (const op of c.operations) operations.set(`${c.namespace}.${op.name}`, runtime(op))
    const forward: ConsumedOperation = { namespace: c.namespace, name: 'forward', method: 'GET', path: '', parameters: c.parameters, body: undefined, outputRawFormat: 'json', outputSchema: undefined, at: c.at }
    forwarders.set(c.namespace, runtime(forward))
  }
  return {
    operation: (call) => operations.get(call),
    forwarder: (namespace) => forwarders.get(namespace),
    baseUri: (namespace) => bases.get(namespace) as ResolvedBaseUri,
    close: () => dispatchers.close(),
  }
}

export interface ResolvedBaseUri {
  /** where the namespace's calls go */
  readonly base: { origin: string, basePath: string } | undefined
  /** the base URI as it will be used (bound variables filled in: shown only through the redactor) */
  readonly uri: string | undefined
  /** what is missing, and the flag or variable that gives it */
  readonly missing: string | undefined
}

/**
 * A namespace's base URI: `--base-uri`, else `NAFTIKO_BASE_URI_<NAMESPACE>`, else the capability's,
 * with bound variables filled in and OpenAPI server variables (`https://{subdomain}.example.com`)
 * from `--server-var` or `NAFTIKO_SERVER_VAR_<NAME>`.
 */
export function resolveBaseUri (c: ConsumedNamespace, options: Pick<ConsumerOptions, 'baseUris' | 'envBaseUris' | 'serverVars'>, scope: ExpressionScope): ResolvedBaseUri {
  const fix = `--base-uri ${c.namespace}=URL (or NAFTIKO_BASE_URI_${envName(c.namespace)})`
  const raw = options.baseUris.get(c.namespace) ?? options.envBaseUris.get(envName(c.namespace)) ?? c.baseUri
  if (raw === undefined || raw.trim() === '') return { base: undefined, uri: undefined, missing: `it has no base URI: give one with ${fix}` }
  const unset: string[] = []
  const filled = resolveStaticText(raw, scope).replace(/\{([^{}]+)\}/g, (whole, name: string) => {
    const value = options.serverVars.get(envName(name))
    if (value === undefined) unset.push(name)
    return value ?? whole
  })
  if (unset.length > 0) {
    const vars = unset.map((n) => `--server-var ${n}=VALUE (or NAFTIKO_SERVER_VAR_${envName(n)})`).join(', ')
    // the message names the base URI as written: filled in, it could hold a bound value
    return { base: undefined, uri: filled, missing: `its base URI ${raw} has server variables with no value: give ${vars}, or ${fix}` }
  }
  const base = parseBaseUri(filled)
  return base === undefined ? { base, uri: filled, missing: `its base URI ${raw} is not an http(s) URL: give one with ${fix}` } : { base, uri: filled, missing: undefined }
}

/** `https://api.openai.com/v1` -> origin + base path; undefined when it is no http(s) URL. */
function parseBaseUri (resolved: string): { origin: string, basePath: string } | undefined {
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
