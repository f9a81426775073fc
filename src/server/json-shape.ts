/**
 * A quick look at the shape of a large JSON body that goes upstream as received, without building
 * anything: one container at the top, brackets balanced and matched, nesting within the limit,
 * strings closed, nothing but whitespace after the end, and no byte outside a string that JSON
 * never has there. String contents are skipped with `indexOf` (native, memchr speed), so a body of
 * long strings (a conversation) costs a few microseconds per MiB.
 *
 * `plausible` is not a full check: a misplaced comma or a control character inside a string
 * passes, and the upstream judges those. `check` means the quick look cannot vouch for the body:
 * it breaks one of the rules above, or it has so many small tokens that walking it here would hold
 * the event loop (more than `budget` steps); the caller then checks it in full, off this thread.
 */
export function jsonShape (raw: Uint8Array, maxDepth: number, budget: number): 'plausible' | 'check' {
  const n = raw.length
  let i = skipSpace(raw, 0, budget)
  const first = raw[i]
  if (first !== OPEN_OBJECT && first !== OPEN_ARRAY) return 'check'
  const open = stack.length > maxDepth ? stack : (stack = new Uint8Array(maxDepth + 1))
  let depth = 0
  let steps = 0
  const buffer = Buffer.from(raw.buffer, raw.byteOffset, n)
  while (i < n) {
    if (++steps > budget) return 'check'
    const c = raw[i] as number
    if (c === QUOTE) {
      // a quote ends the string unless an odd run of backslashes escapes it; a short string is
      // walked here, a longer one searched natively (a call costs about as much as 64 bytes walked)
      let end = i
      for (;;) {
        const from = ++end
        const near = Math.min(n, from + NEAR)
        while (end < near && raw[end] !== QUOTE) end++
        if (end === near) {
          end = buffer.indexOf(QUOTE, end)
          if (end === -1) return 'check'
          steps += NEAR * 2
        } else {
          steps += end - from
        }
        let slashes = 0
        while (raw[end - 1 - slashes] === BACKSLASH) slashes++
        steps += slashes
        if (slashes % 2 === 0) break
      }
      i = end + 1
      continue
    }
    const kind = BYTE_KIND[c]
    if (kind === OPENS) {
      if (depth === maxDepth) return 'check'
      open[depth++] = c
    } else if (kind === CLOSES) {
      if (depth === 0 || open[--depth] !== c - 2) return 'check' // `]` and `}` are their opener + 2
      if (depth === 0) return skipSpace(raw, i + 1, budget - steps) === n ? 'plausible' : 'check'
    } else if (kind === INVALID) {
      return 'check'
    }
    i++
  }
  return 'check'
}

const QUOTE = 0x22
/** bytes of a string walked before searching for its end natively */
const NEAR = 32
const BACKSLASH = 0x5c
const OPEN_OBJECT = 0x7b
const OPEN_ARRAY = 0x5b
let stack = new Uint8Array(0)

const INVALID = 0
const TOKEN = 1
const OPENS = 2
const CLOSES = 3
/** What each byte can be outside a string: whitespace, punctuation, a number's or a literal's letters. */
const BYTE_KIND = (() => {
  const kinds = new Uint8Array(256)
  for (const ch of ' \t\r\n,:0123456789+-.eEtrufalsn') kinds[ch.charCodeAt(0)] = TOKEN
  kinds[OPEN_OBJECT] = OPENS
  kinds[OPEN_ARRAY] = OPENS
  kinds[0x7d] = CLOSES
  kinds[0x5d] = CLOSES
  return kinds
})()

/** The index of the first byte from `from` that is not whitespace; -1 past `budget` bytes. */
function skipSpace (raw: Uint8Array, from: number, budget: number): number {
  const end = Math.min(raw.length, from + Math.max(budget, 0))
  let i = from
  while (i < end && (raw[i] === 0x20 || raw[i] === 0x0a || raw[i] === 0x0d || raw[i] === 0x09)) i++
  return i === end && end < raw.length ? -1 : i
}
