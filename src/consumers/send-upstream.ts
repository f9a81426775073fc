import type { IncomingHttpHeaders } from 'node:http'
import { Readable } from 'node:stream'
import type { Dispatcher } from 'undici'
import { NaftikoError } from '../errors/naftiko-error.js'
import type { CallContext, CallInputs } from '../expressions/call-context.js'
import { traceHeaders } from '../expressions/trace-context.js'
import type { ConsumedOperationRuntime, UpstreamTarget } from './build-consumers.js'
import type { UpstreamRequest } from './compile-request.js'
import { callUpstream, type UpstreamAnswer, type UpstreamSource } from './upstream-source.js'

export interface UpstreamResponse {
  status: number
  headers: IncomingHttpHeaders
  body: UpstreamSource
}

/** An AbortSignal, or an emitter of `abort` that has `aborted` (server/cancellation.ts). */
export type UpstreamSignal = AbortSignal | {
  readonly aborted: boolean
  once (event: 'abort', listener: () => void): unknown
  removeListener (event: 'abort', listener: () => void): unknown
}

/**
 * Builds the upstream request of a consumed operation and sends it on the namespace's pool. The
 * response body is left unread for the invocation to relay or read; `signal` aborts the upstream
 * request (client gone, cancelled, shutdown).
 */
export function sendUpstream (operation: ConsumedOperationRuntime, ctx: CallContext, signal: UpstreamSignal): Promise<UpstreamResponse> {
  if (operation.target === undefined) return Promise.reject(notConfigured(operation))
  return dispatchUpstream(operation, operation.buildRequest(ctx), signal, ctx.inputs)
}

/** What an upstream call joins: the caller's trace context, and what watches the request's calls. */
export type CallScope = Pick<CallInputs, 'trace' | 'watch'>

/**
 * Sends a built request on the operation's pool. A body that is a stream (a forwarded request's)
 * can be read once: it is never sent again, neither on a fresh connection nor to answer a digest
 * challenge (the challenge's 401 then goes back as it is).
 *
 * The call joins the caller's trace (`traceparent` with a span id of the gateway's: its CLIENT
 * span's when spans are exported) and reports to the request's watch once its response headers
 * arrive or it fails.
 */
export function dispatchUpstream (operation: ConsumedOperationRuntime, request: UpstreamRequest, signal: UpstreamSignal, scope: CallScope): Promise<UpstreamResponse> {
  const target = operation.target
  if (target === undefined) return Promise.reject(notConfigured(operation))
  const watched = scope.watch?.call(request.method, target.origin, request.path)
  const trace = watched?.headers ?? (scope.trace === undefined ? undefined : traceHeaders(scope.trace))
  if (trace !== undefined) Object.assign(request.headers, trace)
  if (watched === undefined) return sendOnPool(operation, target, request, signal)
  return sendOnPool(operation, target, request, signal).then((response) => {
    watched.done(response.status)
    return response
  }, (err: unknown) => {
    watched.done(undefined, err)
    throw err
  })
}

async function sendOnPool (operation: ConsumedOperationRuntime, target: UpstreamTarget, request: UpstreamRequest, signal: UpstreamSignal): Promise<UpstreamResponse> {
  const replayable = !(request.body instanceof Readable)
  const digest = operation.digest
  const answer = digest?.authorization(request.method, request.path)
  if (answer !== undefined) request.headers.authorization = answer
  const options: Dispatcher.DispatchOptions = {
    origin: target.origin,
    path: request.path,
    method: request.method as Dispatcher.HttpMethod,
    headers: request.headers,
    // pieces of a large body go as an iterable (undici writes each, its length from content-length)
    body: request.body as Dispatcher.DispatchOptions['body'],
  }
  let response: UpstreamAnswer
  try {
    response = await callUpstream(target.dispatcher, options, signal)
  } catch (err) {
    if (signal.aborted || !replayable || !safeToRetry(err, request.method)) throw err
    // once, on a fresh connection (the pool drops the failed socket)
    response = await callUpstream(target.dispatcher, options, signal)
  }
  // digest: the first call (or a stale nonce) is answered 401 with the challenge; answer it once
  if (replayable && digest !== undefined && response.statusCode === 401 && digest.learn(response.headers['www-authenticate'])) {
    await response.body.dump()
    request.headers.authorization = digest.authorization(request.method, request.path) as string
    response = await callUpstream(target.dispatcher, options, signal)
  }
  return { status: response.statusCode, headers: response.headers, body: response.body }
}

function notConfigured (operation: ConsumedOperationRuntime): NaftikoError {
  return new NaftikoError('upstream_not_configured', `The upstream "${operation.definition.namespace}" is not configured: ${operation.unconfigured ?? 'it has no base URI'}.`)
}

/** Failures where the request cannot have reached the upstream: the connection never opened. */
const NOT_CONNECTED = new Set(['ECONNREFUSED', 'EAI_AGAIN'])
/** A connection that broke before any response: the upstream may have acted, so only an
 * idempotent request is sent again. */
const BROKEN = new Set(['ECONNRESET', 'UND_ERR_SOCKET', 'EPIPE'])
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'])

/**
 * A retry is safe only before the first response byte, and for a non-idempotent call only when the
 * request cannot have reached the upstream. Upstream 429/5xx answers are never retried here: they go
 * back to the client, whose SDK retries with the upstream's retry-after.
 */
function safeToRetry (err: unknown, method: string): boolean {
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code !== 'string') return false
  return NOT_CONNECTED.has(code) || (BROKEN.has(code) && IDEMPOTENT.has(method))
}
