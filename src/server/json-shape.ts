/**
 * A quick look at the shape of a large JSON body that goes upstream as received, without building
 * anything: one container at the top, brackets balanced and matched, nesting within the limit,
 * strings closed, nothing but whitespace after the end, and no byte outside a string that JSON
 * never has there. String contents are skipped with `indexOf` (native, memchr speed): a body of
 * long strings (a conversation) costs about 0.1 ms per MiB.
 *
 * The body may come in pieces (`push` each chunk as it arrives, while it is in the CPU's cache),
 * or whole. `plausible` is not a full check: a misplaced comma or a control character inside a
 * string passes, and the upstream judges those. `check` means the quick look cannot vouch for the
 * body: it breaks one of the rules above, or it has so many small tokens that walking it here would
 * hold the event loop (more than `budget` steps in one `push`); the caller then checks it in full,
 * off this thread.
 */
export class JsonShape {
  private readonly open: Uint8Array
  private depth = 0
  private started = false
  private closed = false
  private inString = false
  /** the last chunk ended inside a string on a backslash that escapes the next byte */
  private escaped = false
  private failed = false

  constructor (private readonly maxDepth: number, private readonly budget = Infinity) {
    this.open = new Uint8Array(maxDepth)
  }

  push (chunk: Uint8Array): void {
    if (this.failed) return
    const n = chunk.length
    let i = 0
    let steps = 0
    if (this.escaped && n > 0) {
      this.escaped = false
      i = 1
    }
    while (i < n) {
      if (this.inString) {
        // a quote ends the string unless an odd run of backslashes escapes it; a short stretch is
        // walked here, a longer one searched natively (a call costs about as much as 64 bytes walked)
        const from = i
        const near = Math.min(n, from + NEAR)
        let end = from
        while (end < near && chunk[end] !== QUOTE) end++
        if (end === near && end < n) {
          end = indexOfQuote(chunk, end)
          steps += NEAR * 2
        } else {
          steps += end - from
        }
        if (end === -1 || end === n) {
          // the string goes on in the next chunk
          this.escaped = backslashesBefore(chunk, n, from) % 2 === 1
          break
        }
        const slashes = backslashesBefore(chunk, end, from)
        steps += slashes
        if (steps > this.budget) return this.fail()
        if (slashes % 2 === 0) this.inString = false
        i = end + 1
        continue
      }
      if (++steps > this.budget) return this.fail()
      const c = chunk[i] as number
      i++
      if (isJsonSpace(c)) continue
      if (this.closed) return this.fail()
      if (c === QUOTE) {
        if (!this.started) return this.fail()
        this.inString = true
        continue
      }
      const kind = BYTE_KIND[c]
      if (kind === OPENS) {
        if (this.depth === this.maxDepth) return this.fail()
        this.open[this.depth++] = c
        this.started = true
      } else if (kind === CLOSES) {
        if (this.depth === 0 || this.open[--this.depth] !== c - 2) return this.fail() // `]` and `}` are their opener + 2
        if (this.depth === 0) this.closed = true
      } else if (kind === INVALID || !this.started) {
        return this.fail()
      }
    }
  }

  /** the verdict, once every chunk was pushed */
  end (): 'plausible' | 'check' {
    return !this.failed && this.closed ? 'plausible' : 'check'
  }

  private fail (): void {
    this.failed = true
  }
}

/** The shape of a whole body (see `JsonShape`). */
export function jsonShape (raw: Uint8Array, maxDepth: number, budget: number): 'plausible' | 'check' {
  const shape = new JsonShape(maxDepth, budget)
  shape.push(raw)
  return shape.end()
}

/** JSON's whitespace: space, line feed, carriage return, tab. */
export const isJsonSpace = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09

const QUOTE = 0x22
/** bytes of a string walked before searching for its end natively */
const NEAR = 32
const BACKSLASH = 0x5c

/** The index of the next quote from `from`, or -1 (natively: memchr). A request's chunks are
 * Buffers already: a view made per call cost about as much as the search of a 4 KiB string. */
function indexOfQuote (chunk: Uint8Array, from: number): number {
  return (Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length)).indexOf(QUOTE, from)
}

/** How many backslashes come right before `end`, counting no further back than `from`. */
function backslashesBefore (chunk: Uint8Array, end: number, from: number): number {
  let slashes = 0
  while (end - 1 - slashes >= from && chunk[end - 1 - slashes] === BACKSLASH) slashes++
  return slashes
}

const INVALID = 0
const TOKEN = 1
const OPENS = 2
const CLOSES = 3
/** What each byte can be outside a string: whitespace, punctuation, a number's or a literal's letters. */
const BYTE_KIND = (() => {
  const kinds = new Uint8Array(256)
  for (const ch of ' \t\r\n,:0123456789+-.eEtrufalsn') kinds[ch.charCodeAt(0)] = TOKEN
  kinds[0x7b] = OPENS
  kinds[0x5b] = OPENS
  kinds[0x7d] = CLOSES
  kinds[0x5d] = CLOSES
  return kinds
})()
