import type { Cancellation } from '../../server/cancellation.js'

/**
 * Tool calls in flight, by client and JSON-RPC id, for one MCP expose. Served statelessly, a
 * `notifications/cancelled` arrives on another HTTP request (and another SDK server instance) than
 * the call it cancels, so the SDK's per-instance cancellation cannot see it; this registry can. The
 * client key includes the client's address and credential so that one client cannot cancel
 * another's call.
 */
export class CallRegistry {
  private readonly inflight = new Map<string, Cancellation>()

  /** Registers a call; `cancellation` aborts it (a client's cancel notification aborts it too). */
  track (client: string, requestId: unknown, cancellation: Cancellation): () => void {
    const key = `${client}\u0000${String(requestId)}`
    this.inflight.set(key, cancellation)
    return () => { if (this.inflight.get(key) === cancellation) this.inflight.delete(key) }
  }

  cancel (client: string, requestId: unknown): void {
    this.inflight.get(`${client}\u0000${String(requestId)}`)?.abort('the client cancelled the call')
  }
}
