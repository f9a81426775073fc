import { isIP } from 'node:net'
import { readCapability } from './capability/read-capability.js'
import type { Diagnostic } from './capability/diagnostics.js'
import type { ExposeBase } from './capability/types.js'
import { buildRedactor } from './bindings/redact.js'
import { resolveBindings } from './bindings/resolve-bindings.js'
import { buildConsumers } from './consumers/build-consumers.js'
import { ADAPTER_ROOTS, type ExpressionScope } from './consumers/compile-value.js'
import { hostOf, isLoopback, mountExposers } from './exposers/mount-exposers.js'
import { createLogger, type Logger } from './logger.js'
import type { RuntimeOptions } from './options.js'
import { VERSION } from './version.js'

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

  const { servers, stdio } = await mountExposers(exposes, consumers, scope, {
    host: options.host,
    bodyLimit: options.bodyLimit,
    heartbeatMs: options.progressInterval,
    version: VERSION,
    logger,
    redact,
  })

  const addresses: BoundAddress[] = []
  try {
    for (const { expose, server, path, listen } of servers) {
      const host = hostOf(expose, options.host)
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


function urlHost (host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host
}
