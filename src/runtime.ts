import { isIP } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { readCapability } from './capability/read-capability.js'
import type { Diagnostic } from './capability/diagnostics.js'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import type { Server as HttpServer } from 'node:http'
import type { ExposeBase, ExposesMcp, ExposesRest } from './capability/types.js'
import { buildInboundAuth } from './exposers/inbound-auth.js'
import { resolveBindings } from './bindings/resolve-bindings.js'
import { buildConsumers } from './consumers/build-consumers.js'
import { ADAPTER_ROOTS, type ExpressionScope } from './consumers/compile-value.js'
import { createLogger, type Logger } from './logger.js'
import { buildRedactor } from './bindings/redact.js'
import type { RuntimeOptions } from './options.js'

export interface BoundAddress {
  type: string
  namespace: string
  url: string
}

export interface Runtime {
  readonly addresses: readonly BoundAddress[]
  /** warnings found while loading (unsupported features, missing base URIs, exposure) */
  readonly warnings: readonly Diagnostic[]
  readonly logger: Logger
  /** true when an MCP expose serves stdin/stdout */
  readonly stdio: boolean
  /** Stops accepting, lets in-flight requests finish within the shutdown bound, closes pools. */
  close (): Promise<void>
}

export class CapabilityError extends Error {
  constructor (readonly diagnostics: Diagnostic[]) {
    super(`the capability has ${diagnostics.filter((d) => d.severity === 'error').length} error(s)`)
    this.name = 'CapabilityError'
  }
}

/** load -> validate -> resolve bindings -> build consumers -> mount exposers -> listen. */
export async function startRuntime (file: string, options: RuntimeOptions, logDestination?: NodeJS.WritableStream): Promise<Runtime> {
  const read = await readCapability(file)
  if (!read.ok || read.capability === undefined) throw new CapabilityError(read.diagnostics)
  const cap = read.capability
  const warnings = read.diagnostics.filter((d) => d.severity === 'warning')

  const bindings = await resolveBindings(cap, read.path, read.source, options.env)
  const redact = buildRedactor(bindings.secrets)
  const logger = createLogger(options.logLevel, redact, logDestination)

  const exposes: ExposeBase[] = cap.capability.exposes ?? []
  const scope: ExpressionScope = {
    bindings,
    inputRoots: new Set<string>([...ADAPTER_ROOTS, ...exposes.map((e) => e.namespace).filter((n): n is string => typeof n === 'string')]),
  }
  const consumers = buildConsumers(cap, scope, {
    timeouts: { connectTimeout: options.connectTimeout, headersTimeout: options.upstreamTimeout, bodyTimeout: options.bodyTimeout },
    baseUris: options.baseUris,
    proxy: options.proxy,
  })

  const servers: Array<{ expose: ExposeBase, server: HttpServer, path: string, active: () => number, listen: (host: string, port: number) => Promise<unknown>, close: () => Promise<unknown> }> = []
  const stdio: Array<{ close: () => Promise<void> }> = []
  const mcpOptions = { bodyLimit: options.bodyLimit, heartbeatMs: options.progressInterval, logger, version: VERSION, redact }
  // each exposer's framework is loaded only when the capability has such an expose
  const { buildRestExposer } = exposes.some((e) => e.type === 'rest') ? await import('./exposers/rest-exposer.js') : { buildRestExposer: undefined }
  const mcp = exposes.some((e) => e.type === 'mcp')
    ? { ...await import('./exposers/mcp-exposer.js'), ...await import('./exposers/mcp-tools.js') }
    : undefined
  for (const expose of exposes) {
    const host = hostOf(expose, options)
    if (expose.type === 'rest' && buildRestExposer !== undefined) {
      const app: FastifyInstance = buildRestExposer(expose as ExposesRest, consumers, scope, { bodyLimit: options.bodyLimit, logger, redact })
      servers.push({ expose, server: app.server, path: '', active: countRequests(app.server), listen: (host, port) => app.listen({ host, port }), close: () => app.close() })
    } else if (expose.type === 'mcp' && mcp !== undefined) {
      const tools = mcp.prepareTools(expose as ExposesMcp, consumers, scope)
      if ((expose as ExposesMcp).transport === 'stdio') {
        const { startMcpStdioExposer } = await import('./exposers/mcp-stdio.js')
        stdio.push(startMcpStdioExposer(expose as ExposesMcp, tools, mcpOptions))
        continue
      }
      const http = mcp.buildMcpHttpExposer(expose as ExposesMcp, tools, mcpOptions, isLoopback(host), buildInboundAuth(expose.authentication, scope))
      const listen = async (host: string, port: number): Promise<void> => {
        http.server.listen({ host, port })
        await once(http.server, 'listening')
      }
      servers.push({ expose, server: http.server, path: '/mcp', active: countRequests(http.server), listen, close: async () => { await http.close(); await closeHttpServer(http.server) } })
    }
  }

  const addresses: BoundAddress[] = []
  try {
    for (const { expose, server, path, listen } of servers) {
      const host = hostOf(expose, options)
      const port = options.ports.get(expose.namespace ?? '') ?? options.ports.get(expose.type) ?? expose.port ?? 0
      await listen(host, port)
      const bound = server.address()
      const actualPort = typeof bound === 'object' && bound !== null ? bound.port : port
      addresses.push({ type: expose.type, namespace: expose.namespace ?? '', url: `http://${urlHost(host)}:${actualPort}${path}` })
      if (!isLoopback(host) && expose.authentication === undefined) {
        const message = `expose "${expose.namespace}" listens on ${host} without inbound authentication: anyone who reaches it spends the gateway's upstream credentials`
        logger.warn({ expose: expose.namespace, host }, message)
        const { line, col } = read.source.locate(['capability', 'exposes', exposes.indexOf(expose)])
        warnings.push({ severity: 'warning', file: read.source.file, line, col, message })
      }
    }
  } catch (err) {
    await Promise.allSettled([...servers.map((s) => s.close()), ...stdio.map((s) => s.close())])
    await consumers.close()
    throw err
  }

  let closing: Promise<void> | undefined
  return {
    addresses,
    warnings,
    logger,
    stdio: stdio.length > 0,
    close () {
      closing ??= (async () => {
        const timer = setTimeout(() => {
          for (const { server } of servers) server.closeAllConnections()
        }, options.shutdownTimeout)
        // a keep-alive connection whose last response just ended would hold close() open until
        // the keep-alive timeout: close connections as soon as they fall idle
        const sweep = setInterval(() => {
          for (const { server, active } of servers) {
            // with nothing in flight, even a connection that never sent a request can go
            if (active() === 0) server.closeAllConnections()
            else server.closeIdleConnections()
          }
        }, 100)
        try {
          await Promise.allSettled([...servers.map((s) => s.close()), ...stdio.map((s) => s.close())])
        } finally {
          clearTimeout(timer)
          clearInterval(sweep)
          await consumers.close()
        }
      })()
      return closing
    },
  }
}

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version

function hostOf (expose: ExposeBase, options: RuntimeOptions): string {
  return options.host ?? expose.address ?? '127.0.0.1'
}

/** Requests whose response has not closed yet, streams included. */
function countRequests (server: HttpServer): () => number {
  let active = 0
  server.on('request', (_req, res: import('node:http').ServerResponse) => {
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

function isLoopback (host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.')
}

function urlHost (host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host
}
