import { basename } from 'node:path'
import { readCapability, type ReadCapability } from './capability/read-capability.js'
import { referenceScopeOf } from './capability/check-capability.js'
import type { Diagnostic, SourceMap } from './capability/diagnostics.js'
import { buildRedactor } from './bindings/redact.js'
import { resolveBindings } from './bindings/resolve-bindings.js'
import { buildConsumers } from './consumers/build-consumers.js'
import { StartupError } from './errors/startup-error.js'
import { hostOf, isLoopback, mountExposers } from './exposers/mount-exposers.js'
import { JsonBodyReader } from './server/json-body.js'
import { startListeners, type BoundAddress, type Listeners } from './server/listeners.js'
import { createLogger, type Logger } from './server/logger.js'
import { UsageError, type RuntimeOptions } from './options.js'
import type { CapabilityModel, ControlExpose, Expose } from './capability/model.js'
import type { ControlState } from './exposers/control/control-exposer.js'
import { createMetrics, NO_METRICS } from './server/metrics.js'
import { resolveTracing, startTracing, type Tracing } from './server/tracing.js'
import { VERSION } from './version.js'

export interface ExposeAddress extends BoundAddress {
  /** what a person starting the gateway wants to see: auth mode, routes or tools (no secret) */
  readonly summary: readonly string[]
}

export interface Runtime {
  readonly addresses: readonly ExposeAddress[]
  /** each consumed namespace and where it goes (no secret) */
  readonly upstreams: readonly string[]
  /** warnings found while loading (unsupported features, missing base URIs, exposure) */
  readonly warnings: readonly Diagnostic[]
  readonly logger: Logger
  /** true when an MCP expose serves stdin/stdout */
  readonly stdio: boolean
  /** Stops accepting, lets in-flight requests finish within the shutdown bound, closes pools and the log. */
  close (): Promise<void>
}

/**
 * A misspelt name in `--port NAME=PORT` or `--base-uri NAMESPACE=URL` would leave the default in
 * place (and send the key to the capability's own base URI): it is a usage error that names it.
 */
const EXPOSE_TYPES = new Set(['rest', 'mcp', 'skill', 'control'])

export function checkOverrides (models: readonly CapabilityModel[], options: RuntimeOptions): void {
  const exposes = [...new Set(models.flatMap((model) => [...model.exposes.map((e) => e.namespace), ...model.exposes.map((e) => e.type)]))]
  const consumes = models.flatMap((model) => model.consumes.map((c) => c.namespace))
  const unknown = (flag: string, name: string, known: string[]): UsageError => new UsageError(`${flag} names "${name}", which this capability does not have; it has ${known.length === 0 ? 'none' : known.map((k) => `"${k}"`).join(', ')}`)
  for (const name of options.ports.keys()) {
    // a type (`rest=0`, `control=0`) is harmless where the capability has no such expose
    if (!exposes.includes(name) && !EXPOSE_TYPES.has(name)) throw unknown('--port', name, exposes)
  }
  for (const name of options.baseUris.keys()) if (!consumes.includes(name)) throw unknown('--base-uri', name, consumes)
}

/** `auth: bearer`, then the routes or tools: a count and the first few. */
function describeExpose (expose: Expose): string[] {
  const auth = `auth: ${'authentication' in expose && expose.authentication !== undefined ? expose.authentication.type : 'none'}`
  const [what, names] = expose.type === 'rest'
    ? ['route', expose.resources.flatMap((r) => r.operations.map((op) => `${op.method} ${op.path}`))]
    : expose.type === 'mcp'
      ? ['tool', expose.tools.map((t) => t.name)]
      : expose.type === 'skill'
        ? ['skill', expose.skills.map((k) => k.name)]
        : expose.type === 'control'
          ? ['endpoint', [...(expose.health ? ['/health/live', '/health/ready'] : []), '/metrics', ...(expose.info ? ['/status'] : [])]]
          : ['tool', []]
  const shown = names.slice(0, 5).join(', ') + (names.length > 5 ? `, and ${names.length - 5} more` : '')
  return [auth, `${names.length} ${what}${names.length === 1 ? '' : 's'}${names.length > 0 ? `: ${shown}` : ''}`]
}

