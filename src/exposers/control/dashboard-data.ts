import type { PrometheusMetrics } from '../../server/metrics.js'
import { toFastifyPath } from '../rest/rest-exposer.js'
import type { ControlState } from './control-exposer.js'

/** One route or tool of one expose, since start, with its rates over the plotted window. */
export interface DashboardRow {
  readonly expose: string
  /** the metric label (`/ships/:p0`, `tools/call list-ships`) */
  readonly route: string
  /** what the capability calls it (`GET /ships/{imo}`, `list-ships`), or the label */
  readonly name: string
  readonly requests: number
  readonly errors: number
  readonly statuses: Readonly<Record<string, number>>
  /** latency percentiles in milliseconds, from the histogram's buckets; null before the first request */
  readonly p50: number | null
  readonly p95: number | null
  readonly p99: number | null
  /** [epoch ms, requests per second, errors per second] between consecutive samples; only for the
   * busiest routes and tools of the window, empty for the rest */
  readonly rates: ReadonlyArray<[number, number, number]>
  /** [requests per second, errors per second] between the last two samples */
  readonly lastRate: readonly [number, number]
}

export interface DashboardData {
  readonly now: number
  readonly naftiko: string
  readonly capability: ControlState['capability']
  readonly uptimeSeconds: number
  readonly ready: boolean
  readonly exposes: ControlState['addresses']
  readonly windowSeconds: number
  /** every route and tool together, as in `DashboardRow.rates` */
  readonly totalRates: ReadonlyArray<[number, number, number]>
  readonly rows: readonly DashboardRow[]
  /** newest first */
  readonly recentErrors: ReadonlyArray<{ at: number, expose: string, route: string, name: string, status: number | null, kind: string | null }>
}

/** The plotted window, and the shortest time between two samples (several viewers share them). */
const WINDOW_MS = 5 * 60_000
const SAMPLE_MS = 900
/** nobody watched for this long: the rate across the gap would be an average, not a point; start over */
const GAP_MS = 10_000
const PERCENTILES = [0.5, 0.95, 0.99] as const
/** routes and tools plotted one by one (a capability may have hundreds) */
const PLOTTED = 8
/** the key the samples keep every route and tool together under */
const ALL = '\n'

interface Sample { readonly at: number, readonly totals: ReadonlyMap<string, readonly [number, number]> }

/**
 * The dashboard's feed, computed from the runtime's metrics when it is read: request counts by status
 * and latency percentiles from the Prometheus registry, failures and recent errors from the
 * metrics' ring. Rates come from samples of the totals taken as the feed is polled (at most about one
 * a second, whoever polls), so the plot covers the time someone watched, up to five minutes.
 */
export class DashboardFeed {
  private samples: Sample[] = []

  constructor (private readonly state: ControlState, private readonly metrics: PrometheusMetrics) {}

  async read (now = Date.now()): Promise<DashboardData> {
    const counts = await this.requestCounts()
    const latencies = await this.latencyBuckets()
    const names = this.declaredNames()
    const keys = [...names.keys(), ...[...counts.keys()].filter((k) => !names.has(k)).sort()]
    const recent = this.metrics.recentErrors
    const totals = new Map<string, readonly [number, number]>()
    for (const key of keys) {
      const [expose, route] = splitKey(key)
      totals.set(key, [sum(counts.get(key)), recent.failures(expose, route)])
    }
    totals.set(ALL, [...totals.values()].reduce(([r, e], [r1, e1]) => [r + r1, e + e1], [0, 0]))
    this.sample(now, totals)
    const plotted = this.busiest(keys)
    const rows = keys.map((key): DashboardRow => {
      const [expose, route] = splitKey(key)
      const [requests, errors] = totals.get(key) ?? [0, 0]
      const [p50, p95, p99] = PERCENTILES.map((q) => quantileOf(latencies.get(key), q))
      return { expose, route, name: names.get(key) ?? route, requests, errors, statuses: Object.fromEntries(counts.get(key) ?? []), p50: p50 ?? null, p95: p95 ?? null, p99: p99 ?? null, rates: plotted.has(key) ? this.ratesOf(key) : [], lastRate: this.lastRateOf(key) }
    })
    return {
      now,
      naftiko: this.state.version,
      capability: this.state.capability,
      uptimeSeconds: Math.round((now - this.state.startedAt) / 1000),
      ready: this.state.ready && !this.state.draining,
      exposes: this.state.addresses,
      windowSeconds: WINDOW_MS / 1000,
      totalRates: this.ratesOf(ALL),
      rows,
      recentErrors: recent.list().reverse().map((e) => ({ at: e.at, expose: e.expose, route: e.route, name: names.get(keyOf(e.expose, e.route)) ?? e.route, status: e.status ?? null, kind: e.kind ?? null })),
    }
  }

