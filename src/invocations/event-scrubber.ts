import { partialEnd, REDACTED } from '../bindings/redact.js'

/**
 * The text of a streamed answer arrives in deltas, one event each: a secret an upstream spells over
 * several events is whole only in the text a client puts together. The byte scanner cannot see it
 * (JSON lies between the pieces); this one reads each event's delta string (`"content"`, `"delta"`,
 * `"arguments"`). While the delta text so far ends with characters that could start a secret (its
 * plain or JSON-escaped form), its events wait; when the secret completes, its first piece becomes
 * the marker and the other pieces are removed; when it does not, the events leave. Only an event
 * that ends like the start of a secret waits, and only until the next event.
 */
const DELTA_KEYS = ['"content":"', '"delta":"', '"arguments":"']
const SEPARATOR = '\n\n'

/** An event with the place of its delta string. */
interface Held { text: string, start: number, end: number }

export class EventScrubber {
  private pending = ''
  private held: Held[] = []
  /** the end of the delta text so far, as long as the longest secret form minus one */
  private tail = ''
  private readonly longest: number

  /** `needles`: the text forms of every secret, as latin1 text (bytes 1:1) */
  constructor (private readonly needles: readonly string[]) {
    this.longest = needles.reduce((max, n) => Math.max(max, n.length), 0)
  }

  /** Bytes in, the complete events that may leave now out: the chunk's own bytes when every event
   * in it leaves as it came (the common case, no copy). */
  push (chunk: Buffer): Buffer {
    const whole = this.pending === ''
    const data = whole ? chunk.toString('latin1') : this.pending + chunk.toString('latin1')
    const cut = data.lastIndexOf(SEPARATOR)
    if (cut === -1) {
      this.pending = data
      return EMPTY
    }
    this.pending = data.slice(cut + SEPARATOR.length)
    const head = data.slice(0, cut)
    // what leaves, once an event does not leave as it came; until then, the events so far are head's start
    let out: string | undefined
    let start = 0
    for (;;) {
      const at = head.indexOf(SEPARATOR, start)
      const end = at === -1 ? head.length : at
      const event = head.slice(start, end)
      const changed = this.event(event)
      if (changed !== undefined) out = (out ?? head.slice(0, start)) + changed
      else if (out !== undefined) out += event + SEPARATOR
      if (at === -1) break
      start = end + SEPARATOR.length
    }
    // latin1 text is the bytes 1:1: the first cut + 2 characters of a chunk are its first cut + 2 bytes
    if (out === undefined) return whole ? chunk.subarray(0, cut + SEPARATOR.length) : Buffer.from(data.slice(0, cut + SEPARATOR.length), 'latin1')
    return out === '' ? EMPTY : Buffer.from(out, 'latin1')
  }

  end (): Buffer {
    const rest = this.release() + this.pending
    this.pending = ''
    return rest === '' ? EMPTY : Buffer.from(rest, 'latin1')
  }

  /** One complete event (without its separator): what leaves now, separators included, or
   * undefined when the event leaves now as it came (and nothing held leaves with it). */
  private event (event: string): string | undefined {
    const range = deltaRange(event)
    if (range === undefined) return this.held.length > 0 ? this.hold({ text: event, start: 0, end: 0 }) : undefined
    const content = event.slice(range.start, range.end)
    const joined = this.tail + content
    for (const n of this.needles) {
      const at = joined.indexOf(n, Math.max(0, this.tail.length - n.length + 1))
      if (at === -1 || at >= this.tail.length) continue
      // the secret ends in this event: its pieces in the waiting events go, the first becomes the marker
      this.cutHeld(this.tail.length - at)
      const current: Held = { text: event, start: range.start, end: range.end }
      replaceDelta(current, 0, at + n.length - this.tail.length, '')
      this.tail = ''
      return this.release() + current.text + SEPARATOR
    }
    this.tail = joined.slice(-Math.max(this.longest - 1, 0))
    if (partialEnd(this.tail, this.needles) > 0) return this.hold({ text: event, start: range.start, end: range.end })
    return this.held.length > 0 ? this.release() + event + SEPARATOR : undefined
  }

  private hold (event: Held): string {
    this.held.push(event)
    return ''
  }

  private release (): string {
    let out = ''
    for (const h of this.held) out += h.text + SEPARATOR
    this.held = []
    return out
  }

  /** Removes the last `count` characters of the waiting deltas; the earliest cut gets the marker. */
  private cutHeld (count: number): void {
    let left = count
    for (let i = this.held.length - 1; i >= 0 && left > 0; i--) {
      const h = this.held[i] as Held
      const take = Math.min(left, h.end - h.start)
      left -= take
      replaceDelta(h, h.end - h.start - take, h.end - h.start, left === 0 || i === 0 ? REDACTED : '')
    }
  }
}

/** Replaces characters `from`..`to` of an event's delta string. */
function replaceDelta (event: Held, from: number, to: number, text: string): void {
  event.text = event.text.slice(0, event.start + from) + text + event.text.slice(event.start + to)
  event.end += text.length - (to - from)
}

const EMPTY = Buffer.alloc(0)

/** Where the first delta string of an event lies (its raw, JSON-escaped text). */
function deltaRange (event: string): { start: number, end: number } | undefined {
  for (const key of DELTA_KEYS) {
    const at = event.indexOf(key)
    if (at === -1) continue
    const start = at + key.length
    // the closing quote: the first one not escaped by an odd run of backslashes
    let end = event.indexOf('"', start)
    while (end !== -1) {
      let slashes = 0
      while (event.charCodeAt(end - 1 - slashes) === 0x5c) slashes++
      if (slashes % 2 === 0) return { start, end }
      end = event.indexOf('"', end + 1)
    }
    return undefined
  }
  return undefined
}
