/**
 * Aborts an upstream call: when its client goes away, or when an MCP client cancels it. The upstream
 * call takes it as its signal (`once('abort')`, `removeListener`, `aborted`, `reason`, as undici
 * reads an EventEmitter signal). An AbortController per request (and AbortSignal.any to join two)
 * cost about 5% of a route's time in the benchmark's profile; an EventEmitter (its construction and
 * once-wrappers) showed too, so the listeners are a plain array.
 */
export class Cancellation {
  aborted = false
  reason: Error | undefined
  private listeners: Array<() => void> | undefined

  once (_event: 'abort', listener: () => void): this {
    (this.listeners ??= []).push(listener)
    return this
  }

  removeListener (_event: 'abort', listener: () => void): this {
    const at = this.listeners?.indexOf(listener) ?? -1
    if (at !== -1) this.listeners?.splice(at, 1)
    return this
  }

  abort (reason = 'the client went away'): void {
    if (this.aborted) return
    this.aborted = true
    this.reason = new Error(reason)
    const listeners = this.listeners
    this.listeners = undefined
    if (listeners !== undefined) for (const listener of listeners) listener()
  }

  /** Aborts this one too when `signal` aborts. */
  follow (signal: AbortSignal): this {
    if (signal.aborted) this.abort()
    else signal.addEventListener('abort', () => this.abort(), { once: true })
    return this
  }
}
