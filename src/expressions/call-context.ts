import { NaftikoError } from '../errors/naftiko-error.js'
import type { TraceContext } from './trace-context.js'
/**
 * What a compiled request reads per call. `inputs` are the calling adapter's inputs (REST: path,
 * query, header, JSON body field; MCP: tool arguments), looked up by normalized name
 * (`normalizeName`). `args` are the values the exposed operation's `with` computed for the
 * consumed operation's parameters, also by normalized name.
 */
export interface CallInputs {
  get (normalizedName: string): unknown
  /** The whole request body (REST) or the `body` argument (MCP); `undefined` when there is none. */
  readonly body: unknown
  /** Inside an orchestration: the outputs of the steps done so far, by step name. */
  readonly steps?: Readonly<Record<string, unknown>>
  /** the caller's W3C trace context, which upstream calls join */
  readonly trace?: TraceContext | undefined
  /** what the request's upstream calls report to; absent when nothing watches (no metrics, no spans) */
  readonly watch?: UpstreamWatch | undefined
}

/**
 * Watches one request's upstream calls: the upstream duration metric and, when spans are exported,
 * a CLIENT span per call.
 */
export interface UpstreamWatch {
  /**
   * An upstream call leaves (`origin` + `path`, the path with its query). Returns the trace headers it
   * carries (undefined: the caller's context decides) and what to call once the upstream's response
   * headers arrive (`status`) or the call fails (`error`).
   */
  call (method: string, origin: string, path: string): WatchedCall
}

export interface WatchedCall {
  readonly headers: Record<string, string> | undefined
  done (status: number | undefined, error?: unknown): void
}

export interface CallContext {
  readonly inputs: CallInputs
  readonly args: ReadonlyMap<string, unknown>
}

const UNPARSED = Symbol('unparsed')

/**
 * A JSON request body (or a large MCP argument) kept as received: when it goes upstream unchanged,
 * its bytes are forwarded untouched (no re-serialisation); `value` is the parsed form for lookups,
 * parsed on first use when the body arrived not parsed (a large body, checked in full or for its
 * shape only: a syntax error found then is `invalid_json` too).
 */
export class JsonBody {
  private parsed: unknown
  private whole: Buffer | undefined
  /** the body as it arrived: one buffer, or the chunks of a large body */
  readonly pieces: readonly Buffer[]
  readonly length: number

  constructor (bytes: Buffer | readonly Buffer[], value: unknown = UNPARSED) {
    this.parsed = value
    if (Buffer.isBuffer(bytes)) {
      this.whole = bytes
      this.pieces = [bytes]
      this.length = bytes.length
    } else {
      this.pieces = bytes
      this.length = bytes.reduce((n, piece) => n + piece.length, 0)
      this.whole = bytes.length === 1 ? bytes[0] : undefined
    }
  }

  /** The body in one buffer (the pieces joined on first use). */
  get raw (): Buffer {
    this.whole ??= Buffer.concat(this.pieces, this.length)
    return this.whole
  }

  /** What goes upstream: one buffer, or the pieces as they arrived (a large body is never joined for that). */
  get bytes (): Buffer | readonly Buffer[] {
    return this.whole ?? this.pieces
  }

  get value (): unknown {
    if (this.parsed === UNPARSED) {
      try {
        this.parsed = JSON.parse(this.raw.toString('utf8'))
      } catch (err) {
        throw new NaftikoError('invalid_json', 'The request body is not valid JSON.', { cause: err })
      }
    }
    return this.parsed
  }

  /** The JSON type of the value, read from its first byte (no parse). */
  get jsonType (): 'object' | 'array' | 'string' | 'number' | 'boolean' | 'null' {
    switch (edgeByte(this.pieces, 1)) {
      case -1: return 'null'
      case 0x7b: return 'object'
      case 0x5b: return 'array'
      case 0x22: return 'string'
      case 0x74: case 0x66: return 'boolean'
      case 0x6e: return 'null'
      default: return 'number'
    }
  }
}

/** The first (`step` 1) or last (-1) byte of pieces that is not JSON whitespace; -1 if there is none. */
export function edgeByte (pieces: readonly Buffer[], step: 1 | -1): number {
  for (let p = step === 1 ? 0 : pieces.length - 1; p >= 0 && p < pieces.length; p += step) {
    const piece = pieces[p] as Buffer
    for (let i = step === 1 ? 0 : piece.length - 1; i >= 0 && i < piece.length; i += step) {
      const byte = piece[i] as number
      if (byte !== 0x20 && byte !== 0x0a && byte !== 0x0d && byte !== 0x09) return byte
    }
  }
  return -1
}

/** The plain value of an input, whatever form it arrived in. */
export function plainValue (value: unknown): unknown {
  if (value instanceof JsonBody) return value.value
  return value
}