/** The capability as served: with a control expose on loopback when --control-port asks for one and it has none. */
function withControlPort (model: CapabilityModel, port: number | undefined): CapabilityModel {
  if (port === undefined || model.exposes.some((e) => e.type === 'control')) return model
  const control: ControlExpose = { type: 'control', namespace: 'control', address: '127.0.0.1', port, description: undefined, at: [], authentication: undefined, health: true, info: true, unsupported: [] }
  return { ...model, exposes: [...model.exposes, control] }
}

/**
 * Closed by default: a gateway holding a paid key serves strangers only when told to. An expose on a
 * non-loopback address without inbound authentication stops startup, unless the operator opted in
 * (then it is a warning). Returns the exposes that are open, for the log.
 */
function refuseOpenExposes (model: CapabilityModel, options: RuntimeOptions, source: SourceMap, warnings: Diagnostic[]): Array<{ namespace: string, host: string, message: string }> {
  const open: Array<{ namespace: string, host: string, message: string }> = []
  for (const expose of model.exposes) {
    if (expose.type !== 'rest' && (expose.type !== 'mcp' || expose.transport === 'stdio')) continue
    const host = hostOf(expose, options.host)
    if (isLoopback(host) || expose.authentication !== undefined) continue
    const { line, col } = source.locate(expose.at)
    const message = `expose "${expose.namespace}" would listen on ${host} without inbound authentication: anyone who reaches it spends the gateway's upstream credentials`
    if (!options.allowUnauthenticated) {
      throw new StartupError('exposure_refused', undefined, [{ severity: 'error', file: source.file, line, col, message: `${message}. Give it \`authentication\` (e.g. type: bearer, token: '{{GATEWAY_TOKEN}}'), bind it to loopback, or start with --allow-unauthenticated (NAFTIKO_ALLOW_UNAUTHENTICATED=1)` }])
    }
    warnings.push({ severity: 'warning', file: source.file, line, col, message: `${message} (allowed by --allow-unauthenticated)` })
    open.push({ namespace: expose.namespace, host, message })
  }
  return open
}

/** load -> validate -> resolve bindings -> build consumers -> compile and mount exposers -> listen. */
export async function startRuntime (file: string, options: RuntimeOptions, logDestination?: NodeJS.WritableStream): Promise<Runtime> {
  const { read, model } = await readRunnable(file)
  checkOverrides([model], options)
  return startReadRuntime(read, model, options, logDestination)
}

/** A capability file read for `run`: its errors, or a shared consumes document, stop here. */
export async function readRunnable (file: string): Promise<{ read: ReadCapability, model: CapabilityModel }> {
  const read = await readCapability(file)
  if (!read.ok) throw new StartupError('capability_invalid', undefined, read.diagnostics)
  const model = read.model
  if (model === undefined) {
    throw new StartupError('capability_not_runnable', `${file} is a shared consumes document (a root \`consumes:\` and no \`capability:\`): capabilities import it with consumes: [{import, location}]; run one of those instead`)
  }
  return { read, model }
}

