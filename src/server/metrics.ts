import type { Counter, Gauge, Histogram, Registry } from 'prom-client'
import { RecentErrors } from './recent-errors.js'

/**
 * What the exposers report about each request, for the control port's Prometheus `/metrics`. Without
 * a control port nothing is recorded (`NO_METRICS`) and prom-client is never loaded.
 */
export interface Metrics {
  /** one answered request: REST by route template, MCP by JSON-RPC method and tool; `upstreamError`
   * the kind of upstream failure it answers (`upstream_timeout`, `upstream_unreachable`, `status_503`, ...) */
  request (expose: string, route: string, status: number, ms: number, upstreamError?: string): void
  /** the time until the upstream's response headers, for calls that reached it */
  upstream (expose: string, route: string, ms: number): void
  /** a tool call that failed on the upstream's side, answered as a tool error inside a successful
   * JSON-RPC answer (`kind` and `route` as in `request`) */
  toolError (expose: string, kind: string, route: string): void
  /** an event stream relayed to a client: opened, then closed */
  streamOpened (expose: string): void
  streamClosed (expose: string): void
}

export const NO_METRICS: Metrics = {
  request () {},
  upstream () {},
  toolError () {},
  streamOpened () {},
  streamClosed () {},
}

export interface PrometheusMetrics extends Metrics {
  readonly registry: Registry
  /** the last failed requests and the failures per expose and route, for the dashboard */
  readonly recentErrors: RecentErrors
}

/** What `/metrics` answers from: a runtime's registry, or the primary's merge of its workers' registries. */
export interface MetricsSource {
  readonly contentType: string
  metrics (): Promise<string>
}

const SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]

/** A registry of this runtime's own (several runtimes in one process keep theirs apart), with the process metrics. */
export async function createMetrics (): Promise<PrometheusMetrics> {
  const client = await import('prom-client')
  const registry = new client.Registry()
  client.collectDefaultMetrics({ register: registry, prefix: 'naftiko_' })
  const requests: Counter = new client.Counter({ name: 'naftiko_requests_total', help: 'Requests answered, by expose, route or tool, and status', labelNames: ['expose', 'route', 'status'], registers: [registry] })
  const duration: Histogram = new client.Histogram({ name: 'naftiko_request_duration_seconds', help: 'Time to answer a request, by expose and route or tool', labelNames: ['expose', 'route'], buckets: SECONDS, registers: [registry] })
  const upstream: Histogram = new client.Histogram({ name: 'naftiko_upstream_duration_seconds', help: 'Time until the upstream\'s response headers, by expose and route or tool', labelNames: ['expose', 'route'], buckets: SECONDS, registers: [registry] })
  const upstreamErrors: Counter = new client.Counter({ name: 'naftiko_upstream_errors_total', help: 'Calls that failed on the upstream\'s side, by kind', labelNames: ['expose', 'kind'], registers: [registry] })
  const streams: Gauge = new client.Gauge({ name: 'naftiko_streams_in_flight', help: 'Event streams being relayed to clients', labelNames: ['expose'], registers: [registry] })
  const recentErrors = new RecentErrors()
  return {
    registry,
    recentErrors,
    request (expose, route, status, ms, upstreamError) {
      requests.inc({ expose, route, status })
      duration.observe({ expose, route }, ms / 1000)
      if (upstreamError !== undefined) upstreamErrors.inc({ expose, kind: upstreamError })
      if (status >= 400) recentErrors.add(expose, route, status, upstreamError)
    },
    upstream (expose, route, ms) { upstream.observe({ expose, route }, ms / 1000) },
    toolError (expose, kind, route) {
      upstreamErrors.inc({ expose, kind })
      recentErrors.add(expose, route, undefined, kind)
    },
    streamOpened (expose) { streams.inc({ expose }) },
    streamClosed (expose) { streams.dec({ expose }) },
  }
}
