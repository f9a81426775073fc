/**
 * The one redactor: every byte that leaves toward a client or a log (body, stream, header, progress
 * notification, error text, log line) passes it. Built once from the resolved bindings.
 */
export interface Redactor {
  /** false when nothing is bound: callers may skip scanning */
  readonly active: boolean
  /** the forms a secret takes in text (plain and JSON-escaped) as latin1 text (a byte per
   * character), longest first: what a model could spell out over several deltas */
  readonly textForms: readonly string[]
  /** replaces every bound secret in a text */
  redact (text: string): string
  /** replaces every bound secret in bytes: `data` itself when it holds none */
  redactBytes (data: Buffer): Buffer
  /** whether a text holds a bound secret */
  holds (text: string): boolean
  /** how much of a growing text may leave now: all of it but an end that could start a secret */
  releasable (text: string): number
  /** a scanner for one byte stream, carrying partial matches across chunks */
  scanner (): StreamScanner
}

export interface StreamScanner {
  /** the bytes of `chunk` (and of what was held back) that are safe to send now */
  push (chunk: Buffer): Buffer
  /** what was held back, at the end of the stream */
  end (): Buffer
}

export const REDACTED = '[redacted]'
/** from this length a text is searched for each needle in turn rather than with one pattern */
const LONG_TEXT = 1024
const EMPTY = Buffer.alloc(0)

/**
 * Each secret is matched plain, JSON-escaped, URL-encoded, and inside base64 and base64url text at
 * each of the three byte alignments (`base64("user:" + key)` holds the key shifted by 5 bytes):
 * the forms in which it can appear in a log line, a URL or a body an upstream echoes back.
 */
export function buildRedactor (secrets: readonly string[]): Redactor {
  const needles = new Set<string>()
  const textForms = new Set<string>()
  for (const secret of secrets) {
    // very short values would blank out ordinary words; they are not plausible credentials
    if (secret.length < 4) continue
    needles.add(secret)
    needles.add(JSON.stringify(secret).slice(1, -1))
    textForms.add(secret)
    textForms.add(JSON.stringify(secret).slice(1, -1))
    needles.add(encodeURIComponent(secret))
    for (const encoded of base64Forms(secret)) needles.add(encoded)
  }
  if (needles.size === 0) return NONE
  // longest first, so that a secret containing another is replaced whole
  const ordered = [...needles].sort((a, b) => b.length - a.length)
  // bytes as latin1 text: a 1:1 mapping, so that byte streams are scanned without decoding UTF-8
  const binary = ordered.map((n) => Buffer.from(n).toString('latin1'))
  const buffers = ordered.map((n) => Buffer.from(n))
  const replace = (text: string, list: readonly string[]): string => {
    let out = text
    for (const needle of list) if (out.includes(needle)) out = out.split(needle).join(REDACTED)
    return out
  }
  // one pass for the common case, a short text that holds none of them (a header value): about a
  // third of the time of an includes() per needle; a long text (a batch of log lines) is searched
  // for each needle natively, about a third of the time of the pattern's pass over it; a text
  // shorter than every needle (most header values) holds none
  const anyNeedle = new RegExp(ordered.map(escapeRegExp).join('|'))
  const shortest = (ordered.at(-1) as string).length
  const holds = (text: string): boolean => text.length < shortest ? false : text.length < LONG_TEXT ? anyNeedle.test(text) : ordered.some((needle) => text.includes(needle))
  const scrubBytes = (data: Buffer): Buffer => {
    let found = false
    for (const b of buffers) if (data.indexOf(b) !== -1) { found = true; break }
    return found ? Buffer.from(replace(data.toString('latin1'), binary), 'latin1') : data
  }
  // the bytes a needle holds before its last: an end of data that could start a needle ends in one
  // of them (an event stream's chunks end in a line feed, which no needle holds)
  const startsEnd = new Uint8Array(256)
  for (const b of buffers) for (let i = 0; i < b.length - 1; i++) startsEnd[b[i] as number] = 1
  /** the length of the longest end of `data` that could be the start of a needle */
  const partialTail = (data: Buffer): number => {
    if (data.length === 0 || startsEnd[data[data.length - 1] as number] === 0) return 0
    let keep = 0
    for (const b of buffers) {
      for (let k = Math.min(b.length - 1, data.length); k > keep; k--) {
        if (data[data.length - k] === b[0] && data.compare(b, 0, k, data.length - k) === 0) { keep = k; break }
      }
    }
    return keep
  }
  return {
    active: true,
    textForms: [...textForms].sort((a, b) => b.length - a.length).map((n) => Buffer.from(n).toString('latin1')),
    redact: (text) => holds(text) ? replace(text, ordered) : text,
    redactBytes: scrubBytes,
    holds,
    releasable: (text) => text.length - partialEnd(text, ordered),
    scanner () {
      let held: Buffer | undefined
      return {
        push (chunk) {
          const data = scrubBytes(held === undefined ? chunk : Buffer.concat([held, chunk]))
          const keep = partialTail(data)
          // a kept tail never holds a whole needle: replaced needles end with `]`, no needle's start
          held = keep === 0 ? undefined : Buffer.from(data.subarray(data.length - keep))
          return keep === 0 ? data : data.subarray(0, data.length - keep)
        },
        end () {
          const rest = held ?? EMPTY
          held = undefined
          return rest
        },
      }
    },
  }
}

/**
 * The length of the longest end of `text` that could be the start of one of `needles` (a secret
 * cut at a boundary). Only the places where a needle's first character occurs are compared.
 */
export function partialEnd (text: string, needles: readonly string[]): number {
  let keep = 0
  for (const n of needles) {
    let at = text.indexOf(n.charAt(0), Math.max(0, text.length - n.length + 1))
    while (at !== -1 && text.length - at > keep) {
      if (n.startsWith(text.substring(at))) { keep = text.length - at; break }
      at = text.indexOf(n.charAt(0), at + 1)
    }
  }
  return keep
}

/** `text` as a regular expression that matches it literally (no `u` flag). */
export function escapeRegExp (text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&')
}

const NONE: Redactor = {
  active: false,
  textForms: [],
  redact: (text) => text,
  redactBytes: (data) => data,
  holds: () => false,
  releasable: (text) => text.length,
  scanner: () => ({ push: (chunk) => chunk, end: () => EMPTY }),
}

/** The base64 and base64url text that any encoding of the secret contains, at offsets 0, 1 and 2. */
function base64Forms (secret: string): string[] {
  const bytes = Buffer.from(secret)
  const forms: string[] = []
  for (let shift = 0; shift < 3; shift++) {
    const padded = Buffer.concat([Buffer.alloc(shift), bytes])
    // characters that depend on the unknown bytes before the secret (the first group when shifted)
    // or after it (a last, partial group) are left out
    const start = shift === 0 ? 0 : 4
    const whole = Math.floor(padded.length / 3) * 4
    const core = padded.toString('base64').slice(start, whole)
    if (core.length < 8) continue
    forms.push(core, core.replace(/\+/g, '-').replace(/\//g, '_'))
  }
  return forms
}
