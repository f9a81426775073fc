import { once } from 'node:events'
import type { Server as HttpServer, ServerResponse } from 'node:http'
import type { ExposeBase, ExposesMcp, ExposesRest } from '../capability/types.js'
import type { Redactor } from '../bindings/redact.js'
import type { Consumers } from '../consumers/build-consumers.js'
import type { ExpressionScope } from '../consumers/compile-value.js'
import type { Logger } from '../logger.js'
import { buildInboundAuth } from './inbound-auth.js'

/** One HTTP server of an expose, ready to listen. */
export interface MountedServer {
  expose: ExposeBase
  server: HttpServer
  /** the path clients call, for the printed address (`/mcp`) */
  path: string
  /** requests whose response has not closed yet, streams included */
  active: () => number
  listen: (host: string, port: number) => Promise<unknown>
  close: () => Promise<unknown>
}

export interface Mounted {
  servers: MountedServer[]
  /** MCP exposes served on stdin/stdout */
  stdio: Array<{ close: () => Promise<void> }>
}

export interface MountOptions {
  host: string | undefined
  bodyLimit: number
  heartbeatMs: number
  version: string
  logger: Logger
  redact: Redactor | undefined
}

/**
 * Builds every `rest` and `mcp` expose. Each exposer's framework (fastify, the MCP SDK) is loaded
 * only when the capability has such an expose.
 */
export async function mountExposers (exposes: readonly ExposeBase[], consumers: Consumers, scope: ExpressionScope, options: MountOptions): Promise<Mounted> {
  const mounted: Mounted = { servers: [], stdio: [] }
  for (const expose of exposes) {
    if (expose.type === 'rest') {
      const { buildRestExposer } = await import('./rest-exposer.js')
      const app = buildRestExposer(expose as ExposesRest, consumers, scope, options)
      mounted.servers.push({ expose, server: app.server, path: '', active: countRequests(app.server), listen: (host, port) => app.listen({ host, port }), close: () => app.close() })
    } else if (expose.type === 'mcp') {
      const { prepareTools } = await import('./mcp-tools.js')
      const tools = prepareTools(expose as ExposesMcp, consumers, scope)
      if ((expose as ExposesMcp).transport === 'stdio') {
        const { startMcpStdioExposer } = await import('./mcp-stdio.js')
        mounted.stdio.push(startMcpStdioExposer(expose as ExposesMcp, tools, options))
        continue
      }
      const { buildMcpHttpExposer } = await import('./mcp-exposer.js')
      const http = buildMcpHttpExposer(expose as ExposesMcp, tools, options, isLoopback(hostOf(expose, options.host)), buildInboundAuth(expose.authentication, scope))
      const listen = async (host: string, port: number): Promise<void> => {
        http.server.listen({ host, port })
        await once(http.server, 'listening')
      }
      mounted.servers.push({ expose, server: http.server, path: '/mcp', active: countRequests(http.server), listen, close: async () => { await http.close(); await closeHttpServer(http.server) } })
    }
  }
  return mounted
}

/** `--host`, else the expose's `address`, else loopback. */
export function hostOf (expose: ExposeBase, host: string | undefined): string {
  return host ?? expose.address ?? '127.0.0.1'
}

export function isLoopback (host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.')
}

function countRequests (server: HttpServer): () => number {
  let active = 0
  server.on('request', (_req, res: ServerResponse) => {
    active++
    res.once('close', () => { active-- })
  })
  return () => active
}

/** Stops accepting; idle keep-alive connections close now, busy ones when their response ends. */
function closeHttpServer (server: HttpServer): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve())
    server.closeIdleConnections()
  })
}
