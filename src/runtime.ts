import { basename } from 'node:path'
import { readCapability, type ReadCapability } from './capability/read-capability.js'
import { referenceScopeOf } from './capability/check-capability.js'
import type { Diagnostic, SourceMap } from './capability/diagnostics.js'
import { buildRedactor } from './bindings/redact.js'
import { resolveBindings } from './bindings/resolve-bindings.js'
import { buildConsumers } from './consumers/build-consumers.js'
import { StartupError } from './errors/startup-error.js'
import { hostOf, isLoopback, mountExposers, type Mounted, type MountedServer } from './exposers/mount-exposers.js'
import { JsonBodyReader } from './server/json-body.js'
import { startListeners, type BoundAddress, type ListenerLimits, type Listeners } from './server/listeners.js'
import { createLogger, type Logger } from './server/logger.js'
import { UsageError, type RuntimeOptions } from './options.js'
import type { CapabilityModel, ControlExpose, Expose } from './capability/model.js'
import { controlEndpoints, type CapabilityInfo, type ControlState } from './exposers/control/control-exposer.js'
import { createMetrics, NO_METRICS, type PrometheusMetrics } from './server/metrics.js'
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
  /** the capability file it serves */
  readonly file: string
  /** the `info` of the capability as it is served now */
  readonly info: CapabilityModel['info']
  /**
   * Serves the capability file as it is now (or `next`, read and checked by the caller): new
   * requests use it, requests in flight finish on the previous build, listeners whose address did
   * not change stay open. Any failure (an invalid file, an address that cannot listen) changes
   * nothing and is thrown. Resolves to the addresses served afterwards.
   */
  reload (next?: { read: ReadCapability, model: CapabilityModel }): Promise<readonly ExposeAddress[]>
  /** what the control port reports, when the capability has one (a worker's primary merges them) */
  readonly metrics: PrometheusMetrics | undefined
  /** the control port's state, when the capability has one (the process sets how it reloads) */
  readonly control: ControlState | undefined
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
export function describeExpose (expose: Expose): string[] {
  const auth = `auth: ${'authentication' in expose && expose.authentication !== undefined ? expose.authentication.type : 'none'}`
  const [what, names] = servedBy(expose)
  const shown = names.slice(0, 5).join(', ') + (names.length > 5 ? `, and ${names.length - 5} more` : '')
  return [auth, `${names.length} ${what}${names.length === 1 ? '' : 's'}${names.length > 0 ? `: ${shown}` : ''}`]
}

/** What an expose serves and what to call one: its routes (`GET /ships`), tools, skills or endpoints. */
function servedBy (expose: Expose): [string, string[]] {
  return expose.type === 'rest'
    ? ['route', expose.resources.flatMap((r) => r.operations.map((op) => `${op.method} ${op.path}`))]
    : expose.type === 'mcp'
      ? ['tool', expose.tools.map((t) => t.name)]
      : expose.type === 'skill'
        ? ['skill', expose.skills.map((k) => k.name)]
        : expose.type === 'control'
          ? ['endpoint', controlEndpoints(expose)]
          : ['tool', []]
}

/** The capability as served: with a control expose on loopback when --control-port asks for one and it has none. */
export function withControlPort (model: CapabilityModel, port: number | undefined): CapabilityModel {
  if (port === undefined || model.exposes.some((e) => e.type === 'control')) return model
  const control: ControlExpose = { type: 'control', namespace: 'control', address: '127.0.0.1', port, description: undefined, at: [], authentication: undefined, health: true, info: true, reload: false, unsupported: [] }
  return { ...model, exposes: [...model.exposes, control] }
}

/**
 * Closed by default: a gateway holding a paid key serves strangers only when told to. An expose on a
 * non-loopback address without inbound authentication stops startup, unless the operator opted in
 * (then it is a warning). Returns the exposes that are open, for the log.
 */
