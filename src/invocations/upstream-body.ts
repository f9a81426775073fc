import type { Readable } from 'node:stream'
import type { Redactor, StreamScanner } from '../bindings/redact.js'
import { NaftikoError } from '../errors/naftiko-error.js'
import { EventScrubber } from './event-scrubber.js'

/**
 * An upstream answer's body on its way to a client: every byte passes the redactor's stream scanner
 * (partial matches held back across chunks), and an event stream is checked for its terminator.
 * REST relays it chunk by chunk (`take`, `finish`); MCP reads it whole (`text`) or event by event
 * (`chunks`). The rules live here, once.
 */
export class UpstreamBody {
  private readonly scanner: StreamScanner
  private readonly integrity: StreamIntegrity | undefined
  /** secrets spelled across two events of a stream (only when something is bound) */
  private readonly events: EventScrubber | undefined

  /** bytes read so far by `text` and `chunks` (the reads that keep what they read) */
  private kept = 0

  /** `limit`: the most `text` and `chunks` read before they fail with `upstream_response_too_large`. */
  constructor (readonly source: Readable, redactor: Redactor, eventStream: boolean, private readonly limit: number) {
    this.scanner = redactor.scanner()
    this.integrity = eventStream ? new StreamIntegrity() : undefined
    this.events = eventStream && redactor.active ? new EventScrubber(redactor.textForms) : undefined
  }

  /** Counts a chunk a whole read keeps; past the limit the upstream answer is aborted. */
  private keep (chunk: Buffer): void {
    this.kept += chunk.length
    if (this.kept <= this.limit) return
    this.source.destroy()
    throw new NaftikoError('upstream_response_too_large', `The upstream answer is larger than ${this.limit} bytes, the most the gateway reads whole (--response-limit).`)
  }

  /** The bytes of a chunk that may leave now (possibly none). */
  take (chunk: Buffer): Buffer {
    this.integrity?.observe(chunk)
    const bytes = this.scanner.push(chunk)
    return this.events === undefined ? bytes : this.events.push(bytes)
  }

  /** The bytes held back at the end; throws `upstream_stream_broken` when an event stream ended
   * without its terminator. */
  finish (): Buffer {
    if (this.integrity?.complete() === false) throw new NaftikoError('upstream_stream_broken')
    const tail = this.scanner.end()
    if (this.events === undefined) return tail
    const last = this.events.push(tail)
    return Buffer.concat([last, this.events.end()])
  }

  /** The whole body as text (events, not an async iterator: this is every MCP result's path). */
  text (): Promise<string> {
    const source = this.source
    return new Promise((resolve, reject) => {
      const parts: Buffer[] = []
      source.on('data', (chunk: Buffer) => {
        try {
          this.keep(chunk)
        } catch (err) {
          reject(err)
          return
        }
        const out = this.take(chunk)
        if (out.length > 0) parts.push(out)
      })
      source.once('error', (err) => reject(this.integrity === undefined ? err : new NaftikoError('upstream_stream_broken', undefined, { cause: err })))
      source.once('end', () => {
        try {
          parts.push(this.finish())
          resolve(parts.length === 1 ? (parts[0] as Buffer).toString('utf8') : Buffer.concat(parts).toString('utf8'))
        } catch (err) {
          reject(err)
        }
      })
    })
  }

  async * chunks (): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of this.source) {
        this.keep(chunk as Buffer)
        const out = this.take(chunk as Buffer)
        if (out.length > 0) yield out
      }
    } catch (err) {
      if (this.integrity === undefined || err instanceof NaftikoError) throw err
      throw new NaftikoError('upstream_stream_broken', undefined, { cause: err })
    }
    const tail = this.finish()
    if (tail.length > 0) yield tail
  }
}

const DONE_TEXT = 'data: [DONE]'
const DONE = Buffer.from(DONE_TEXT)
const CHUNK_MARKER = Buffer.from('.chunk"')

/**
 * OpenAI-style streams (`chat.completion.chunk`, `text_completion`) promise a `data: [DONE]`
 * terminator: a stream that ends without it was broken off. Per chunk only two references move:
 * work per chunk delays the next read, and a delayed read makes the kernel hand over several
 * upstream events at once (coalescing at high concurrency).
 */
class StreamIntegrity {
  private expectsDone: boolean | undefined
  private previous: Buffer | undefined
  private last: Buffer | undefined

  observe (chunk: Buffer): void {
    this.expectsDone ??= chunk.indexOf(CHUNK_MARKER) !== -1 || chunk.indexOf('text_completion') !== -1
    this.previous = this.last
    this.last = chunk
  }

  complete (): boolean {
    if (this.expectsDone !== true) return true
    const { previous, last } = this
    if (last === undefined) return false
    // the terminator may span two chunks
    const tail = previous === undefined ? last : Buffer.concat([previous.subarray(-DONE.length - 8), last])
    return tail.toString('latin1').trimEnd().endsWith(DONE_TEXT)
  }
}