  /** metric key -> the declared names it counts (`GET /ships`, `POST /ships` share `/ships`) */
  private declaredNames (): Map<string, string> {
    const names = new Map<string, string>()
    for (const address of this.state.addresses) {
      for (const name of address.routes) {
        const route = address.type === 'rest' ? restLabelOf(name) : address.type === 'mcp' ? `tools/call ${name}` : undefined
        if (route === undefined) continue
        const key = keyOf(address.namespace, route)
        const known = names.get(key)
        names.set(key, known === undefined ? name : `${known}, ${name}`)
      }
    }
    return names
  }

  /** metric key -> status -> count */
  private async requestCounts (): Promise<Map<string, Map<string, number>>> {
    const counts = new Map<string, Map<string, number>>()
    const metric = await this.metrics.registry.getSingleMetric('naftiko_requests_total')?.get()
    for (const { labels, value } of metric?.values ?? []) {
      const key = keyOf(String(labels.expose), String(labels.route))
      const byStatus = counts.get(key) ?? new Map<string, number>()
      byStatus.set(String(labels.status), value)
      counts.set(key, byStatus)
    }
    return counts
  }

  /** metric key -> [upper bound in seconds, cumulative count], ascending */
  private async latencyBuckets (): Promise<Map<string, Array<[number, number]>>> {
    const buckets = new Map<string, Array<[number, number]>>()
    const metric = await this.metrics.registry.getSingleMetric('naftiko_request_duration_seconds')?.get()
    for (const value of metric?.values ?? []) {
      if (!('metricName' in value) || value.metricName !== 'naftiko_request_duration_seconds_bucket') continue
      const key = keyOf(String(value.labels.expose), String(value.labels.route))
      const le = value.labels.le === '+Inf' ? Infinity : Number(value.labels.le)
      const list = buckets.get(key) ?? []
      list.push([le, value.value])
      buckets.set(key, list)
    }
    for (const list of buckets.values()) list.sort((a, b) => a[0] - b[0])
    return buckets
  }

  private sample (now: number, totals: ReadonlyMap<string, readonly [number, number]>): void {
    const last = this.samples.at(-1)
    if (last !== undefined && now - last.at < SAMPLE_MS) return
    if (last !== undefined && now - last.at > GAP_MS) this.samples = []
    this.samples.push({ at: now, totals })
    while ((this.samples[0]?.at ?? now) < now - WINDOW_MS) this.samples.shift()
  }

  /** the keys with the most requests between the first and the last sample, none without any */
  private busiest (keys: readonly string[]): Set<string> {
    const first = this.samples[0]?.totals
    const last = this.samples.at(-1)?.totals
    const grown = keys.map((key) => [key, (last?.get(key)?.[0] ?? 0) - (first?.get(key)?.[0] ?? 0)] as const).filter(([, n]) => n > 0)
    return new Set(grown.sort((a, b) => b[1] - a[1]).slice(0, PLOTTED).map(([key]) => key))
  }

  private ratesOf (key: string, from = 1): Array<[number, number, number]> {
    const rates: Array<[number, number, number]> = []
    for (let i = Math.max(1, from); i < this.samples.length; i++) {
      const before = this.samples[i - 1] as Sample
      const after = this.samples[i] as Sample
      const seconds = (after.at - before.at) / 1000
      const [r0, e0] = before.totals.get(key) ?? [0, 0]
      const [r1, e1] = after.totals.get(key) ?? [0, 0]
      rates.push([after.at, round((r1 - r0) / seconds), round((e1 - e0) / seconds)])
    }
    return rates
  }

  private lastRateOf (key: string): [number, number] {
    const [, requests, errors] = this.ratesOf(key, this.samples.length - 1)[0] ?? [0, 0, 0]
    return [requests, errors]
  }
}

/** `GET /ships/{imo}` -> `/ships/:p0`, the route template the REST expose counts it under */
function restLabelOf (name: string): string {
  return toFastifyPath(name.slice(name.indexOf(' ') + 1)).url
}

/**
 * The q-quantile in milliseconds, read from cumulative buckets the way Prometheus' histogram_quantile
 * does: linear within the bucket the rank falls in; past the last finite bound, that bound.
 */
export function quantileOf (buckets: ReadonlyArray<readonly [number, number]> | undefined, q: number): number | undefined {
  const count = buckets?.at(-1)?.[1] ?? 0
  if (buckets === undefined || count === 0) return undefined
  const rank = q * count
  let lower = 0
  let below = 0
  for (const [le, cumulative] of buckets) {
    if (cumulative >= rank) {
      if (le === Infinity) return round(lower * 1000)
      const inBucket = cumulative - below
      return round((lower + (le - lower) * (inBucket === 0 ? 1 : (rank - below) / inBucket)) * 1000)
    }
    lower = le
    below = cumulative
  }
  return round(lower * 1000)
}

const keyOf = (expose: string, route: string): string => `${expose}\n${route}`
const splitKey = (key: string): [string, string] => {
  const at = key.indexOf('\n')
  return [key.slice(0, at), key.slice(at + 1)]
}
const sum = (byStatus: ReadonlyMap<string, number> | undefined): number => [...(byStatus?.values() ?? [])].reduce((a, b) => a + b, 0)
const round = (n: number): number => Math.round(n * 1000) / 1000