export function refuseOpenExposes (model: CapabilityModel, options: RuntimeOptions, source: SourceMap, warnings: Diagnostic[]): Array<{ namespace: string, host: string, message: string }> {
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

/** Where an expose listens: flags, then the capability, then any free port. */
export function addressOf (expose: Expose, options: RuntimeOptions): { host: string, port: number } {
  return {
    host: hostOf(expose, options.host),
    port: (expose.type === 'control' ? options.controlPort : undefined) ?? options.ports.get(expose.namespace) ?? options.ports.get(expose.type) ?? expose.port ?? 0,
  }
}

export function limitsOf (options: RuntimeOptions): ListenerLimits {
  return { shutdownTimeout: options.shutdownTimeout, requestBodyTimeout: options.requestBodyTimeout, requestTimeout: options.requestTimeout, maxConnections: options.maxConnections, backlog: options.listenBacklog }
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

/** One build of a capability: its values, pools, log and exposers; a reload makes the next one. */
interface Build {
  readonly model: CapabilityModel
  readonly warnings: Diagnostic[]
  readonly upstreams: string[]
  readonly log: ReturnType<typeof createLogger>
  readonly consumers: ReturnType<typeof buildConsumers>
  readonly mounted: Mounted
  /** present when spans are exported */
  readonly tracing: Tracing | undefined
}

/** A control port the capabilities of one process share: each records into it and lists its exposes. */
export type SharedControl = { state: ControlState, metrics: PrometheusMetrics }

/**
 * Where a runtime runs: `alone` in its process, or as a `worker` of `--workers N`, where the primary
 * serves the control port (the worker records the metrics and hands them over) and every log line
 * carries the worker's pid.
 */
export type RuntimePlace = 'alone' | 'worker'

/** A control port's figures and state: not ready until its runtime (or, shared, the caller) says so. */
export async function createControl (capability: CapabilityInfo = { file: '', label: undefined, version: undefined }): Promise<SharedControl> {
  return { metrics: await createMetrics(), state: { ready: false, draining: false, startedAt: Date.now(), version: VERSION, capability, capabilities: [], addresses: [] } }
}

/**
 * Starts a capability already read (and its overrides checked against every capability of the
 * process). With `shared`, it records into that control port and lists itself there; the caller
 * serves it and says when it is ready. A `worker` serves no control expose: its primary does.
 */
export async function startReadRuntime (read: ReadCapability, model: CapabilityModel, options: RuntimeOptions, logDestination?: NodeJS.WritableStream, { shared, place = 'alone' }: { shared?: SharedControl, place?: RuntimePlace } = {}): Promise<Runtime> {
  const file = read.path
  const bodies = new JsonBodyReader()
  // the control port's figures and state outlive builds: a reload keeps counting
  let control: SharedControl | undefined = shared

  const build = async (read: ReadCapability, model: CapabilityModel): Promise<Build> => {
    // where each consumed namespace points is the startup summary's to say, flags and environment known
    const warnings = read.diagnostics.filter((d) => d.severity === 'warning' && d.about !== 'base-uri')
    const openExposes = refuseOpenExposes(model, options, read.source, warnings)
    const bindings = await resolveBindings(model, read.document, read.path, read.source, options.env)
    const redactor = buildRedactor(bindings.secrets)
    const log = createLogger(options.logLevel, redactor, logDestination, options.logFormat, place === 'worker' ? { pid: process.pid } : undefined)
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
    // the control port: the capability's own, or one --control-port adds (health, metrics, status)
    const served = withControlPort(model, options.controlPort)
    if (control === undefined && served.exposes.some((e) => e.type === 'control')) {
      control = await createControl(capabilityInfo(read, model))
    }
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
        metrics: control?.metrics ?? NO_METRICS,
        tracing,
        control: place === 'worker' ? undefined : control,
      })
      // one line per consumed namespace: where it points, or what is missing and how to give it
      const upstreams = model.consumes.map((c) => {
        const resolved = consumers.baseUri(c.namespace)
        return redactor.redact(`consumes ${c.namespace} -> ${resolved.missing === undefined ? resolved.uri ?? '' : `not configured: ${resolved.missing} (its operations answer 502 until then)`}`)
      })
      return { model, warnings, upstreams, log, consumers, mounted, tracing }
    } catch (err) {
      await Promise.all([consumers.close(), tracing?.close()])
      log.close()
      throw err
    }
  }
  /** Closes what a build holds once no request uses it (the listeners closed its sockets, or a later build took them). */
  const discard = async (old: Build, listeners: Listeners | undefined): Promise<void> => {
    if (listeners === undefined) await Promise.allSettled(old.mounted.servers.map((s) => s.close()))
    else await listeners.release(old.mounted)
    await Promise.all([old.consumers.close(), old.tracing?.close()])
    old.log.close()
  }

  let current: Build
  let listeners: Listeners
  try {
    current = await build(read, model)
  } catch (err) {
    await bodies.close()
    throw err
  }
  try {
    listeners = await startListeners(current.mounted, ({ expose }) => addressOf(expose, options), limitsOf(options))
  } catch (err) {
    await Promise.all([current.consumers.close(), bodies.close(), current.tracing?.close()])
    current.log.close()
    throw err
  }
  const addresses = (): ExposeAddress[] => listeners.addresses.map((a, i) => ({ ...a, summary: describeExpose((current.mounted.servers[i] as MountedServer).expose) }))
  const publish = (read: ReadCapability, model: CapabilityModel): void => {
    if (control === undefined) return
    const { state } = control
    const mine = capabilityInfo(read, model)
    const listed = state.capabilities.some((c) => c.file === file)
    state.capabilities = listed ? state.capabilities.map((c) => c.file === file ? mine : c) : [...state.capabilities, mine]
    state.capability = state.capabilities[0] as CapabilityInfo
    const served = listeners.addresses.map(({ type, namespace, url }, i) => ({ type, namespace, url, routes: servedBy((current.mounted.servers[i] as MountedServer).expose)[1], file }))
    state.addresses = state.capabilities.flatMap((c) => c.file === file ? served : state.addresses.filter((a) => a.file === c.file))
    if (shared === undefined) state.ready = true
  }
  publish(read, model)

  /** Earlier builds still answering requests: each is discarded when its last request ends. */
  const retiring = new Set<Promise<void>>()
  const retire = (old: Build): void => {
    const done = (async () => {
      while (listeners.inFlight(old.mounted) > 0) await new Promise((resolve) => setTimeout(resolve, 100))
      await discard(old, listeners)
    })()
    retiring.add(done)
    void done.finally(() => retiring.delete(done))
  }
  let reloading: Promise<unknown> = Promise.resolve()
  let closing: Promise<void> | undefined
  return {
    get addresses () { return addresses() },
    get upstreams () { return current.upstreams },
    get warnings () { return current.warnings },
    get logger () { return current.log.logger },
    get metrics () { return control?.metrics },
    get control () { return control?.state },
    get info () { return current.model.info },
    stdio: current.mounted.stdio.length > 0,
    file,
    reload (next) {
      const result = reloading.then(async () => {
        if (closing !== undefined) throw new StartupError('reload_refused', 'the gateway is shutting down')
        const { read, model } = next ?? await readRunnable(file)
        if (next === undefined) checkOverrides([model], options)
        const fresh = await build(read, model)
        try {
          await listeners.switchTo(fresh.mounted)
        } catch (err) {
          await discard(fresh, undefined)
          throw err
        }
        const old = current
        current = fresh
        publish(read, model)
        for (const warning of fresh.warnings) fresh.log.logger.warn({ file: warning.file, line: warning.line }, warning.message)
        fresh.log.logger.info({ file: read.path, exposes: addresses().map((a) => a.url) }, 'capability reloaded: new requests use it, requests in flight finish on the previous one')
        retire(old)
        return addresses()
      })
      reloading = result.catch(() => {})
      return result
    },
    close () {
      closing ??= (async () => {
        if (control !== undefined) control.state.draining = true
        try {
          await reloading
          await listeners.close()
          await Promise.allSettled(retiring)
        } finally {
          // the last requests' spans were ended when their answers were: they are exported now
          await Promise.all([current.consumers.close(), bodies.close(), current.tracing?.close()])
          current.log.close()
        }
      })()
      return closing
    },
  }
}

function capabilityInfo (read: ReadCapability, model: CapabilityModel): CapabilityInfo {
  return { file: read.path, label: model.info.label, version: model.info.version }
}
