import type { Worker } from 'node:cluster'
import type { Logger } from '../server/logger.js'
import type { MetricsSource } from '../server/metrics.js'
import { isWorkerMessage, type MetricsJson, type PrimaryMessage } from './messages.js'

/** A worker that has not answered by then is left out of that scrape (and the miss is logged). */
const ANSWER_TIMEOUT_MS = 2_000

export interface ClusterMetrics {
  /** `/metrics` of capability number `runtime`: every worker's registry merged with the primary's own */
  sourceFor (runtime: number): MetricsSource
  /** the primary saw a worker's answer (wired to cluster's `message` event) */
  answer (worker: Worker, message: unknown): void
  workerRestarted (): void
}

/**
 * The control port of `--workers N` is served by the primary: on each scrape it asks every ready
 * worker for its registry (as JSON, over the cluster's IPC channel) and merges them with prom-client's
 * `AggregatorRegistry.aggregate` (counters and histograms summed; each default process metric by the
 * rule prom-client gives it). The primary's own process metrics (CPU, memory: it accepts the
 * connections) are part of the sum, and two of its own: `naftiko_workers_ready` and
 * `naftiko_worker_restarts_total`. A worker that died took its counts with it: the sums drop, which
 * Prometheus reads as a counter reset.
 */
export async function createClusterMetrics (readyWorkers: () => readonly Worker[], logger: Logger): Promise<ClusterMetrics> {
  const client = await import('prom-client')
  const own = new client.Registry()
  client.collectDefaultMetrics({ register: own, prefix: 'naftiko_' })
  // eslint-disable-next-line no-new
  new client.Gauge({ name: 'naftiko_workers_ready', help: 'Worker processes (--workers) serving requests', registers: [own], collect () { this.set(readyWorkers().length) } })
  const restarts = new client.Counter({ name: 'naftiko_worker_restarts_total', help: 'Worker processes started again after one exited unexpectedly', registers: [own] })
  const pending = new Map<number, (metrics: MetricsJson | undefined) => void>()
  let nextId = 0

  const ask = (worker: Worker, runtime: number): Promise<MetricsJson | undefined> => new Promise((resolve) => {
    const id = nextId++
    const timer = setTimeout(() => {
      pending.delete(id)
      logger.warn({ worker: worker.id, workerPid: worker.process.pid }, `a worker did not answer the metrics request within ${ANSWER_TIMEOUT_MS} ms: left out of this scrape`)
      resolve(undefined)
    }, ANSWER_TIMEOUT_MS)
    pending.set(id, (metrics) => {
      clearTimeout(timer)
      pending.delete(id)
      resolve(metrics)
    })
    const request: PrimaryMessage = { naftiko: 'metrics', id, runtime }
    worker.send(request, (err: Error | null) => { if (err !== null) pending.get(id)?.(undefined) })
  })

  return {
    sourceFor (runtime) {
      return {
        contentType: own.contentType,
        async metrics () {
          const answers = await Promise.all(readyWorkers().map((w) => ask(w, runtime)))
          const merged = client.AggregatorRegistry.aggregate([await own.getMetricsAsJSON(), ...answers.filter((a) => a !== undefined)])
          return merged.metrics()
        },
      }
    },
    answer (_worker, message) {
      if (isWorkerMessage(message) && message.naftiko === 'metrics') pending.get(message.id)?.(message.metrics)
    },
    workerRestarted () { restarts.inc() },
  }
}
