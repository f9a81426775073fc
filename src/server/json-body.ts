import { Worker } from 'node:worker_threads'
import { NaftikoError } from '../errors/naftiko-error.js'
import { edgeByte, JsonBody } from '../expressions/call-context.js'
import { checkJson } from './json-check.js'
import { jsonShape } from './json-shape.js'
import { joinPieces } from './read-json-body.js'

/** Deeper JSON is refused: serialising or walking it would exhaust the stack (a client error, not a crash). */
export const MAX_JSON_DEPTH = 512

/**
 * From this size a body is checked (and an MCP message taken apart) on a worker thread, so that one
 * large body never stalls the other requests. Measured on this project's 2-core machine: key-heavy
 * JSON parses at about 60 ms per MiB (5 ms at 74 KiB, 15 ms at 257 KiB); the worker hop costs a few
 * tenths of a millisecond.
 */
export const WORKER_FROM = 64 * 1024

/**
 * The most steps the quick shape check of a large REST body (`jsonShape`) takes on this thread,
 * about 5 ms: a body of long strings (a conversation) needs a few per string; one of many small
 * tokens that needs more is checked in full on the worker instead.
 */
export const SHAPE_BUDGET = 2 * 1024 * 1024

/**
 * Up to this size a large REST body that goes upstream as received gets the shape check; a larger
 * one is looked at only at its ends (an object or array, opened and closed). The check costs about
 * 0.1 ms per MiB of conversation, under a tenth of what relaying the body costs, for a body the upstream
 * parses anyway; the upstream judges the larger ones.
 */
export const SHAPE_UP_TO = 4 * 1024 * 1024

// a body needs at least two bytes per level to be too deep: smaller ones skip the scan
const SCAN_FROM = MAX_JSON_DEPTH * 2

/**
 * Parses a small JSON request body on this thread. A body that does not parse, or that nests
 * deeper than MAX_JSON_DEPTH, is `invalid_json`, never an internal error later on.
 */
export function parseJsonBody (raw: Buffer): unknown {
  if (raw.length >= SCAN_FROM && nestingDepth(raw) > MAX_JSON_DEPTH) throw tooDeep()
  try {
    return JSON.parse(raw.toString('utf8'))
  } catch (err) {
    throw notJson(err)
  }
}

/** An object or an array, opened and closed: what is seen of a body above SHAPE_UP_TO (its pieces as they came). */
function framed (pieces: readonly Buffer[]): 'plausible' | 'check' {
  const open = edgeByte(pieces, 1)
  return (open === 0x7b || open === 0x5b) && edgeByte(pieces, -1) === open + 2 ? 'plausible' : 'check'
}

function notJson (cause?: unknown): NaftikoError {
  return new NaftikoError('invalid_json', 'The request body is not valid JSON.', cause === undefined ? undefined : { cause })
}

function tooDeep (): NaftikoError {
  return new NaftikoError('invalid_json', `The request body nests deeper than ${MAX_JSON_DEPTH} levels.`)
}

