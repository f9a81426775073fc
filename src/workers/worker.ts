import cluster from 'node:cluster'
import type { Runtime } from '../runtime.js'
import { isPrimaryMessage, type StartedRuntime, type WorkerMessage } from './messages.js'

/** True in a process the primary of `--workers N` forked. */
export function inWorker (): boolean {
  return cluster.isWorker
}

/**
 * A worker's side of `--workers N`, once its runtimes listen: it tells the primary (which prints the
 * addresses once, for all), answers the primary's metrics requests for the control port, and drains
 * when the primary says so. SIGHUP, which the primary forwards, reloads the worker's capabilities
 * as it does a process of its own.
 */
export function joinPrimary (runtimes: readonly Runtime[], drain: (reason: string) => void): void {
  const logger = (runtimes[0] as Runtime).logger
  process.on('message', (message: unknown) => {
    if (!isPrimaryMessage(message)) return
    if (message.naftiko === 'shutdown') {
      drain('shutdown from the primary')
      return
    }
    const metrics = runtimes[message.runtime]?.metrics
    const answer = (json: WorkerMessage & { naftiko: 'metrics' }): void => { if (process.connected) process.send?.(json) }
    if (metrics === undefined) {
      answer({ naftiko: 'metrics', id: message.id, metrics: undefined })
      return
    }
    metrics.registry.getMetricsAsJSON().then((json) => answer({ naftiko: 'metrics', id: message.id, metrics: json }), (err: unknown) => {
      logger.error({ err }, 'metrics for the primary failed')
      answer({ naftiko: 'metrics', id: message.id, metrics: undefined })
    })
  })
  const ready: WorkerMessage = { naftiko: 'ready', runtimes: startedOf(runtimes) }
  process.send?.(ready)
}

/** After a reload took effect: the primary's control port reports the addresses and versions served now. */
export function reportReload (runtimes: readonly Runtime[]): void {
  const reloaded: WorkerMessage = { naftiko: 'reloaded', runtimes: startedOf(runtimes) }
  if (process.connected) process.send?.(reloaded)
}

const startedOf = (runtimes: readonly Runtime[]): StartedRuntime[] =>
  runtimes.map((r) => ({ info: { label: r.info.label, version: r.info.version }, addresses: r.addresses, upstreams: r.upstreams, warnings: r.warnings }))

/**
 * Leaves the cluster once drained (or when startup failed): the IPC channel closes and the process
 * ends with its exit code. Leaving this way tells node's cluster the exit was meant.
 */
export function leavePrimary (): void {
  if (process.connected) cluster.worker?.disconnect()
}
