import { createRequire } from 'node:module'
import type { IncomingHttpHeaders } from 'node:http'
import { Readable } from 'node:stream'
import type * as Undici from 'undici'
import type { UpstreamSignal } from './send-upstream.js'

const require = createRequire(import.meta.url)
const { parseHeaders, addAbortListener } = require('undici/lib/core/util.js') as {
  parseHeaders: (raw: Buffer[]) => IncomingHttpHeaders
  addAbortListener: (signal: UpstreamSignal, listener: () => void) => () => void
}
const { RequestAbortedError } = require('undici/lib/core/errors.js') as { RequestAbortedError: new () => Error }

/** Where a body's chunks go when they are relayed as they come. */
export interface BodySink {
  /** false: stop until `resume` */
  data (chunk: Buffer): boolean
  end (): void
  error (err: Error): void
}

/** A sink's hold on a body. */
export interface BodyTap {
  resume (): void
  /** stops the body (and the upstream request, while it is running) */
  destroy (): void
}

/**
 * An upstream response body as undici's parser hands it over. A relay takes the chunks straight
 * (`tap`): no stream machinery between the parser and the client's socket (`request()` builds a
 * Readable and an AsyncResource per call; without them the REST route took about 10% less CPU per
 * request in bench/ab.mjs). A reader that wants a stream gets a Readable built on first use.
 */
export class UpstreamSource {
  /** chunks that arrived before a reader */
  private queue: Buffer[] = []
  private queued = 0
  private done = false
  private failure: Error | undefined
  private sink: BodySink | undefined
  private stream: Readable | undefined

  constructor (private readonly resumeParser: () => void, private readonly abort: (err: Error) => void) {}

  /** From the parser: false pauses it until a reader asks for more. */
  push (chunk: Buffer): boolean {
    if (this.sink !== undefined) return this.sink.data(chunk)
    if (this.stream !== undefined) return this.stream.push(chunk)
    this.queue.push(chunk)
    this.queued += chunk.length
    return this.queued < QUEUE_LIMIT
  }

  finish (): void {
    if (this.done) return
    this.done = true
    if (this.sink !== undefined) this.sink.end()
    else if (this.stream !== undefined) this.stream.push(null)
  }

  fail (err: Error): void {
    if (this.done) return
    this.done = true
    this.failure = err
    if (this.sink !== undefined) this.sink.error(err)
    else if (this.stream !== undefined) this.stream.destroy(err)
  }

  /** The chunks go to `sink` from now on, those that came already first. */
  tap (sink: BodySink): BodyTap {
    this.sink = sink
    const queue = this.queue
    this.queue = []
    this.queued = 0
    let more = true
    for (const chunk of queue) more = sink.data(chunk)
    if (this.failure !== undefined) sink.error(this.failure)
    else if (this.done) sink.end()
    else if (more) this.resumeParser()
    return this
  }

  resume (): void {
    if (!this.done) this.resumeParser()
  }

  /** Stops reading: the upstream request is aborted if it is still running. */
  destroy (err?: Error): void {
    this.sink = undefined
    this.cancel(err)
  }

  /** The request was cancelled (its signal): the reader hears of it as an error. */
  cancel (reason?: Error): void {
    if (this.stream !== undefined) this.stream.destroy(reason)
    else this.stop(reason)
  }

  /** Aborts the upstream request; undici then reports the error (`fail`). */
  private stop (err?: Error): void {
    if (!this.done) this.abort(err ?? new RequestAbortedError())
  }

  /** The body as a Readable, for readers that want one (built once). */
  readable (): Readable {
    if (this.stream !== undefined) return this.stream
    const stream = new Readable({
      read: () => { this.resume() },
      destroy: (err, callback) => {
        this.stop(err ?? undefined)
        callback(err)
      },
    })
    this.stream = stream
    for (const chunk of this.queue) stream.push(chunk)
    this.queue = []
    this.queued = 0
    if (this.failure !== undefined) stream.destroy(this.failure)
    else if (this.done) stream.push(null)
    return stream
  }

  /** Reads the body to its end and drops it. */
  dump (): Promise<void> {
    return new Promise((resolve) => {
      this.tap({ data: () => true, end: resolve, error: () => resolve() })
    })
  }
}

/** what the parser may hand over before a reader comes */
const QUEUE_LIMIT = 64 * 1024

/** A body that is a Readable (a decoded answer) relayed through the same sink. */
export function tapReadable (readable: Readable, sink: BodySink): BodyTap {
  readable.on('data', (chunk: Buffer) => { if (!sink.data(chunk)) readable.pause() })
  readable.on('error', (err) => { sink.error(err) })
  readable.on('end', () => { sink.end() })
  return { resume: () => { readable.resume() }, destroy: () => { readable.destroy() } }
}

export interface UpstreamAnswer {
  statusCode: number
  headers: IncomingHttpHeaders
  body: UpstreamSource
}

/**
 * `dispatcher.dispatch` with a handler that hands the body over as it is parsed: what undici's
 * `request()` does (the same errors, the same abort by `signal` before and after the response
 * headers) without its Readable.
 */
export function callUpstream (dispatcher: Undici.Dispatcher, options: Undici.Dispatcher.DispatchOptions, signal: UpstreamSignal): Promise<UpstreamAnswer> {
  return new Promise((resolve, reject) => {
    dispatcher.dispatch(options, new CallHandler(signal, resolve, reject))
  })
}

class CallHandler implements Undici.Dispatcher.DispatchHandler {
  private abort: ((err: Error) => void) | undefined
  private reason: Error | undefined
  private body: UpstreamSource | undefined
  private readonly unlisten: (() => void) | undefined

  constructor (signal: UpstreamSignal, private readonly resolve: (answer: UpstreamAnswer) => void, private readonly reject: (err: Error) => void) {
    if (signal.aborted) {
      this.reason = reasonOf(signal)
      return
    }
    this.unlisten = addAbortListener(signal, () => {
      this.reason = reasonOf(signal)
      if (this.body !== undefined) this.body.cancel(this.reason)
      else this.abort?.(this.reason)
    })
  }

  onConnect (abort: (err?: Error) => void): void {
    if (this.reason !== undefined) {
      abort(this.reason)
      return
    }
    this.abort = abort
  }

  onHeaders (statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    // 1xx informational answers come before the response
    if (statusCode < 200) return true
    const abort = this.abort as (err: Error) => void
    this.body = new UpstreamSource(resume, abort)
    this.resolve({ statusCode, headers: parseHeaders(rawHeaders), body: this.body })
    return true
  }

  onData (chunk: Buffer): boolean {
    return (this.body as UpstreamSource).push(chunk)
  }

  onComplete (): void {
    this.unlisten?.()
    this.body?.finish()
  }

  onError (err: Error): void {
    this.unlisten?.()
    if (this.body === undefined) this.reject(err)
    else this.body.fail(err)
  }
}

function reasonOf (signal: UpstreamSignal): Error {
  return ((signal as { reason?: Error }).reason) ?? new RequestAbortedError()
}
