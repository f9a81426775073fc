import { readCapability } from './capability/read-capability.js'
import { referenceScopeOf } from './capability/check-capability.js'
import type { Diagnostic } from './capability/diagnostics.js'
import { buildRedactor } from './bindings/redact.js'
import { resolveBindings } from './bindings/resolve-bindings.js'
import { buildConsumers } from './consumers/build-consumers.js'
import { StartupError } from './errors/startup-error.js'
import { hostOf, isLoopback, mountExposers } from './exposers/mount-exposers.js'
import { JsonBodyReader } from './server/json-body.js'
import { startListeners, type BoundAddress, type Listeners } from './server/listeners.js'
import { createLogger, type Logger } from './server/logger.js'
import type { RuntimeOptions } from './options.js'
import { VERSION } from './version.js'

export type { BoundAddress }

export interface Runtime {
  readonly addresses: readonly BoundAddress[]
  /** warnings found while loading (unsupported features, missing base URIs, exposure) */
  readonly warnings: readonly Diagnostic[]
  readonly logger: Logger
  /** true when an MCP expose serves stdin/stdout */
  readonly stdio: boolean
  /** Stops accepting, lets in-flight requests finish within the shutdown bound, closes pools and the log. */
  close (): Promise<void>
}

/** load -> validate -> resolve bindings -> build consumers -> compile and mount exposers -> listen. */
export async function startRuntime (file: string, options: RuntimeOptions, logDestination?: NodeJS.WritableStream): Promise<Runtime> {
  const read = await readCapability(file)
  if (!read.ok) throw new StartupError('capability_invalid', undefined, read.diagnostics)
  const model = read.model
  if (model === undefined) {
    throw new StartupError('capability_not_runnable', `${file} is a shared consumes document (a root \`consumes:\` and no \`capability:\`): capabilities import it with consumes: [{import, location}]; run one of those instead`)
  }
  const warnings = read.diagnostics.filter((d) => d.severity === 'warning')

  const bindings = await resolveBindings(model, read.document, read.path, read.source, options.env)
  const redactor = buildRedactor(bindings.secrets)
  const log = createLogger(options.logLevel, redactor, logDestination)
  const scope = { references: referenceScopeOf(model), values: bindings.values }
  const consumers = buildConsumers(model, scope, {
    timeouts: { connectTimeout: options.connectTimeout, headersTimeout: options.upstreamTimeout, bodyTimeout: options.bodyTimeout },
    baseUris: options.baseUris,
    proxy: options.proxy,
  })

  let listeners: Listeners | undefined
  const bodies = new JsonBodyReader()
  try {
    const mounted = await mountExposers(model.exposes, { consumers, scope, redactor, logger: log.logger, responseLimit: options.responseLimit }, {
      host: options.host,
      bodyLimit: options.bodyLimit,
      heartbeatMs: options.progressInterval,
      coalesceMs: options.progressCoalesce,
      allowOrigins: options.allowOrigins,
      bodies,
      version: VERSION,
    })
    listeners = await startListeners(mounted, ({ expose }) => ({
      host: hostOf(expose, options.host),
      port: options.ports.get(expose.namespace) ?? options.ports.get(expose.type) ?? expose.port ?? 0,
    }), { shutdownTimeout: options.shutdownTimeout, requestBodyTimeout: options.requestBodyTimeout, maxConnections: options.maxConnections })
    for (const { expose } of mounted.servers) {
      const host = hostOf(expose, options.host)
      if (isLoopback(host) || ('authentication' in expose && expose.authentication !== undefined)) continue
      const message = `expose "${expose.namespace}" listens on ${host} without inbound authentication: anyone who reaches it spends the gateway's upstream credentials`
      log.logger.warn({ expose: expose.namespace, host }, message)
      const { line, col } = read.source.locate(expose.at)
      warnings.push({ severity: 'warning', file: read.source.file, line, col, message })
    }
    let closing: Promise<void> | undefined
    return {
      addresses: listeners.addresses,
      warnings,
      logger: log.logger,
      stdio: mounted.stdio.length > 0,
      close () {
        closing ??= (async () => {
          try {
            await listeners?.close()
          } finally {
            await Promise.all([consumers.close(), bodies.close()])
            log.close()
          }
        })()
        return closing
      },
    }
  } catch (err) {
    await Promise.all([consumers.close(), bodies.close()])
    log.close()
    throw err
  }
}
