import type { Diagnostic } from '../capability/diagnostics.js'
import type { ExposeAddress } from '../runtime.js'

/**
 * What the primary and the workers of `--workers N` tell each other over the cluster's IPC channel.
 * Every message carries `naftiko`, so node's own cluster messages and ours never mix.
 */

/** One capability as a worker started it: what the primary prints once, for all workers. */
export interface StartedRuntime {
  readonly info: { readonly label: string | undefined, readonly version: string | undefined }
  readonly addresses: readonly ExposeAddress[]
  readonly upstreams: readonly string[]
  readonly warnings: readonly Diagnostic[]
}

/** A worker's metrics of one capability: prom-client's `getMetricsAsJSON()`, merged by the primary. */
export type MetricsJson = readonly object[]

export type WorkerMessage =
  /** every expose listens */
  | { readonly naftiko: 'ready', readonly runtimes: readonly StartedRuntime[] }
  /** a reload took effect: what is served now */
  | { readonly naftiko: 'reloaded', readonly runtimes: readonly StartedRuntime[] }
  /** the answer to a metrics request (`metrics` absent when the worker has no such capability) */
  | { readonly naftiko: 'metrics', readonly id: number, readonly metrics: MetricsJson | undefined }

export type PrimaryMessage =
  /** stop accepting, finish what is in flight, leave */
  | { readonly naftiko: 'shutdown' }
  /** the metrics of capability number `runtime` (in the order of the command line) */
  | { readonly naftiko: 'metrics', readonly id: number, readonly runtime: number }

export function isWorkerMessage (message: unknown): message is WorkerMessage {
  return typeof message === 'object' && message !== null && 'naftiko' in message
}

export function isPrimaryMessage (message: unknown): message is PrimaryMessage {
  return typeof message === 'object' && message !== null && 'naftiko' in message
}
