import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import { toErrorResponse } from '../../errors/envelope.js'
import type { Outcome } from '../../invocations/outcome.js'
import { Cancellation } from '../../server/cancellation.js'
import type { FlatLine, Logger } from '../../server/logger.js'
import type { Metrics } from '../../server/metrics.js'
import type { RequestSpan } from '../../server/tracing.js'
import { relayBody, relayEventStream, type RelayOutcome } from './relay-body.js'

/** names the log line of a response */
export const REQUEST_ID = 'x-naftiko-request-id'

/**
 * One REST request as the answer needs it. A fastify request is one; the direct route
 * (`direct-route.ts`) builds one for the requests it takes before fastify.
 */
export interface RestExchange {
  readonly id: string
  readonly method: string
  readonly headers: IncomingHttpHeaders
  body: unknown
  readonly params: unknown
  readonly query: unknown
  /** the request's SERVER span, when spans are exported */
  span?: RequestSpan
  upstreamStatus?: number
  /** the kind of upstream failure the request answers: `status_503`, `upstream_timeout`, ... */
  upstreamError?: string
  /** set when the answer logged the request itself */
  logged?: boolean
}

/** The response an answer is written on; `hijack` takes it from whoever owned it (fastify's reply). */
export interface RawReply {
  readonly raw: ServerResponse
  hijack: () => unknown
}

/** Where an expose's request lines and metrics go. */
export interface RequestLog {
  readonly logger: Logger
  /** the logger's request line */
  readonly line: FlatLine
  readonly metrics: Metrics
  readonly expose: string
}

/**
 * Runs an invocation (aborted when the client goes away) and writes its outcome as the answer on
 * the raw response, then logs the request. The gateway's own failures are thrown, for the caller
 * to answer with `rejection`. `route`: the route's fastify path, which names it in the log line
 * and the metrics.
 */
export async function answer (exchange: RestExchange, reply: RawReply, log: RequestLog, route: string, invoke: (gone: Cancellation) => Promise<Outcome>): Promise<void> {
  const raw = reply.raw
  const gone = new Cancellation()
  // 'close' comes once: `on` spares the wrapper `once` builds per request
  raw.on('close', () => { if (!raw.writableFinished) gone.abort() })
  const started = performance.now()
  const outcome = await invoke(gone)
  if (outcome.kind === 'error') throw outcome.error
  exchange.upstreamStatus = outcome.status
  const upstreamMs = performance.now() - started
  exchange.logged = true
  reply.hijack()
  let relayed: RelayOutcome
  switch (outcome.kind) {
    case 'json':
    case 'text':
      relayed = writeWhole(raw, outcome.status, { ...outcome.headers, [REQUEST_ID]: exchange.id }, outcome.text)
      break
    case 'upstream_error':
      exchange.upstreamError = `status_${outcome.status}`
      relayed = writeWhole(raw, outcome.status, { ...outcome.headers, [REQUEST_ID]: exchange.id }, outcome.body)
      break
    case 'stream':
      // the relayed headers are a fresh object per answer (relayHeaders)
      outcome.headers[REQUEST_ID] = exchange.id
      log.metrics.streamOpened(log.expose)
      try {
        relayed = await relayEventStream(raw, gone, outcome.status, outcome.headers, outcome.body)
      } finally {
        log.metrics.streamClosed(log.expose)
      }
      break
    case 'relay': {
      outcome.headers[REQUEST_ID] = exchange.id
      // a short answer is relayed at once: no promise to wait for
      const relaying = relayBody(raw, gone, outcome.status, outcome.headers, outcome.body)
      relayed = typeof relaying === 'string' ? relaying : await relaying
      break
    }
  }
  logRequest(log, exchange, route, outcome.status, performance.now() - started, { upstreamMs, outcome: relayed })
}

/** A failed request's answer: its status, headers and the OpenAI-style envelope as text. */
export interface Rejection {
  readonly status: number
  readonly headers: OutgoingHttpHeaders
  readonly text: string
}

/**
 * What a failed request is answered with, or nothing when the client went away (its upstream call
 * was aborted because of that), whose 499 line is logged here.
 */
export function rejection (log: RequestLog, exchange: RestExchange, route: string, err: unknown, clientGone: boolean, ms: number): Rejection | undefined {
  if (clientGone) {
    exchange.logged = true
    logRequest(log, exchange, route, 499, ms, { outcome: 'client_gone' })
    return undefined
  }
  const { status, body } = toErrorResponse(err)
  if (status >= 500) {
    exchange.span?.fail(body.error.code)
    log.logger.error({ reqId: exchange.id, err }, 'request failed')
  } else {
    log.logger.debug({ reqId: exchange.id, code: body.error.code }, 'request rejected')
  }
  if (body.error.code.startsWith('upstream_')) exchange.upstreamError = body.error.code
  return { status, headers: { 'content-type': 'application/json; charset=utf-8', [REQUEST_ID]: exchange.id }, text: JSON.stringify(body) }
}

/**
 * A whole answer, written as fastify writes a text: with its true length, a text type when it has
 * none, and neither where the status allows no body (1xx, 204; 304 keeps its type).
 */
export function writeWhole (res: ServerResponse, status: number, headers: OutgoingHttpHeaders, text: string): RelayOutcome {
  if (res.destroyed) return 'client_gone'
  if (status < 200 || status === 204 || status === 304) {
    if (status !== 304) delete headers['content-type']
    delete headers['content-length']
    res.writeHead(status, headers)
    res.end()
    return 'complete'
  }
  headers['content-type'] ??= 'text/plain; charset=utf-8'
  headers['content-length'] = Buffer.byteLength(text)
  res.writeHead(status, headers)
  res.end(text)
  return 'complete'
}

export function logRequest (log: RequestLog, exchange: RestExchange, route: string, status: number, ms: number, extra?: { upstreamMs?: number, outcome: RelayOutcome }): void {
  exchange.span?.end(status)
  log.metrics.request(log.expose, route, status, ms, exchange.upstreamError)
  log.line({
    reqId: exchange.id,
    method: exchange.method,
    route: route === 'unknown' ? null : route,
    status,
    upstreamStatus: exchange.upstreamStatus ?? null,
    ms: Math.round(ms * 100) / 100,
    upstreamMs: extra?.upstreamMs === undefined ? undefined : Math.round(extra.upstreamMs * 100) / 100,
    outcome: extra?.outcome,
  }, 'request')
}
