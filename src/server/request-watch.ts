import type { UpstreamWatch } from '../expressions/call-context.js'
import { errorCodeOf } from '../errors/envelope.js'
import { NO_METRICS, type Metrics } from './metrics.js'
import type { RequestSpan } from './tracing.js'

/**
 * What one request's upstream calls report to, the same for REST and MCP: the upstream duration
 * histogram (time until the response headers, by expose and route or tool) and, when spans are
 * exported, a CLIENT span per call under the request's span. Undefined when neither records
 * anything: the call path then does no work for it.
 */
export function watchRequest (metrics: Metrics, expose: string, route: string, span: RequestSpan | undefined): UpstreamWatch | undefined {
  if (span === undefined && metrics === NO_METRICS) return undefined
  return {
    call (method, origin, path) {
      const started = performance.now()
      const client = span?.startCall(method, origin, path)
      return {
        headers: client?.headers,
        done (status, error) {
          if (status !== undefined) metrics.upstream(expose, route, performance.now() - started)
          client?.end(status, error === undefined ? undefined : failureOf(error))
        },
      }
    },
  }
}

/** A failed call's kind, as the gateway names it (`upstream_timeout`, `upstream_unreachable`), or `cancelled`. */
function failureOf (error: unknown): string {
  const e = error as { code?: unknown, name?: unknown } | null
  if (e?.code === 'UND_ERR_ABORTED' || e?.name === 'AbortError') return 'cancelled'
  return errorCodeOf(error)
}
