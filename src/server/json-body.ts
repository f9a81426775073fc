import { NaftikoError } from '../errors/naftiko-error.js'

/** Deeper JSON is refused: serialising or walking it would exhaust the stack (a client error, not a crash). */
export const MAX_JSON_DEPTH = 512

// a body needs at least two bytes per level to be too deep: smaller ones skip the scan
const SCAN_FROM = MAX_JSON_DEPTH * 2

/**
 * Parses a JSON request body (REST and MCP alike). A body that does not parse, or that nests deeper
 * than MAX_JSON_DEPTH, is `invalid_json`, never an internal error later on.
 */
export function parseJsonBody (raw: Buffer): unknown {
  if (raw.length >= SCAN_FROM && nestingDepth(raw) > MAX_JSON_DEPTH) {
    throw new NaftikoError('invalid_json', `The request body nests deeper than ${MAX_JSON_DEPTH} levels.`)
  }
  try {
    return JSON.parse(raw.toString('utf8'))
  } catch (err) {
    throw new NaftikoError('invalid_json', 'The request body is not valid JSON.', { cause: err })
  }
}

/** The deepest `[`/`{` nesting of JSON text, strings skipped; one pass over the bytes. */
function nestingDepth (raw: Buffer): number {
  let depth = 0
  let max = 0
  let inString = false
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]
    if (inString) {
      if (c === 0x5c) i++ // backslash: skip the escaped byte
      else if (c === 0x22) inString = false
    } else if (c === 0x22) {
      inString = true
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) max = depth
      if (max > MAX_JSON_DEPTH) return max
    } else if (c === 0x5d || c === 0x7d) {
      depth--
    }
  }
  return max
}
