import type { IncomingHttpHeaders } from 'node:http'
import type { Readable } from 'node:stream'
import type { RestResource } from '../capability/model.js'
import { dispatchUpstream, type UpstreamSignal } from '../consumers/send-upstream.js'
import { NaftikoError } from '../errors/naftiko-error.js'
import type { CallContext, UpstreamWatch } from '../expressions/call-context.js'
import { traceContextOf } from '../expressions/trace-context.js'
import { compileOutputMapping } from './compile-mapping.js'
import { answerOutcome, type InvocationContext } from './compile-invocation.js'
import type { AnswerShape, Outcome } from './outcome.js'

/** A request a `forward` resource relays: what follows the resource's path prefix, as received. */
export interface ForwardRequest {
  readonly method: string
  /** the rest of the path after the prefix, still percent-encoded as the client sent it */
  readonly rest: string
  /** the query string without `?`, as the client sent it */
  readonly query: string
  readonly headers: IncomingHttpHeaders
  /** the request body, streamed as it arrives; null when there is none */
  readonly body: Readable | null
  /** what the request's upstream call reports to (metrics, spans), when something watches */
  readonly watch?: UpstreamWatch | undefined
}

export interface Forward {
  /** Relays the request and says what came back; never throws. */
  invoke (request: ForwardRequest, signal: UpstreamSignal): Promise<Outcome>
}

/** Headers that frame the body: relayed with it whatever `trustedHeaders` says. */
const BODY_HEADERS = ['content-type', 'content-length', 'content-encoding']
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-authorization', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host'])
const EMPTY: CallContext = { inputs: { get: () => undefined, body: undefined }, args: new Map() }

/**
 * A `forward` resource (docs/semantics.md, "Forward"): the method, the rest of the path, the query,
 * the body (streamed) and the `trustedHeaders` go to the target namespace's base URI; the namespace's
 * fixed parameters and credential are added and win. Every answer, whatever its status, comes back as
 * it is, scanned for the bound secrets like any relayed answer.
 *
 * `inbound`: the expose's own credential (a header or a query parameter), never relayed even when
 * `trustedHeaders` lists it.
 */
export function compileForward (forward: NonNullable<RestResource['forward']>, context: InvocationContext, inbound: { headers: readonly string[], query: readonly string[] }): Forward {
  const namespace = forward.targetNamespace
  const operation = context.consumers.forwarder(namespace)
  const never = new Set(inbound.headers.map((h) => h.toLowerCase()))
  const hiddenQuery = inbound.query.map((name) => encodeURIComponent(name))
  const trusted = forward.trustedHeaders.map((h) => h.toLowerCase()).filter((h) => !HOP_BY_HOP.has(h) && !never.has(h))
  const shape: AnswerShape = { output: compileOutputMapping([]), redactor: context.redactor }
  return {
    async invoke (request, signal) {
      try {
        if (operation === undefined) throw new NaftikoError('upstream_not_configured', `The forward target "${namespace}" is not a consumed namespace.`)
        if (operation.unsupported !== undefined) throw new NaftikoError('feature_not_supported', `This forward uses ${operation.unsupported}, which this runtime does not execute yet.`)
        checkRest(request.rest)
        const built = operation.buildRequest(EMPTY)
        const headers: Record<string, string> = {}
        for (const name of [...trusted, ...BODY_HEADERS]) {
          const value = request.headers[name]
          if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value
        }
        // the namespace's fixed headers and credential are applied last: the caller cannot replace them
        Object.assign(headers, built.headers)
        const hasBody = request.body !== null && (request.headers['content-length'] !== undefined ? request.headers['content-length'] !== '0' : request.headers['transfer-encoding'] !== undefined)
        const upstream = await dispatchUpstream(operation, {
          method: request.method,
          path: joinForwardPath(built.path, request.rest, request.query, hiddenQuery),
          headers,
          body: hasBody ? request.body : null,
        }, signal, { trace: traceContextOf(request.headers), watch: request.watch })
        return await answerOutcome(upstream, shape, context, `forward to ${namespace}`, true)
      } catch (err) {
        return { kind: 'error', error: err }
      }
    },
  }
}

/** A `.` or `..` segment (encoded or not) would climb out of the target's base path. */
function checkRest (rest: string): void {
  for (const segment of rest.split('/')) {
    let decoded = segment
    try {
      decoded = decodeURIComponent(segment)
    } catch {
      throw new NaftikoError('invalid_request', 'The forwarded path is not valid percent-encoding.')
    }
    if (decoded === '.' || decoded === '..') throw new NaftikoError('invalid_request', `The forwarded path may not hold a "${decoded}" segment.`)
  }
}

/**
 * `/v1?key=k` (the target's base path and fixed query) + `ships/1` + `status=x` ->
 * `/v1/ships/1?status=x&key=k`; a caller's query parameter with the name of a fixed one, or of the
 * expose's own credential (`hidden`), is dropped.
 */
export function joinForwardPath (built: string, rest: string, query: string, hidden: readonly string[] = []): string {
  const mark = built.indexOf('?')
  const base = mark === -1 ? built : built.slice(0, mark)
  const fixed = mark === -1 ? '' : built.slice(mark + 1)
  const path = rest === '' ? base : `${base.endsWith('/') ? base.slice(0, -1) : base}/${rest.startsWith('/') ? rest.slice(1) : rest}`
  const fixedNames = new Set([...fixed.split('&').map((pair) => pair.split('=')[0]), ...hidden])
  const callers = query === '' ? [] : query.split('&').filter((pair) => pair !== '' && !fixedNames.has(pair.split('=')[0]))
  const all = [...callers, ...(fixed === '' ? [] : [fixed])].join('&')
  return all === '' ? path : `${path}?${all}`
}
