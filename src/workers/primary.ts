import cluster, { type Worker } from 'node:cluster'
import { buildRedactor } from '../bindings/redact.js'
import { resolveBindings } from '../bindings/resolve-bindings.js'
import { referenceScopeOf } from '../capability/check-capability.js'
import type { CapabilityModel } from '../capability/model.js'
import type { ControlState } from '../exposers/control/control-exposer.js'
import { mountControlExposer, type MountedServer } from '../exposers/mount-exposers.js'
import { StartupError } from '../errors/startup-error.js'
import { UsageError, type RuntimeOptions } from '../options.js'
import { loadRunnables, optionsOf } from '../run-capabilities.js'
import { addressOf, describeExpose, limitsOf, refuseOpenExposes, withControlPort, type ExposeAddress } from '../runtime.js'
import { startListeners, type Listeners } from '../server/listeners.js'
import { createLogger, type Logger } from '../server/logger.js'
import { VERSION } from '../version.js'
import { createClusterMetrics } from './cluster-metrics.js'
import { isWorkerMessage, type PrimaryMessage, type StartedRuntime } from './messages.js'
import { restartPolicy } from './restart-policy.js'

/** How long past --shutdown-timeout a draining worker may take before it is killed. */
const DRAIN_GRACE_MS = 5_000

export interface Primary {
  readonly logger: Logger
  readonly stdio: false
  /** Every worker stops accepting and finishes its in-flight requests; then the control ports close. */
  close (): Promise<void>
  /** Resolves with 1 when workers kept exiting and the primary stopped the gateway. */
  readonly gaveUp: Promise<number>
  /** A second signal: workers are killed, nothing drains. */
  killWorkers (): void
}

interface ControlPort {
  readonly runtime: number
  readonly state: ControlState
  readonly addresses: readonly ExposeAddress[]
}

/**
 * `naftiko run --workers N`: this process reads and checks every capability (a bad file, an open
 * expose, a missing variable or a bad flag is reported once and nothing is forked), serves the control
 * ports itself, and forks N workers that each run the capabilities and listen on the same ports
 * (node:cluster: the primary owns the listening sockets and hands each new connection to the next
 * worker in turn). One worker starts first: if it cannot listen, it says why and nothing else is
 * started. `args` is the command line each worker runs; `print` receives the first worker's startup
 * summary once every worker is ready. SIGHUP is forwarded to every ready worker.
 */
