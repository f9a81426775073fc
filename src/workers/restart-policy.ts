/** The first restart waits this long; each further exit within the window doubles it. */
const FIRST_DELAY_MS = 100
const LONGEST_DELAY_MS = 5_000

export interface RestartPolicy {
  /** the window in which exits are counted */
  readonly windowMs: number
  /** the most unexpected exits tolerated within the window */
  readonly limit: number
  /**
   * An unexpected exit at `now` (ms): how long to wait before starting a replacement, or undefined
   * when there were more than `limit` exits within `windowMs`: a crash loop, which no restart cures.
   */
  exited (now: number): number | undefined
}

/**
 * A worker that dies is replaced after a short backoff (100 ms, doubling with every exit in the last
 * minute, at most 5 s), so one bad request or an out-of-memory kill costs one restart, and a worker
 * that cannot live (a port taken, a fault at every request) stops the gateway with a clear error
 * instead of forking forever. The limit grows with the worker count: a host-wide event (the OOM killer
 * taking several) is not a loop.
 */
export function restartPolicy (workers: number, windowMs = 60_000): RestartPolicy {
  const limit = Math.max(5, 2 * workers)
  let exits: number[] = []
  return {
    windowMs,
    limit,
    exited (now) {
      exits = exits.filter((t) => now - t < windowMs)
      exits.push(now)
      if (exits.length > limit) return undefined
      return Math.min(FIRST_DELAY_MS * 2 ** (exits.length - 1), LONGEST_DELAY_MS)
    },
  }
}
