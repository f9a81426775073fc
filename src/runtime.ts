import { isIP } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { readCapability } from './capability/read-capability.js'
import type { Diagnostic } from './capability/diagnostics.js'
import type { ExposeBase, ExposesRest } from './capability/types.js'
import { resolveBindings } from './bindings/resolve-bindings.js'
import { buildConsumers } from './consumers/build-consumers.js'
import { ADAPTER_ROOTS, type ExpressionScope } from './consumers/compile-value.js'
import { buildRestExposer } from './exposers/rest-exposer.js'
import { createLogger, type Logger } from './logger.js'
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
  const logger = createLogger(options.logLevel, bindings.secrets, logDestination)

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

  const servers: Array<{ expose: ExposeBase, app: FastifyInstance }> = []
  for (const expose of exposes) {
    if (expose.type === 'rest') {
      servers.push({ expose, app: buildRestExposer(expose as ExposesRest, consumers, scope, { bodyLimit: options.bodyLimit, logger }) })
    }
  }

  const addresses: BoundAddress[] = []
  try {
    for (const { expose, app } of servers) {
      const host = options.host ?? expose.address ?? '127.0.0.1'
      const port = options.ports.get(expose.namespace ?? '') ?? options.ports.get(expose.type) ?? expose.port ?? 0
      await app.listen({ host, port })
      const bound = app.server.address()
      const actualPort = typeof bound === 'object' && bound !== null ? bound.port : port
      addresses.push({ type: expose.type, namespace: expose.namespace ?? '', url: `http://${urlHost(host)}:${actualPort}` })
      if (!isLoopback(host) && expose.authentication === undefined) {
        logger.warn({ expose: expose.namespace, host }, `expose "${expose.namespace}" listens on ${host} without inbound authentication: anyone who reaches it spends the gateway's upstream credentials`)
      }
    }
  } catch (err) {
    await Promise.allSettled(servers.map(({ app }) => app.close()))
    await consumers.close()
    throw err
  }

  let closing: Promise<void> | undefined
  return {
    addresses,
    warnings,
    logger,
    close () {
      closing ??= (async () => {
        const timer = setTimeout(() => {
          for (const { app } of servers) app.server.closeAllConnections()
        }, options.shutdownTimeout)
        try {
          await Promise.allSettled(servers.map(({ app }) => app.close()))
        } finally {
          clearTimeout(timer)
          await consumers.close()
        }
      })()
      return closing
    },
  }
}

function isLoopback (host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.')
}

function urlHost (host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host
}