/** The deepest `[`/`{` nesting of JSON text, strings skipped; one pass over the bytes. */
function nestingDepth (raw: Uint8Array): number {
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

/**
 * The worker: checks depth and syntax; for an MCP message, sends back the envelope with every large
 * tool argument replaced by its JSON text, so that the main thread never parses (nor later
 * serialises) a large value: it goes upstream as the bytes the client sent.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads')
const MAX_JSON_DEPTH = ${MAX_JSON_DEPTH}
const LARGE = ${WORKER_FROM / 4}
${nestingDepth.toString()}
parentPort.on('message', ({ id, bytes, mode }) => {
  const raw = new Uint8Array(bytes)
  if (nestingDepth(raw) > MAX_JSON_DEPTH) return parentPort.postMessage({ id, error: 'deep' })
  let value
  try {
    value = JSON.parse(Buffer.from(raw.buffer, raw.byteOffset, raw.length).toString('utf8'))
  } catch {
    return parentPort.postMessage({ id, error: 'syntax' })
  }
  if (mode !== 'message') return parentPort.postMessage({ id })
  const args = value && value.method === 'tools/call' && value.params && value.params.arguments
  const raws = {}
  if (args !== null && typeof args === 'object' && !Array.isArray(args)) {
    for (const key of Object.keys(args)) {
      const text = JSON.stringify(args[key])
      if (text !== undefined && text.length >= LARGE) { raws[key] = text; args[key] = null }
    }
  }
  parentPort.postMessage({ id, value, raws })
})
`

interface Reply { id: number, error?: 'deep' | 'syntax', value?: unknown, raws?: Record<string, string> }

/** One worker thread per runtime, started on the first large body; closed with the runtime. */
export class JsonBodyReader {
  private worker: Worker | undefined
  private next = 0
  private readonly waiting = new Map<number, { resolve: (r: Reply) => void, reject: (err: unknown) => void }>()

  /**
   * A REST body, parsed here only if something reads it. A small one is checked in full here, without
   * building its value (`checkJson`: about half the time of `JSON.parse`, and nothing to collect). A
   * large one is checked for its shape (balanced, not too deep) here when that is quick, which is
   * enough for bytes that go upstream as they are, and else checked in full off this thread.
   * A small body is answered (or refused, by a throw) at once, not through a promise: the callers
   * are promise callbacks, and a promise returned there costs the request two more turns.
   */
  body (pieces: readonly Buffer[], length: number, shape?: 'plausible' | 'check'): JsonBody | Promise<JsonBody> {
    if (length < WORKER_FROM) {
      const raw = joinPieces(pieces, length)
      const verdict = checkJson(raw, MAX_JSON_DEPTH)
      if (verdict === 'deep') throw tooDeep()
      if (verdict === 'syntax') throw notJson()
      return new JsonBody(raw)
    }
    return this.largeBody(pieces, length, shape)
  }

  private async largeBody (pieces: readonly Buffer[], length: number, shape?: 'plausible' | 'check'): Promise<JsonBody> {
    const body = new JsonBody(pieces)
    shape ??= length > SHAPE_UP_TO ? framed(pieces) : jsonShape(body.raw, MAX_JSON_DEPTH, SHAPE_BUDGET)
    if (shape === 'check') this.check(await this.ask(body.raw, 'body'))
    return body
  }

  /** An MCP message: taken apart off this thread when large; a tool call's large arguments stay JSON text. */
  message (raw: Buffer): unknown {
    return raw.length < WORKER_FROM ? parseJsonBody(raw) : this.largeMessage(raw)
  }

  private async largeMessage (raw: Buffer): Promise<unknown> {
    const reply = this.check(await this.ask(raw, 'message'))
    const value = reply.value as { params?: { arguments?: Record<string, unknown> } } | undefined
    const args = value?.params?.arguments
    if (args !== undefined) for (const [key, text] of Object.entries(reply.raws ?? {})) args[key] = new JsonBody(Buffer.from(text))
    return value
  }

  close (): Promise<number> | undefined {
    for (const { reject } of this.waiting.values()) reject(new NaftikoError('internal_error', 'The gateway is shutting down.'))
    this.waiting.clear()
    return this.worker?.terminate()
  }

  private check (reply: Reply): Reply {
    if (reply.error === 'deep') throw tooDeep()
    if (reply.error === 'syntax') throw notJson()
    return reply
  }

  private ask (raw: Buffer, mode: 'body' | 'message'): Promise<Reply> {
    const worker = this.worker ??= this.start()
    const id = this.next++
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject })
      // a copy: the request's buffer may be pooled memory the worker must not hold
      const bytes = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length) as ArrayBuffer
      worker.postMessage({ id, bytes, mode }, [bytes])
    })
  }

  private start (): Worker {
    const worker = new Worker(WORKER_SOURCE, { eval: true })
    worker.unref()
    worker.on('message', (reply: Reply) => {
      const waiter = this.waiting.get(reply.id)
      this.waiting.delete(reply.id)
      waiter?.resolve(reply)
    })
    worker.on('error', (err) => {
      for (const { reject } of this.waiting.values()) reject(err)
      this.waiting.clear()
      this.worker = undefined
    })
    return worker
  }
}
