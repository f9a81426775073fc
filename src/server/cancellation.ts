import { EventEmitter } from 'node:events'

/**
 * Aborts an upstream call: when its client goes away, or when an MCP client cancels it. undici takes
 * an EventEmitter with `aborted` as a signal; an AbortController per request (and AbortSignal.any to
 * join two) cost about 5% of a route's time in the benchmark's profile.
 */
export class Cancellation extends EventEmitter {
  aborted = false
  reason: Error | undefined

  abort (reason = 'the client went away'): void {
    if (this.aborted) return
    this.aborted = true
    this.reason = new Error(reason)
    this.emit('abort')
  }

  /** Aborts this one too when `signal` aborts. */
  follow (signal: AbortSignal): this {
    if (signal.aborted) this.abort()
    else signal.addEventListener('abort', () => this.abort(), { once: true })
    return this
  }
}
