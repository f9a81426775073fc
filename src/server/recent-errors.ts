import { ERROR_CODES } from '../errors/codes.js'

/** One failed request, as the metrics know it: no message, no header, no value a client or upstream sent. */
export interface RecentError {
  /** epoch milliseconds */
  readonly at: number
  readonly expose: string
  /** the metric label: a REST route template, or an MCP method and tool */
  readonly route: string
  /** the answered status; for a tool error answered as a result, the status its kind stands for */
  status: number | undefined
  /** `status_503`, `upstream_timeout`, ...; none for a refusal of the gateway's own (401, 404, 400) */
  readonly kind: string | undefined
}

interface Entry extends RecentError {
  /** an upstream error not yet matched with the answer of the request it failed */
  open: boolean
}

/** How many of the newest entries an answer searches for the upstream error it carries. */
const MATCH_DEPTH = 32

/**
 * The last `capacity` failures (a ring), and how many failures each expose and route had since start.
 * A request that failed upstream is reported twice (the upstream error, then the answer): the answer
 * completes the entry the upstream error opened on the same expose and route during the request,
 * so each failed request is one entry and counts once. A tool error is answered 200 as a result:
 * its upstream error is its only report.
 */
export class RecentErrors {
  private readonly ring: Entry[] = []
  private next = 0
  private readonly failed = new Map<string, number>()

  constructor (readonly capacity = 100) {}

  upstreamError (expose: string, route: string, kind: string, now = Date.now()): void {
    this.push({ at: now, expose, route, status: statusOfKind(kind), kind, open: true })
  }

  /** a request answered with `status` after `ms`: an error completes or adds an entry */
  answered (expose: string, route: string, status: number, ms: number, now = Date.now()): void {
    if (status < 400) return
    const since = now - ms - 1
    for (let i = 1; i <= Math.min(MATCH_DEPTH, this.ring.length); i++) {
      const entry = this.ring[(this.next - i + this.capacity) % this.capacity] as Entry
      if (entry.at < since) break
      if (entry.open && entry.expose === expose && entry.route === route) {
        entry.open = false
        entry.status = status
        return
      }
    }
    this.push({ at: now, expose, route, status, kind: undefined, open: false })
  }

  /** oldest first */
  list (): RecentError[] {
    const ordered = this.ring.length < this.capacity ? this.ring : [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)]
    return ordered.map(({ at, expose, route, status, kind }) => ({ at, expose, route, status, kind }))
  }

  /** failures of one expose and route since start */
  failures (expose: string, route: string): number {
    return this.failed.get(keyOf(expose, route)) ?? 0
  }

  private push (entry: Entry): void {
    const key = keyOf(entry.expose, entry.route)
    this.failed.set(key, (this.failed.get(key) ?? 0) + 1)
    if (this.ring.length < this.capacity) this.ring.push(entry)
    else this.ring[this.next] = entry
    this.next = (this.next + 1) % this.capacity
  }
}

const keyOf = (expose: string, route: string): string => `${expose}\n${route}`

/** `status_503` -> 503; a gateway code -> its status in the registry */
function statusOfKind (kind: string): number | undefined {
  if (kind.startsWith('status_')) return Number(kind.slice(7)) || undefined
  return (ERROR_CODES as Record<string, { status: number } | undefined>)[kind]?.status
}