export async function startPrimary (files: readonly string[], options: RuntimeOptions, args: readonly string[], print: (runtimes: readonly StartedRuntime[]) => void): Promise<Primary> {
  const loaded = await loadRunnables(files, options)
  for (const { file, model } of loaded) {
    const stdio = model.exposes.find((e) => e.type === 'mcp' && e.transport === 'stdio')
    if (stdio !== undefined) throw new UsageError(`--workers ${options.workers} cannot serve the MCP stdio expose "${stdio.namespace}" of ${file}: stdin and stdout belong to one process; run it with --workers 1`)
  }
  const secrets: string[] = []
  const capabilities = []
  for (const [i, { read, model }] of loaded.entries()) {
    const own = optionsOf(i, options)
    refuseOpenExposes(model, own, read.source, [])
    const bindings = await resolveBindings(model, read.document, read.path, read.source, options.env)
    secrets.push(...bindings.secrets)
    capabilities.push({ read, model, options: own, scope: { references: referenceScopeOf(model), values: bindings.values } })
  }
  const declared = capabilities.map((c) => withControlPort(c.model, c.options.controlPort))
  const log = createLogger(options.logLevel, buildRedactor(secrets), undefined, options.logFormat, { pid: process.pid })
  const logger = log.logger

  const workers = new Map<Worker, { ready: boolean }>()
  const readyWorkers = (): Worker[] => [...workers].filter(([w, s]) => s.ready && w.isConnected()).map(([w]) => w)
  const metrics = await createClusterMetrics(readyWorkers, logger)

  // the control ports listen before any worker: until every worker is ready they answer 503
  const controls: ControlPort[] = []
  const listeners: Listeners[] = []
  try {
    for (const [i, capability] of capabilities.entries()) {
      const exposes = (declared[i] as CapabilityModel).exposes.filter((e) => e.type === 'control')
      if (exposes.length === 0) continue
      const { read, model } = capability
      const state: ControlState = { ready: false, draining: false, startedAt: Date.now(), version: VERSION, capability: { file: read.path, label: model.info.label, version: model.info.version }, capabilities: [{ file: read.path, label: model.info.label, version: model.info.version }], addresses: [], workers: { configured: options.workers, ready: 0 } }
      const servers: MountedServer[] = []
      for (const expose of exposes) servers.push(await mountControlExposer(expose, { state, metrics: { registry: metrics.sourceFor(i) } }, capability.scope, logger))
      const listening = await startListeners({ servers, stdio: [] }, ({ expose }) => addressOf(expose, capability.options), limitsOf(capability.options))
      listeners.push(listening)
      controls.push({ runtime: i, state, addresses: listening.addresses.map((a, j) => ({ ...a, summary: describeExpose((servers[j] as MountedServer).expose) })) })
    }
  } catch (err) {
    await Promise.allSettled(listeners.map((l) => l.close()))
    log.close()
    throw err
  }

  const policy = restartPolicy(options.workers)
  const restarts = new Set<NodeJS.Timeout>()
  let phase: 'first' | 'rest' | 'serving' | 'closing' = 'first'
  let report: readonly StartedRuntime[] | undefined
  let startup!: { resolve: () => void, reject: (err: unknown) => void }
  const started = new Promise<void>((resolve, reject) => { startup = { resolve, reject } })
  let gaveUp!: (code: number) => void
  const stopped = new Promise<number>((resolve) => { gaveUp = resolve })
  let allExited: (() => void) | undefined
  let drainFailed = false
  /** workers still starting when the shutdown began: they are stopped with SIGTERM, which is no failure */
  const cutShort = new Set<Worker>()

  const refreshReadiness = (): void => {
    const ready = readyWorkers().length
    for (const { state } of controls) {
      state.workers = { configured: options.workers, ready }
      state.ready = phase === 'serving' && ready === options.workers
    }
  }

  // the same command line in every worker; a worker started when none is left gets the ports the
  // first ones were given (port 0 would otherwise pick new ones: the listening socket closed with
  // the last worker that held it)
  let forkArgs = args
  const fork = (): void => {
    if (workers.size === 0 && report !== undefined) forkArgs = [...args, ...pinnedPorts(report)]
    cluster.setupPrimary({ args: [...forkArgs] })
    const worker = cluster.fork()
    workers.set(worker, { ready: false })
    worker.on('error', (err: Error) => logger.warn({ err, worker: worker.id, workerPid: worker.process.pid }, 'worker channel error'))
  }

  const onReady = (worker: Worker, runtimes: readonly StartedRuntime[]): void => {
    const slot = workers.get(worker)
    if (slot === undefined || slot.ready) return
    slot.ready = true
    report ??= runtimes
    logger.info({ worker: worker.id, workerPid: worker.process.pid }, 'worker ready')
    if (phase === 'first') {
      phase = 'rest'
      for (let i = 1; i < options.workers; i++) fork()
    }
    if (phase === 'rest' && readyWorkers().length === options.workers) {
      phase = 'serving'
      startup.resolve()
    }
    refreshReadiness()
  }

  const close = async (): Promise<void> => {
    phase = 'closing'
    for (const timer of restarts) clearTimeout(timer)
    restarts.clear()
    for (const { state } of controls) state.draining = true
    const exited = new Promise<void>((resolve) => { allExited = resolve })
    if (workers.size === 0) allExited?.()
    const shutdown: PrimaryMessage = { naftiko: 'shutdown' }
    for (const [worker, slot] of workers) {
      // a worker still starting has nothing in flight, and may not listen to the channel yet
      if (slot.ready && worker.isConnected()) {
        worker.send(shutdown, (err: Error | null) => { if (err !== null) worker.process.kill('SIGTERM') })
      } else {
        cutShort.add(worker)
        worker.process.kill('SIGTERM')
      }
    }
    const deadline = setTimeout(() => {
      drainFailed = true
      logger.error({ workerPids: [...workers.keys()].map((w) => w.process.pid) }, `workers still running ${options.shutdownTimeout + DRAIN_GRACE_MS} ms after the shutdown began: killed`)
      for (const worker of workers.keys()) worker.process.kill('SIGKILL')
    }, options.shutdownTimeout + DRAIN_GRACE_MS)
    try {
      await exited
    } finally {
      clearTimeout(deadline)
      await Promise.allSettled(listeners.map((l) => l.close()))
      cluster.off('exit', onExit)
      cluster.off('message', onMessage)
      process.off('SIGHUP', onHangup)
      log.close()
    }
    if (drainFailed) throw new Error('a worker did not drain cleanly')
  }
  let closing: Promise<void> | undefined
  const closeOnce = (): Promise<void> => { closing ??= close(); return closing }

  const giveUp = (): void => {
    const message = `workers exited ${policy.limit + 1} times within ${policy.windowMs / 1000} s: stopping the gateway`
    logger.error({ exits: policy.limit + 1 }, message)
    const wasStarting = phase !== 'serving'
    closeOnce().catch(() => {}).finally(() => {
      if (wasStarting) startup.reject(new StartupError('worker_failed', message))
      gaveUp(1)
    })
  }

  const onExit = (worker: Worker, code: number | null, signal: string | null): void => {
    const slot = workers.get(worker)
    if (slot === undefined) return
    workers.delete(worker)
    refreshReadiness()
    const about = { worker: worker.id, workerPid: worker.process.pid, code, signal }
    if (phase === 'closing') {
      if (code !== 0 && !(cutShort.has(worker) && signal === 'SIGTERM')) drainFailed = true
      logger.info(about, 'worker stopped')
      if (workers.size === 0) allExited?.()
      return
    }
    if (phase === 'first') {
      // the worker printed why; the others would only say it again
      closeOnce().catch(() => {}).finally(() => startup.reject(new StartupError('worker_failed', `the first worker exited (${signal ?? `code ${String(code)}`}) before it listened; nothing else was started`)))
      return
    }
    const delay = policy.exited(Date.now())
    if (delay === undefined) {
      logger.warn(about, 'worker exited unexpectedly')
      giveUp()
      return
    }
    logger.warn({ ...about, restartInMs: delay }, 'worker exited unexpectedly: starting another')
    const timer = setTimeout(() => {
      restarts.delete(timer)
      metrics.workerRestarted()
      fork()
    }, delay)
    restarts.add(timer)
  }
  /** what the workers serve, with the control ports: the control ports' status reports it */
  const served = (runtimes: readonly StartedRuntime[]): StartedRuntime[] => {
    const summary = withControlAddresses(runtimes, declared, controls)
    for (const { runtime, state } of controls) {
      const { info, addresses } = summary[runtime] as StartedRuntime
      state.capability = { file: state.capability.file, label: info.label, version: info.version }
      state.capabilities = [state.capability]
      state.addresses = addresses.map(({ type, namespace, url }) => ({ type, namespace, url, routes: [], file: state.capability.file }))
    }
    return summary
  }
  const onMessage = (worker: Worker, message: unknown): void => {
    if (!isWorkerMessage(message)) return
    if (message.naftiko === 'ready') onReady(worker, message.runtimes)
    else if (message.naftiko === 'reloaded') {
      // every worker reloads the same files; a worker started from now on listens where they do
      report = message.runtimes
      if (phase === 'serving') served(report)
      logger.info({ worker: worker.id, workerPid: worker.process.pid }, 'worker reloaded')
    } else metrics.answer(worker, message)
  }
  // a worker still starting may not handle SIGHUP yet (it would die of it): only ready ones get it
  const onHangup = (): void => {
    const ready = readyWorkers()
    logger.info({ signal: 'SIGHUP', workerPids: ready.map((w) => w.process.pid) }, 'forwarding SIGHUP to the workers')
    for (const worker of ready) worker.process.kill('SIGHUP')
  }
  cluster.on('exit', onExit)
  cluster.on('message', onMessage)
  process.on('SIGHUP', onHangup)
  logger.info({ workers: options.workers }, 'starting workers')
  fork()
  await started
  print(served(report as readonly StartedRuntime[]))

  return {
    logger,
    stdio: false,
    close: closeOnce,
    gaveUp: stopped,
    killWorkers () {
      for (const worker of workers.keys()) worker.process.kill('SIGKILL')
    },
  }
}

/** `--port NAMESPACE=PORT` for every address the workers listen on. */
function pinnedPorts (report: readonly StartedRuntime[]): string[] {
  return report.flatMap((r) => r.addresses.flatMap((a) => ['--port', `${a.namespace}=${new URL(a.url).port}`]))
}

/** The workers' addresses with the primary's control ports, in the order the capabilities declare their exposes. */
function withControlAddresses (report: readonly StartedRuntime[], served: readonly CapabilityModel[], controls: readonly ControlPort[]): StartedRuntime[] {
  return report.map((runtime, i) => {
    const own = controls.find((c) => c.runtime === i)?.addresses ?? []
    const all = [...runtime.addresses, ...own]
    const order = (served[i] as CapabilityModel).exposes.map((e) => e.namespace)
    return { ...runtime, addresses: all.sort((a, b) => order.indexOf(a.namespace) - order.indexOf(b.namespace)) }
  })
}
