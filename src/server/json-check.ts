/**
 * Whether bytes are one JSON text (RFC 8259), checked in one pass without building anything: what
 * `JSON.parse` accepts, decided for a body that goes upstream as received and is never read here.
 * Bytes from 0x80 up are taken as they are inside strings, as `JSON.parse` of the UTF-8 decoding
 * takes them (an invalid sequence decodes to U+FFFD and never swallows an ASCII byte).
 *
 * `deep`: the text nests deeper than `maxDepth`, which the caller refuses like a syntax error.
 */
export function checkJson (bytes: Uint8Array, maxDepth: number): 'ok' | 'syntax' | 'deep' {
  const n = bytes.length
  // per open container: 1 an object, 0 an array
  if (open.length < maxDepth) open = new Uint8Array(maxDepth)
  const objects = open
  let depth = 0
  let i = skipSpace(bytes, 0)
  // expecting a value (true) or what follows one (false)
  let wantValue = true
  while (i < n) {
    const c = bytes[i] as number
    if (wantValue) {
      if (c === QUOTE) {
        i = endOfString(bytes, i + 1)
      } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
        if (depth === maxDepth) return 'deep'
        objects[depth++] = c === OPEN_OBJECT ? 1 : 0
        i = skipSpace(bytes, i + 1)
        const next = bytes[i]
        const close = c === OPEN_OBJECT ? CLOSE_OBJECT : CLOSE_ARRAY
        if (next === close) {
          depth--
          i++
        } else if (c === OPEN_ARRAY) {
          continue
        } else {
          // an object's first member
          if (next !== QUOTE) return 'syntax'
          i = key(bytes, i)
          if (i < 0) return 'syntax'
          continue
        }
      } else if (c === MINUS || (c >= ZERO && c <= NINE)) {
        i = endOfNumber(bytes, i)
      } else if (c === 0x74) {
        i = literal(bytes, i, TRUE)
      } else if (c === 0x66) {
        i = literal(bytes, i, FALSE)
      } else if (c === 0x6e) {
        i = literal(bytes, i, NULL)
      } else {
        return 'syntax'
      }
      if (i < 0) return 'syntax'
      wantValue = false
      i = skipSpace(bytes, i)
      continue
    }
    // after a value: the end of the text, a comma or the close of the innermost container
    if (depth === 0) return 'syntax'
    const inObject = objects[depth - 1] === 1
    if (c === COMMA) {
      i = skipSpace(bytes, i + 1)
      if (inObject) {
        if (bytes[i] !== QUOTE) return 'syntax'
        i = key(bytes, i)
        if (i < 0) return 'syntax'
      }
      wantValue = true
    } else if (c === (inObject ? CLOSE_OBJECT : CLOSE_ARRAY)) {
      depth--
      i = skipSpace(bytes, i + 1)
    } else {
      return 'syntax'
    }
  }
  return !wantValue && depth === 0 ? 'ok' : 'syntax'
}

/** the kinds of the open containers (the check runs to its end without yielding: one array serves every call) */
let open = new Uint8Array(0)

const QUOTE = 0x22
const BACKSLASH = 0x5c
const COMMA = 0x2c
const COLON = 0x3a
const MINUS = 0x2d
const ZERO = 0x30
const NINE = 0x39
const OPEN_OBJECT = 0x7b
const CLOSE_OBJECT = 0x7d
const OPEN_ARRAY = 0x5b
const CLOSE_ARRAY = 0x5d
const TRUE = Buffer.from('true')
const FALSE = Buffer.from('false')
const NULL = Buffer.from('null')

/** A key at `at` (its opening quote), the colon after it and the space after that: where its value starts, or -1. */
function key (bytes: Uint8Array, at: number): number {
  let i = endOfString(bytes, at + 1)
  if (i < 0) return -1
  i = skipSpace(bytes, i)
  if (bytes[i] !== COLON) return -1
  return skipSpace(bytes, i + 1)
}

function skipSpace (bytes: Uint8Array, from: number): number {
  let i = from
  for (;;) {
    const c = bytes[i]
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return i
    i++
  }
}

/** Past the closing quote of a string whose contents start at `from`, or -1. */
function endOfString (bytes: Uint8Array, from: number): number {
  const n = bytes.length
  let i = from
  while (i < n) {
    // the bytes that stand for themselves, in one tight loop
    while (i < n && PLAIN[bytes[i] as number] === 1) i++
    const c = bytes[i]
    if (c === QUOTE) return i + 1
    if (c !== BACKSLASH) return -1
    const e = bytes[i + 1]
    if (e === 0x75) {
      for (let k = i + 2; k < i + 6; k++) if (!isHex(bytes[k])) return -1
      i += 6
    } else if (e !== undefined && ESCAPED[e] === 1) {
      i += 2
    } else {
      return -1
    }
  }
  return -1
}

/** the bytes a string holds as they are: all but the quote, the backslash and control characters */
const PLAIN = (() => {
  const table = new Uint8Array(256).fill(1, 0x20)
  table[QUOTE] = 0
  table[BACKSLASH] = 0
  return table
})()

/** the bytes a backslash escapes besides `u`: " \ / b f n r t */
const ESCAPED = (() => {
  const table = new Uint8Array(256)
  for (const ch of '"\\/bfnrt') table[ch.charCodeAt(0)] = 1
  return table
})()

function isHex (c: number | undefined): boolean {
  return c !== undefined && ((c >= ZERO && c <= NINE) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46))
}

/** Past a number at `at` (`-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`), or -1. */
function endOfNumber (bytes: Uint8Array, at: number): number {
  let i = at
  if (bytes[i] === MINUS) i++
  if (bytes[i] === ZERO) {
    i++
  } else {
    const start = i
    i = digits(bytes, i)
    if (i === start) return -1
  }
  if (bytes[i] === 0x2e) {
    const start = ++i
    i = digits(bytes, i)
    if (i === start) return -1
  }
  const e = bytes[i]
  if (e === 0x65 || e === 0x45) {
    i++
    if (bytes[i] === 0x2b || bytes[i] === MINUS) i++
    const start = i
    i = digits(bytes, i)
    if (i === start) return -1
  }
  return i
}

function digits (bytes: Uint8Array, from: number): number {
  let i = from
  for (;;) {
    const c = bytes[i]
    if (c === undefined || c < ZERO || c > NINE) return i
    i++
  }
}

/** Past the literal `word` at `at`, or -1. */
function literal (bytes: Uint8Array, at: number, word: Uint8Array): number {
  for (let k = 0; k < word.length; k++) if (bytes[at + k] !== word[k]) return -1
  return at + word.length
}
