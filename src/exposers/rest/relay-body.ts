import type { OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { BodySink, BodyTap } from '../../consumers/upstream-source.js'
import type { UpstreamBody } from '../../invocations/upstream-body.js'
import type { Cancellation } from '../../server/cancellation.js'

export type RelayOutcome = 'complete' | 'client_gone' | 'upstream_broken'

/**
 * Relays an upstream body as it comes (scrubbed by UpstreamBody). A body the upstream breaks off
 * ends the client's response abruptly (no clean end), so the client can tell. `gone`: aborted when
 * the client goes away before the response is written. A body that is whole when the relay starts
 * (a short answer) is relayed at once: its outcome is returned, not a promise of it.
 */
export function relayBody (res: ServerResponse, gone: Cancellation, status: number, headers: OutgoingHttpHeaders, body: UpstreamBody): RelayOutcome | Promise<RelayOutcome> {
  return new Relay(res, gone, status, headers, body, false).start()
}

/**
 * Relays server-sent events as they arrive: no buffering, no re-chunking. A stream that ends
 * without its terminator, or with a socket error, gets an error event in the OpenAI envelope and
 * is then cut, so it never looks like a clean end.
 */
export function relayEventStream (res: ServerResponse, gone: Cancellation, status: number, headers: OutgoingHttpHeaders, body: UpstreamBody): RelayOutcome | Promise<RelayOutcome> {
  headers['cache-control'] = 'no-cache'
  headers['x-accel-buffering'] = 'no'
  return new Relay(res, gone, status, headers, body, true).start()
}

/**
 * One relayed body: the upstream's chunks, scanned, written to the client's response as they come.
 * The response headers leave with the first bytes, in one write (flushing them alone cost a write
 * per stream: 15% of the streaming route's CPU under load, in bench/profile.mjs rest-stream). A body
 * that is whole when the relay starts (a short answer arrives with its headers) leaves in one
 * write, with its length when it is not an event stream.
 */
class Relay implements BodySink {
  private outcome: RelayOutcome | undefined
  /** settles the promise `start` returned, when the relay outlasted it */
  private resolve: ((outcome: RelayOutcome) => void) | undefined
  private tap: BodyTap | undefined
  /** what may leave of the chunks that came before the relay started; undefined once the head is written */
  private first: Buffer[] | undefined = []
  /** listening for `drain`: only once a write was refused (a short answer never is) */
  private draining = false
  private readonly onDrain = (): void => { this.tap?.resume() }
  private readonly onGone = (): void => {
    this.tap?.destroy()
    this.finish('client_gone')
  }

  constructor (private readonly res: ServerResponse, private readonly gone: Cancellation, private readonly status: number, private readonly headers: OutgoingHttpHeaders, private readonly body: UpstreamBody, private readonly eventStream: boolean) {}

  start (): RelayOutcome | Promise<RelayOutcome> {
    this.gone.once('abort', this.onGone)
    // the chunks that came already are taken now, possibly the whole body
    this.tap = this.body.tap(this)
    if (this.outcome !== undefined) return this.outcome
    if (this.first !== undefined) this.open()
    return new Promise((resolve) => { this.resolve = resolve })
  }

  /** Writes the head and what was gathered before it. */
  private open (): void {
    const first = this.first as Buffer[]
    this.first = undefined
    this.res.writeHead(this.status, this.headers)
    for (const bytes of first) this.res.write(bytes)
  }

  data (chunk: Buffer): boolean {
    const out = this.body.take(chunk)
    if (out.length === 0) return true
    if (this.first === undefined) {
      if (this.res.write(out)) return true
      if (!this.draining) this.res.on('drain', this.onDrain)
      this.draining = true
      return false
    }
    this.first.push(out)
    return true
  }

  end (): void {
    let tail: Buffer
    try {
      tail = this.body.finish()
    } catch {
      this.error()
      return
    }
    const first = this.first
    if (first === undefined) {
      if (tail.length > 0) this.res.write(tail)
      this.res.end()
    } else {
      this.first = undefined
      if (tail.length > 0) first.push(tail)
      const whole = first.length === 1 ? first[0] as Buffer : Buffer.concat(first)
      if (!this.eventStream && whole.length > 0) this.headers['content-length'] = whole.length
      this.res.writeHead(this.status, this.headers)
      this.res.end(whole)
    }
    this.finish('complete')
  }

  /** The upstream broke the body off. */
  error (): void {
    const res = this.res
    if (res.destroyed) return this.finish('client_gone')
    if (this.first !== undefined) this.open()
    this.finish('upstream_broken')
    // destroying before the final chunk makes the client see an incomplete response; an event
    // stream first gets an error event, once it is flushed (or after a short grace period)
    if (!this.eventStream) {
      res.destroy()
      return
    }
    const cut = setTimeout(() => res.destroy(), 1000)
    res.write(this.body.errorEvent(), () => {
      clearTimeout(cut)
      res.destroy()
    })
  }

  private finish (outcome: RelayOutcome): void {
    if (this.outcome !== undefined) return
    this.outcome = outcome
    if (this.draining) this.res.off('drain', this.onDrain)
    this.gone.removeListener('abort', this.onGone)
    this.resolve?.(outcome)
  }
}
