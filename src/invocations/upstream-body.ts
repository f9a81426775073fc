import { Readable } from 'node:stream'
import type { Redactor, StreamScanner } from '../bindings/redact.js'
import { tapReadable, type BodySink, type BodyTap, type UpstreamSource } from '../consumers/upstream-source.js'
import { NaftikoError } from '../errors/naftiko-error.js'
import { EventScrubber } from './event-scrubber.js'
import { detectStreamFormat, type StreamFormat } from './stream-format.js'

/**
 * An upstream answer's body on its way to a client: every byte passes the redactor's stream scanner
 * (partial matches held back across chunks), and an event stream is checked for its terminator.
 * REST relays it chunk by chunk (`take`, `finish`); MCP reads it whole (`text`) or event by event
 * (`chunks`); an answer converted from another format is read whole unscanned (`bytes`), its JSON
 * scanned. The rules live here, once.
 */
export class UpstreamBody {
  private readonly scanner: StreamScanner
  /** an event stream's format, known from its first chunk */
  private format: StreamFormat | undefined
  /** secrets spelled across two events of a stream (only when something is bound) */
  private readonly events: EventScrubber | undefined

  private readonly eventStream: boolean
  /** bytes read so far by `text` and `chunks` (the reads that keep what they read) */
  private kept = 0

  /** `limit`: the most `text` and `chunks` read before they fail with `upstream_response_too_large`. */
  constructor (private readonly source: UpstreamSource | Readable, redactor: Redactor, eventStream: boolean, private readonly limit: number) {
    this.scanner = redactor.scanner()
    this.eventStream = eventStream
    this.events = eventStream && redactor.active ? new EventScrubber(redactor.textForms) : undefined
  }

  /** Counts a chunk a whole read keeps; past the limit the upstream answer is aborted. */
  private keep (chunk: Buffer): void {
    this.kept += chunk.length
    if (this.kept <= this.limit) return
    this.source.destroy()
    throw new NaftikoError('upstream_response_too_large', `The upstream answer is larger than ${this.limit} bytes, the most the gateway reads whole (--response-limit).`)
  }

  /** The raw chunks go to `sink` as they come (a relay passes each through `take`). */
  tap (sink: BodySink): BodyTap {
    return this.source instanceof Readable ? tapReadable(this.source, sink) : this.source.tap(sink)
  }

  private readable (): Readable {
    return this.source instanceof Readable ? this.source : this.source.readable()
  }

  /** The bytes of a chunk that may leave now (possibly none). */
  take (chunk: Buffer): Buffer {
    if (this.eventStream) (this.format ??= detectStreamFormat(chunk)).observe(chunk)
    const bytes = this.scanner.push(chunk)
    return this.events === undefined ? bytes : this.events.push(bytes)
  }

  /** The bytes held back at the end; throws `upstream_stream_broken` when an event stream ended
   * without its terminator. */
  finish (): Buffer {
    if (this.format !== undefined && !this.format.complete()) throw new NaftikoError('upstream_stream_broken')
    const tail = this.scanner.end()
    if (this.events === undefined) return tail
    const last = this.events.push(tail)
    return Buffer.concat([last, this.events.end()])
  }

  /** The whole body as text (events, not an async iterator: this is every MCP result's path). */
  text (): string | Promise<string> {
    return this.readWhole(true, toText)
  }

  /** The whole body, scanned, as bytes. */
  whole (): Buffer | Promise<Buffer> {
    return this.readWhole(true, (bytes) => bytes)
  }

  /**
   * The whole body as the upstream sent it, not scanned: for an answer converted from another format
   * than JSON, whose JSON value passes the redactor instead (`jsonOutcome`). Scanning the raw bytes
   * would miss a secret the format escapes, and could break a binary encoding.
   */
  bytes (): Buffer | Promise<Buffer> {
    return this.readWhole(false, (bytes) => bytes)
  }

  /**
   * Reads the body whole: the value itself when the answer is in already (a small answer usually
   * arrives with its head, and the parser's chunks are replayed at once), else a promise of it.
   * A failure is always a rejected promise.
   */
  private readWhole<T> (scan: boolean, as: (bytes: Buffer) => T): T | Promise<T> {
    const parts: Buffer[] = []
    let outcome: { value: T } | { error: unknown } | undefined
    let settle: ((result: { value: T } | { error: unknown }) => void) | undefined
    const conclude = (result: { value: T } | { error: unknown }): false => {
      if (outcome !== undefined) return false
      outcome = result
      settle?.(result)
      return false
    }
    // the chunks as the parser hands them over: no Readable between it and this read
    this.tap({
      data: (chunk) => {
        if (outcome !== undefined) return false
        try {
          this.keep(chunk)
          const out = scan ? this.take(chunk) : chunk
          if (out.length > 0) parts.push(out)
          return true
        } catch (error) {
          return conclude({ error })
        }
      },
      error: (err) => conclude({ error: this.eventStream ? new NaftikoError('upstream_stream_broken', undefined, { cause: err }) : err }),
      end: () => {
        if (outcome !== undefined) return
        try {
          const tail = scan ? this.finish() : undefined
          if (tail !== undefined && tail.length > 0) parts.push(tail)
          // one chunk (a small answer) is the body as it is, not a copy
          conclude({ value: as(parts.length === 1 ? parts[0] as Buffer : Buffer.concat(parts)) })
        } catch (error) {
          conclude({ error })
        }
      },
    })
    const done = outcome as { value: T } | { error: unknown } | undefined
    if (done !== undefined) return 'value' in done ? done.value : Promise.reject(done.error)
    return new Promise((resolve, reject) => {
      settle = (result) => { if ('value' in result) resolve(result.value); else reject(result.error) }
    })
  }

  /** The event that tells a client this stream was broken off, in the stream's own shape. */
  errorEvent (): string {
    return (this.format ?? detectStreamFormat(Buffer.alloc(0))).errorEvent()
  }

  async * chunks (): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of this.readable()) {
        this.keep(chunk as Buffer)
        const out = this.take(chunk as Buffer)
        if (out.length > 0) yield out
      }
    } catch (err) {
      if (!this.eventStream || err instanceof NaftikoError) throw err
      throw new NaftikoError('upstream_stream_broken', undefined, { cause: err })
    }
    const tail = this.finish()
    if (tail.length > 0) yield tail
  }
}

function toText (bytes: Buffer): string {
  return bytes.toString('utf8')
}
