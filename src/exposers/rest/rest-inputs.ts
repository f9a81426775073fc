import type { ExposedInputParameter } from '../../capability/model.js'
import { type CallInputs, JsonBody, plainValue, type UpstreamWatch } from '../../expressions/call-context.js'
import { NaftikoError } from '../../errors/naftiko-error.js'
import { hasType } from '../../invocations/input-types.js'
import { normalizeName } from '../../expressions/template.js'
import { traceContextOf, type TraceContext } from '../../expressions/trace-context.js'
import { compileJsonPath, type Extractor } from '../../invocations/compile-mapping.js'
import type { RestExchange } from './rest-answer.js'

/** Headers that are credentials or connection details of the client: never an input. */
const PRIVATE_HEADERS = new Set(['authorization', 'cookie', 'proxyauthorization', 'host', 'connection', 'contentlength', 'transferencoding'])

export interface RouteInputs {
  /** normalized name -> fastify's name for that path parameter */
  readonly pathParams: ReadonlyMap<string, string>
  /** declared inputs (`inputParameters` of the resource and operation), by normalized name */
  readonly declared: ReadonlyMap<string, { in?: string, extract?: Extractor }>
  /** declared inputs that are required or typed, checked before the call */
  readonly checks: ReadonlyArray<{ name: string, key: string, required: boolean, type: string | undefined }>
  /** query parameters and headers that are the client's credential for the gateway */
  readonly hidden: ReadonlySet<string>
}

export function compileRouteInputs (pathParams: Map<string, string>, params: readonly ExposedInputParameter[], credentials: string[]): RouteInputs {
  const declared = new Map<string, { in?: string, extract?: Extractor }>()
  const checks: Array<{ name: string, key: string, required: boolean, type: string | undefined }> = []
  for (const p of params) {
    const value = typeof p.value === 'string' && p.value.startsWith('$') ? compileJsonPath(p.value) : undefined
    declared.set(normalizeName(p.name), { in: p.in, extract: value })
    if (p.required === true || p.type !== undefined) checks.push({ name: p.name, key: normalizeName(p.name), required: p.required === true, type: p.type })
  }
  return { pathParams, declared, checks, hidden: new Set([...PRIVATE_HEADERS, ...credentials.map(normalizeName)]) }
}

/**
 * A REST call's inputs (DESIGN 2.1): a path parameter, else a query parameter, else a header,
 * else a field of the JSON body; `body` is the whole body unless the operation declares an input
 * named `body`. Lookups are lazy: a route that forwards the whole body never builds these maps.
 */
export class RestInputs implements CallInputs {
  private query?: Map<string, unknown>
  private headers?: Map<string, unknown>
  private fields?: Map<string, unknown>

  constructor (private readonly request: RestExchange, private readonly route: RouteInputs, readonly watch?: UpstreamWatch) {}

  get body (): unknown { return this.request.body }

  get trace (): TraceContext | undefined { return traceContextOf(this.request.headers) }

  get (name: string): unknown {
    const declared = this.route.declared.get(name)
    if (declared?.extract !== undefined) return declared.extract(this.jsonBody())
    const param = this.route.pathParams.get(name)
    if (param !== undefined) return (this.request.params as Record<string, string>)[param]
    // `body` is the whole body, unless it is declared somewhere else than the body
    if (name === 'body' && (declared === undefined || declared.in === 'body')) return this.request.body
    const where = declared?.in
    if (where === undefined || where === 'query') {
      this.query ??= normalizedEntries(this.request.query, this.route.hidden)
      if (this.query.has(name)) return this.query.get(name)
    }
    if (where === undefined || where === 'header') {
      this.headers ??= normalizedEntries(this.request.headers, this.route.hidden)
      if (this.headers.has(name)) return this.headers.get(name)
    }
    if (where === undefined || where === 'body') {
      this.fields ??= normalizedEntries(this.jsonBody())
      if (this.fields.has(name)) return this.fields.get(name)
    }
    return undefined
  }

  /** The problem with a required or typed declared input, naming it; undefined when they fit. */
  check (): NaftikoError | undefined {
    for (const c of this.route.checks) {
      const value = plainValue(this.get(c.key))
      if (value === undefined) {
        if (c.required) return new NaftikoError('missing_required_parameter', `Missing required parameter "${c.name}".`, { param: c.name })
        continue
      }
      // query and header values arrive as text: only body values carry JSON types
      if (c.type !== undefined && (c.type === 'object' || c.type === 'array' || typeof value !== 'string') && !hasType(value, c.type)) {
        return new NaftikoError('invalid_request', `Parameter "${c.name}" must be ${c.type === 'array' || c.type === 'object' ? 'an' : 'a'} ${c.type}.`, { param: c.name })
      }
    }
    return undefined
  }

  private jsonBody (): unknown {
    const body = this.request.body
    return body instanceof JsonBody ? body.value : undefined
  }
}

function normalizedEntries (source: unknown, skip?: ReadonlySet<string>): Map<string, unknown> {
  const map = new Map<string, unknown>()
  if (source === null || typeof source !== 'object' || Array.isArray(source)) return map
  for (const [key, value] of Object.entries(source)) {
    const name = normalizeName(key)
    if (skip?.has(name) === true || map.has(name)) continue
    map.set(name, value)
  }
  return map
}