/** Starts a capability already read (and its overrides checked against every capability of the process). */
export async function startReadRuntime (read: ReadCapability, model: CapabilityModel, options: RuntimeOptions, logDestination?: NodeJS.WritableStream): Promise<Runtime> {
  // where each consumed namespace points is the startup summary's to say, flags and environment known
  const warnings = read.diagnostics.filter((d) => d.severity === 'warning' && d.about !== 'base-uri')
  const openExposes = refuseOpenExposes(model, options, read.source, warnings)

  const bindings = await resolveBindings(model, read.document, read.path, read.source, options.env)
  const redactor = buildRedactor(bindings.secrets)
  const log = createLogger(options.logLevel, redactor, logDestination, options.logFormat)
  const scope = { references: referenceScopeOf(model), values: bindings.values }
  for (const open of openExposes) log.logger.warn({ expose: open.namespace, host: open.host }, open.message)
  const consumers = buildConsumers(model, scope, {
    timeouts: { connectTimeout: options.connectTimeout, headersTimeout: options.upstreamTimeout, bodyTimeout: options.bodyTimeout },
    baseUris: options.baseUris,
    envBaseUris: options.envBaseUris,
    serverVars: options.serverVars,
    proxy: options.proxy,
  })

  let tracing: Tracing | undefined
  let listeners: Listeners | undefined
  const bodies = new JsonBodyReader()
  // the control port: the capability's own, or one --control-port adds (health, metrics, status)
  const served = withControlPort(model, options.controlPort)
  const metrics = served.exposes.some((e) => e.type === 'control') ? await createMetrics() : undefined
  const control = metrics === undefined
    ? undefined
    : { metrics, state: { ready: false, draining: false, startedAt: Date.now(), version: VERSION, capability: { file: read.path, label: model.info.label, version: model.info.version }, addresses: [] } as ControlState }
  try {
    // spans are exported only where an OTLP endpoint is configured; otherwise the SDK is never loaded
    const tracingConfig = resolveTracing(model, options.env, scope, read.source, model.info.label ?? basename(read.path))
    if (tracingConfig !== undefined) {
      tracing = await startTracing(tracingConfig, redactor, log.logger, VERSION)
      log.logger.info({ endpoint: new URL(tracingConfig.endpoint).origin, service: tracingConfig.serviceName, sampling: tracingConfig.sampling }, 'spans are exported over OTLP/HTTP')
    }
    const mounted = await mountExposers(served, { consumers, scope, redactor, logger: log.logger, responseLimit: options.responseLimit, functions: new Map(), formats: read.formats }, {
      host: options.host,
      bodyLimit: options.bodyLimit,
      heartbeatMs: options.progressInterval,
      coalesceMs: options.progressCoalesce,
      allowOrigins: options.allowOrigins,
      bodies,
      version: VERSION,
      capabilityPath: read.path,
      metrics: metrics ?? NO_METRICS,
      tracing,
      control,
    })
    listeners = await startListeners(mounted, ({ expose }) => ({
      host: hostOf(expose, options.host),
      port: (expose.type === 'control' ? options.controlPort : undefined) ?? options.ports.get(expose.namespace) ?? options.ports.get(expose.type) ?? expose.port ?? 0,
    }), { shutdownTimeout: options.shutdownTimeout, requestBodyTimeout: options.requestBodyTimeout, requestTimeout: options.requestTimeout, maxConnections: options.maxConnections, backlog: options.listenBacklog })
    const addresses = listeners.addresses.map((a, i) => ({ ...a, summary: describeExpose((mounted.servers[i] as { expose: Expose }).expose) }))
    if (control !== undefined) {
      control.state.addresses = addresses.map(({ type, namespace, url }) => ({ type, namespace, url }))
      control.state.ready = true
    }
    // one line per consumed namespace: where it points, or what is missing and how to give it
    const upstreams = model.consumes.map((c) => {
      const resolved = consumers.baseUri(c.namespace)
      return redactor.redact(`consumes ${c.namespace} -> ${resolved.missing === undefined ? resolved.uri ?? '' : `not configured: ${resolved.missing} (its operations answer 502 until then)`}`)
    })
    let closing: Promise<void> | undefined
    return {
      addresses,
      upstreams,
      warnings,
      logger: log.logger,
      stdio: mounted.stdio.length > 0,
      close () {
        closing ??= (async () => {
          if (control !== undefined) control.state.draining = true
          try {
            await listeners?.close()
          } finally {
            // the last requests' spans were ended when their answers were: they are exported now
            await Promise.all([consumers.close(), bodies.close(), tracing?.close()])
            log.close()
          }
        })()
        return closing
      },
    }
  } catch (err) {
    await Promise.all([consumers.close(), bodies.close(), tracing?.close()])
    log.close()
    throw err
  }
}
