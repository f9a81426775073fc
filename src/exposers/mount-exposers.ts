import { once } from 'node:events'
import type { Server as HttpServer } from 'node:http'
import type { CapabilityModel, ControlExpose, Expose } from '../capability/model.js'
import type { ExpressionScope } from '../expressions/compile-value.js'
import type { Logger } from '../server/logger.js'
import type { InvocationContext } from '../invocations/compile-invocation.js'
import type { JsonBodyReader } from '../server/json-body.js'
import { buildInboundAuth } from './auth/inbound-auth.js'
import type { ControlState } from './control/control-exposer.js'
import type { Metrics, MetricsSource, PrometheusMetrics } from '../server/metrics.js'
import type { Tracing } from '../server/tracing.js'

/** One HTTP server of an expose, ready to listen. */
export interface MountedServer {
  expose: Expose
  server: HttpServer
  /** the path clients call, for the printed address (`/mcp`) */
  path: string
  listen: (host: string, port: number, backlog: number) => Promise<unknown>
  /** readies the handlers of a server that will not listen: another build's socket sends it requests */
  ready: () => Promise<unknown>
  /** closes the server (when it listens) and what its handlers hold */
  close: () => Promise<unknown>
}

export interface Mounted {
  servers: MountedServer[]
  /** MCP exposes served on stdin/stdout, started once every listener listens */
  stdio: Array<() => { close: () => Promise<void> }>
}

export interface ControlMount {
  state: ControlState
  metrics: PrometheusMetrics | { readonly registry: MetricsSource }
}

export interface MountOptions {
  host: string | undefined
  bodyLimit: number
  heartbeatMs: number
  coalesceMs: number
  version: string
  allowOrigins: readonly string[]
  bodies: JsonBodyReader
  /** the capability file: relative `location`s (skills, MCP resources and prompts) resolve against its folder */
  capabilityPath: string
  metrics: Metrics
  /** present when spans are exported */
  tracing: Tracing | undefined
  /** present when the capability has a control port served by this process */
  control: ControlMount | undefined
}

/**
 * Builds every `rest`, `mcp` and `skill` expose. Each exposer's framework (fastify, the MCP SDK) is loaded
 * only when the capability has such an expose.
 */
export async function mountExposers (model: CapabilityModel, context: InvocationContext, options: MountOptions): Promise<Mounted> {
  const exposes = model.exposes
  const mounted: Mounted = { servers: [], stdio: [] }
  const logger = context.logger
  for (const expose of exposes) {
    if (expose.type === 'rest') {
      const { buildRestExposer } = await import('./rest/rest-exposer.js')
      // without inbound authentication, a loopback REST expose answers only to loopback names
      const origins = expose.authentication === undefined && isLoopback(hostOf(expose, options.host)) ? { loopback: true, allowOrigins: options.allowOrigins } : undefined
      const app = buildRestExposer(expose, context, { bodyLimit: options.bodyLimit, logger, metrics: options.metrics, origins, bodies: options.bodies, tracing: options.tracing })
      mounted.servers.push({ expose, server: app.server, path: '', listen: (host, port, backlog) => app.listen({ host, port, backlog }), ready: async () => { await app.ready() }, close: () => app.close() })
    } else if (expose.type === 'mcp') {
      const { prepareTools } = await import('./mcp/mcp-tools.js')
      const tools = prepareTools(expose, context)
      // only an expose that declares resources or prompts advertises them
      const resources = expose.resources.length === 0 ? undefined : await (await import('./mcp/mcp-resources.js')).prepareResources(expose, context, options.capabilityPath)
      const prompts = expose.prompts.length === 0 ? undefined : await (await import('./mcp/mcp-prompts.js')).preparePrompts(expose, options.capabilityPath, context.redactor)
      // the capability's label and version, where it has them: MCP clients show the server by them
      const serverInfo = { name: expose.namespace, ...(model.info.label === undefined ? {} : { title: model.info.label }), version: model.info.version ?? options.version }
      const mcpOptions = { bodyLimit: options.bodyLimit, bodies: options.bodies, heartbeatMs: options.heartbeatMs, coalesceMs: options.coalesceMs, serverInfo, instructions: expose.description, logger, metrics: options.metrics, tracing: options.tracing, resources, prompts }
      if (expose.transport === 'stdio') {
        const { startMcpStdioExposer } = await import('./mcp/mcp-stdio.js')
        mounted.stdio.push(() => startMcpStdioExposer(expose, tools, mcpOptions))
        continue
      }
      const { buildMcpHttpExposer } = await import('./mcp/mcp-exposer.js')
      const origins = { loopback: isLoopback(hostOf(expose, options.host)), allowOrigins: options.allowOrigins }
      const http = buildMcpHttpExposer(expose, tools, mcpOptions, origins, buildInboundAuth(expose.authentication, context.scope))
      mounted.servers.push({ expose, server: http.server, path: '/mcp', listen: listenOn(http.server), ready: noop, close: async () => { await http.close(); await closeHttpServer(http.server) } })
    } else if (expose.type === 'skill') {
      const { buildSkillExposer } = await import('./skill/skill-exposer.js')
      const server = await buildSkillExposer(expose, model, { logger, redactor: context.redactor, capabilityPath: options.capabilityPath, scope: context.scope })
      mounted.servers.push({ expose, server, path: '/skills', listen: listenOn(server), ready: noop, close: () => closeHttpServer(server) })
    } else if (expose.type === 'control' && options.control !== undefined) {
      mounted.servers.push(await mountControlExposer(expose, options.control, context.scope, logger))
    }
  }
  return mounted
}

/** The control port's server (also what the primary of `--workers N` serves on its own). */
export async function mountControlExposer (expose: ControlExpose, control: ControlMount, scope: ExpressionScope, logger: Logger): Promise<MountedServer> {
  const { buildControlExposer } = await import('./control/control-exposer.js')
  const server = buildControlExposer(expose, control.state, control.metrics, scope, logger)
  return { expose, server, path: '', listen: listenOn(server), ready: noop, close: () => closeHttpServer(server) }
}

const noop = async (): Promise<void> => {}

/** How a plain node:http server of an expose listens. */
function listenOn (server: HttpServer): MountedServer['listen'] {
  return async (host, port, backlog) => {
    server.listen({ host, port, backlog })
    await once(server, 'listening')
  }
}

/** `--host`, else the expose's `address`, else loopback. */
export function hostOf (expose: Expose, host: string | undefined): string {
  return host ?? expose.address ?? '127.0.0.1'
}

export function isLoopback (host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.')
}

/** Stops accepting; idle keep-alive connections close now, busy ones when their response ends. */
function closeHttpServer (server: HttpServer): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve())
    server.closeIdleConnections()
  })
}
