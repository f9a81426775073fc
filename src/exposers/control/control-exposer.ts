import type { Server } from 'node:http'
import type { ControlExpose } from '../../capability/model.js'
import { NaftikoError } from '../../errors/naftiko-error.js'
import type { ExpressionScope } from '../../expressions/compile-value.js'
import type { MetricsSource } from '../../server/metrics.js'
import { buildInboundAuth } from '../auth/inbound-auth.js'
import { readOnlyServer, sendJson } from '../read-only-server.js'
import type { Logger } from '../../server/logger.js'

/** What the control port reports; the runtime keeps it current. */
export interface ControlState {
  /** every other expose listens */
  ready: boolean
  /** shutting down: no longer ready, in-flight requests finishing */
  draining: boolean
  readonly startedAt: number
  readonly version: string
  readonly capability: { readonly file: string, readonly label: string | undefined, readonly version: string | undefined }
  addresses: ReadonlyArray<{ type: string, namespace: string, url: string }>
  /** with `--workers N`: how many worker processes there should be, and how many serve */
  workers?: { configured: number, ready: number }
}

/**
 * A `type: control` expose (or `--control-port`): `GET /health/live`, `GET /health/ready` (503 until
 * every expose listens and again while draining), `GET /metrics` (Prometheus text) and, with
 * `management.info`, `GET /status`. Binds to loopback unless told otherwise.
 */
export function buildControlExposer (expose: ControlExpose, state: ControlState, metrics: { readonly registry: MetricsSource }, scope: ExpressionScope, logger: Logger): Server {
  const paths = [...(expose.health ? ['/health/live', '/health/ready'] : []), '/metrics', ...(expose.info ? ['/status'] : [])]
  return readOnlyServer(buildInboundAuth(expose.authentication, scope)?.check, logger.child({ expose: expose.namespace }), async (path, _req, res) => {
    if (!paths.includes(path)) throw new NaftikoError('unknown_route', `No route for ${path}; the control port serves ${paths.join(', ')}.`)
    switch (path) {
      case '/health/live':
        return sendJson(res, 200, { status: 'UP' })
      case '/health/ready': {
        const ready = state.ready && !state.draining
        return sendJson(res, ready ? 200 : 503, { status: ready ? 'UP' : 'DOWN', ...(ready ? {} : { reason: state.draining ? 'draining' : 'starting' }) })
      }
      case '/metrics': {
        const text = await metrics.registry.metrics()
        res.writeHead(200, { 'content-type': metrics.registry.contentType })
        res.end(text)
        return
      }
      default:
        return sendJson(res, 200, {
          naftiko: state.version,
          capability: state.capability,
          uptimeSeconds: Math.round((Date.now() - state.startedAt) / 1000),
          ready: state.ready && !state.draining,
          exposes: state.addresses,
          ...(state.workers === undefined ? {} : { workers: state.workers }),
        })
    }
  })
}
