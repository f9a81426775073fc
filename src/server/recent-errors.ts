import { ERROR_CODES } from '../errors/codes.js'

/** One failed request, as the metrics know it: no message, no header, no value a client or upstream sent. */
export interface RecentError {
  /** epoch milliseconds */
  readonly at: number
  readonly expose: string
  /** the metric label: a REST route template, or an MCP method and tool */
  readonly route: string
  /** the answered status; for a tool error answered as a result, the status its kind stands for */
  readonly status: number | undefined
  /** `status_503`, `upstream_timeout`, ...; none for a refusal of the gateway's own (401, 404, 400) */
  readonly kind: string | undefined
}

/**
 * The last `capacity` failures (a ring), and how many failures each expose and route had since start.
 * Each failed request is reported once, when it is answered, with the upstream error it carries if any.
 */
export class RecentErrors {
  private readonly ring: RecentError[] = []
  private next = 0
  private readonly failed = new Map<string, number>()

  constructor (readonly capacity = 100) {}

  /** a failed request; a tool error answered as a result gives no status: its kind stands for one */
  add (expose: string, route: string, status: number | undefined, kind: string | undefined, now = Date.now()): void {
    const key = keyOf(expose, route)
    this.failed.set(key, (this.failed.get(key) ?? 0) + 1)
    const entry = { at: now, expose, route, status: status ?? (kind === undefined ? undefined : statusOfKind(kind)), kind }
    if (this.ring.length < this.capacity) this.ring.push(entry)
    else this.ring[this.next] = entry
    this.next = (this.next + 1) % this.capacity
  }

  /** oldest first */
  list (): RecentError[] {
    return this.ring.length < this.capacity ? [...this.ring] : [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)]
  }

  /** failures of one expose and route since start */
  failures (expose: string, route: string): number {
    return this.failed.get(keyOf(expose, route)) ?? 0
  }
}

const keyOf = (expose: string, route: string): string => `${expose}\n${route}`

/** `status_503` -> 503; a gateway code -> its status in the registry */
function statusOfKind (kind: string): number | undefined {
  if (kind.startsWith('status_')) return Number(kind.slice(7)) || undefined
  return (ERROR_CODES as Record<string, { status: number } | undefined>)[kind]?.status
}
