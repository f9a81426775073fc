import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { formatDiagnostic } from '../../capability/diagnostics.js'
import { reloadRefusal } from '../../errors/startup-error.js'
import type { ControlExpose } from '../../capability/model.js'
import { NaftikoError } from '../../errors/naftiko-error.js'
import type { ExpressionScope } from '../../expressions/compile-value.js'
import type { MetricsSource, PrometheusMetrics } from '../../server/metrics.js'
import { buildInboundAuth } from '../auth/inbound-auth.js'
import { readOnlyServer, sendJson } from '../read-only-server.js'
import type { Logger } from '../../server/logger.js'
import { DashboardFeed } from './dashboard-data.js'
import { DASHBOARD_HEADERS, DASHBOARD_PAGE } from './dashboard-page.js'

/** What the control port reports; the runtime keeps it current. */
export interface ControlState {
  /** every other expose listens */
  ready: boolean
  /** shutting down: no longer ready, in-flight requests finishing */
  draining: boolean
  readonly startedAt: number
  readonly version: string
  /** the first capability the control port covers */
  capability: CapabilityInfo
  /** every capability it covers (one, or every capability of the process with --control-port) */
  capabilities: readonly CapabilityInfo[]
  /** each listening expose, with its capability's file and what it serves (`GET /ships`, tool names, endpoints) */
  addresses: ReadonlyArray<{ type: string, namespace: string, url: string, routes: readonly string[], file: string }>
  /** with `--workers N`: how many worker processes there should be, and how many serve */
  workers?: { configured: number, ready: number }
  /** reloads every capability of the process (`POST /config/reload`, with `management.reload`) */
  reload?: () => Promise<void>
}

export interface CapabilityInfo {
  readonly file: string
  readonly label: string | undefined
  readonly version: string | undefined
}

/**
 * A `type: control` expose (or `--control-port`): `GET /health/live`, `GET /health/ready` (503 until
 * every expose listens and again while draining), `GET /metrics` (Prometheus text) and, with
 * `management.info`, `GET /status` and the dashboard (`GET /dashboard`, its feed `GET /dashboard/data`,
 * `GET /` leads there). Binds to loopback unless told otherwise; its authentication covers every path.
 */
export function buildControlExposer (expose: ControlExpose, state: ControlState, metrics: PrometheusMetrics | { readonly registry: MetricsSource }, scope: ExpressionScope, logger: Logger): Server {
  // with --workers the primary serves merged metrics, without the per-process detail the dashboard reads
  const feed = expose.info && 'recentErrors' in metrics ? new DashboardFeed(state, metrics) : undefined
  const paths = controlEndpoints(expose, feed !== undefined)
  const log = logger.child({ expose: expose.namespace })
  return readOnlyServer(buildInboundAuth(expose.authentication, scope)?.check, log, async (path, req, res) => {
    if (path === RELOAD && req.method === 'POST' && expose.reload && state.reload !== undefined) return await reload(state.reload, req, res, log)
    if (feed !== undefined) {
      if (path === '/') {
        // relative, so a prefix a proxy adds is kept; the query too (an API key in the query)
        const query = (req.url ?? '').indexOf('?')
        res.writeHead(302, { location: `dashboard${query < 0 ? '' : (req.url ?? '').slice(query)}`, 'cache-control': 'no-store' })
        res.end()
        return
      }
      if (path === '/dashboard/data') return sendJson(res, 200, await feed.read())
    }
    if (!paths.includes(path)) throw new NaftikoError('unknown_route', `No route for ${path}; the control port serves ${paths.join(', ')}.`)
    switch (path) {
      case '/health/live':
        return sendJson(res, 200, { status: 'UP' })
      case '/health/ready': {
        const ready = state.ready && !state.draining
        return sendJson(res, ready ? 200 : 503, { status: ready ? 'UP' : 'DOWN', ...(ready ? {} : { reason: state.draining ? 'draining' : 'starting' }) })
      }
      case '/dashboard':
        res.writeHead(200, DASHBOARD_HEADERS)
        res.end(DASHBOARD_PAGE)
        return
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
          capabilities: state.capabilities,
          uptimeSeconds: Math.round((Date.now() - state.startedAt) / 1000),
          ready: state.ready && !state.draining,
          exposes: state.addresses.map(({ type, namespace, url }) => ({ type, namespace, url })),
          ...(state.workers === undefined ? {} : { workers: state.workers }),
        })
    }
  }, new Set(expose.reload ? [RELOAD] : []))
}

/** The paths a control expose answers, as its startup line lists them. */
export function controlEndpoints (expose: ControlExpose, dashboard = true): string[] {
  return [...(expose.health ? ['/health/live', '/health/ready'] : []), '/metrics', ...(expose.info ? ['/status', ...(dashboard ? ['/dashboard'] : [])] : []), ...(expose.reload ? [`POST ${RELOAD}`] : [])]
}

const RELOAD = '/config/reload'

/**
 * `POST /config/reload`: the capability files read again and served, as SIGHUP does; 200 when the
 * change took effect, 422 with the reasons when it was refused (the running configuration stays).
 * A JSON content type is required: a web page cannot send one without a preflight, which the control
 * port never grants, so it cannot make a browser reload the gateway.
 */
async function reload (run: () => Promise<void>, req: IncomingMessage, res: ServerResponse, log: Logger): Promise<void> {
  if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) throw new NaftikoError('unsupported_media_type', `${RELOAD} takes \`content-type: application/json\` (the body is not read).`)
  req.resume()
  try {
    await run()
  } catch (err) {
    const refusal = reloadRefusal(err)
    log.error({ reason: RELOAD, code: refusal.code }, refusal.log)
    return sendJson(res, 422, { error: { code: 'reload_refused', message: `${refusal.message}; the running configuration stays`, diagnostics: refusal.diagnostics.map(formatDiagnostic) } })
  }
  sendJson(res, 200, { status: 'reloaded' })
}
