/**
 * Tool calls in flight, by client and JSON-RPC id, for one MCP expose. Served statelessly, a
 * `notifications/cancelled` arrives on another HTTP request (and another SDK server instance) than
 * the call it cancels, so the SDK's per-instance cancellation cannot see it; this registry can. The
 * client key includes the client's address and credential so that one client cannot cancel
 * another's call.
 */
export class CallRegistry {
  private readonly inflight = new Map<string, AbortController>()

  /** Registers a call; its signal also follows the given ones. */
  track (client: string, requestId: unknown, signals: AbortSignal[]): { signal: AbortSignal, done: () => void } {
    const key = `${client}\u0000${String(requestId)}`
    const cancel = new AbortController()
    this.inflight.set(key, cancel)
    return {
      signal: AbortSignal.any([...signals, cancel.signal]),
      done: () => { if (this.inflight.get(key) === cancel) this.inflight.delete(key) },
    }
  }

  cancel (client: string, requestId: unknown): void {
    this.inflight.get(`${client}\u0000${String(requestId)}`)?.abort()
  }
}
