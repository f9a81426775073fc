import { Writable } from 'node:stream'
import pino, { type Logger, type LevelWithSilent } from 'pino'
import type { Redactor } from '../bindings/redact.js'

export type { Logger }

/** Linux's limit of an atomic write to a pipe. */
const PIPE_BUF = 4096

/** How long a log line may wait in the write buffer at low traffic. */
const FLUSH_INTERVAL_MS = 1000

export interface RuntimeLogger {
  readonly logger: Logger
  /** Writes what is buffered and stops the flush timer. */
  close (): void
}

/**
 * pino, JSON lines on stderr (stdout is left to the CLI's own output and to the MCP stdio
 * transport). Lines are written asynchronously in batches of 64 KiB, flushed at least every second
 * and on close or exit: a synchronous write per request line cost about 6% of the REST route's
 * throughput in the benchmark's profile.
 *
 * Credentials are never logged by design (no request headers are logged); as a second line of
 * defence every line is scrubbed of the bound secret values before it is written: an upstream
 * error message or URL holding a key cannot leak it.
 *
 * `fields` go on every line: the processes of `--workers N` add their pid. Those processes share
 * stderr, so each of them writes whole lines in chunks of at most PIPE_BUF bytes, which the kernel
 * writes to a pipe without interleaving another process's chunk.
 */
export function createLogger (level: LevelWithSilent, redactor: Redactor, destination?: NodeJS.WritableStream, format: 'json' | 'pretty' = 'json', fields?: Record<string, unknown>): RuntimeLogger {
  const base = { name: 'naftiko', ...fields }
  const hooks = redactor.active ? { hooks: { streamWrite: (line: string) => redactor.redact(line) } } : {}
  if (destination !== undefined || format === 'pretty') {
    const out = destination ?? prettyStderr()
    return { logger: pino({ level, base, ...hooks }, out as pino.DestinationStream), close: () => {} }
  }
  // the processes of --workers keep sonic-boom's own batching, which never puts more than PIPE_BUF
  // bytes of lines in one write; a single process writes the batches' bytes
  const stream = pino.destination({ dest: 2, sync: false, ...(fields === undefined ? { minLength: 4096, contentMode: 'buffer' } : { minLength: PIPE_BUF - 1, maxWrite: PIPE_BUF }) })
  const batch = fields === undefined ? new LineBatch(stream as unknown as { write (bytes: Buffer): boolean }, redactor) : undefined
  const flush = (): void => {
    batch?.flush()
    try { stream.flushSync() } catch {}
  }
  const timer = setInterval(() => {
    batch?.flush()
    stream.flush()
  }, FLUSH_INTERVAL_MS)
  timer.unref()
  // whatever is buffered when the process ends still reaches stderr
  process.once('exit', flush)
  return {
    // a batch is scrubbed as a whole when it is written
    logger: pino({ level, base, ...(batch === undefined ? hooks : {}) }, batch ?? stream),
    close () {
      clearInterval(timer)
      process.off('exit', flush)
      flush()
    },
  }
}

/** About how many bytes of lines go to sonic-boom in one write (a write runs on libuv's thread pool). */
const BATCH = 65536
/** A batch's buffer: a line starts below BATCH, so the room for it is never less than BATCH. */
const CAPACITY = 2 * BATCH

/**
 * Lines gathered as UTF-8 into one sonic-boom write: sonic-boom measures the byte length of its whole
 * pending text at each write, which cost about 6 µs a line (one request's line); gathered, about 2.
 * The redactor scrubs the batch's bytes, not each line. No secret's form spans a line's end (`}`
 * then a line feed, which a JSON line holds only at its end). A flat line (`flatLine`) is written
 * into the batch's bytes directly; any other line comes as text.
 */
export class LineBatch {
  /** the lines gathered, from 0 to `used` */
  bytes = Buffer.allocUnsafe(CAPACITY)
  used = 0

  constructor (private readonly stream: { write (bytes: Buffer): boolean }, private readonly redactor: Redactor) {}

  write (line: string): void {
    // a character is at most three bytes of UTF-8 (a pair of surrogates, two characters, four)
    if (this.used + line.length * 3 > CAPACITY) {
      this.flush()
      if (line.length * 3 > CAPACITY) {
        this.stream.write(this.redactor.redactBytes(Buffer.from(line)))
        return
      }
    }
    this.wrote(this.used + this.bytes.write(line, this.used))
  }

  /** A line was written into `bytes` from `used` to `end`. */
  wrote (end: number): void {
    this.used = end
    if (end >= BATCH) this.flush()
  }

  flush (): void {
    if (this.used === 0) return
    const lines = this.bytes.subarray(0, this.used)
    // sonic-boom holds on to the bytes until they are written: the next lines go to a fresh buffer
    this.bytes = Buffer.allocUnsafe(CAPACITY)
    this.used = 0
    this.stream.write(this.redactor.redactBytes(lines))
  }
}

const { chindingsSym, streamSym, timeSym, hooksSym } = pino.symbols
/** What a pino logger keeps under its symbols: its bindings, destination, time and hooks. */
function internal<T> (logger: Logger, symbol: symbol): T {
  return (logger as unknown as Record<symbol, T>)[symbol] as T
}

/** Fields of one line, flat: a string, a number, null, or undefined (left out). */
export type FlatFields = Record<string, string | number | null | undefined>

/** Writes one info line of flat fields. */
export type FlatLine = (fields: FlatFields, msg: string) => void

/**
 * A logger's writer of info lines of flat fields, built once per logger (an expose's request log):
 * the same JSON line `logger.info(fields, msg)` writes (its bindings, time and write hook), built
 * directly. The request line is the one line of every request: pino's general serialiser cost about
 * 3 µs of a REST request's 75 (bench/profile.mjs rest), and reading the logger's internals per line
 * (a child logger's symbols, looked up megamorphically) showed in the profile too. Keys are plain
 * names; a number that is not finite is written null, as pino does. The level is asked per line, so
 * that a change of level applies at once. Into the gateway's own batch (`LineBatch`) the line is
 * written as bytes: built as text, its pieces were joined and copied twice more on their way.
 */
export function flatLine (logger: Logger): FlatLine {
  const time = internal<() => string>(logger, timeSym)
  const bindings = internal<string>(logger, chindingsSym)
  const hook = internal<{ streamWrite?: (line: string) => string }>(logger, hooksSym).streamWrite
  const stream = internal<{ write (line: string): unknown }>(logger, streamSym)
  const asText: FlatLine = (fields, msg) => {
    if (!logger.isLevelEnabled('info')) return
    let line = `{"level":30${time.call(logger)}${bindings}`
    for (const key in fields) {
      const value = fields[key]
      if (value === undefined) continue
      line += `,"${key}":${typeof value === 'string' ? quote(value) : value === null ? 'null' : numberText(value)}`
    }
    line += `,"msg":${quote(msg)}}\n`
    stream.write(hook === undefined ? line : hook(line))
  }
  if (!(stream instanceof LineBatch) || hook !== undefined || time !== pino.stdTimeFunctions.epochTime) return asText
  return asBytes(logger, stream, bindings, asText)
}

/** The most bytes a key's value is written with by `asBytes` without a check of the room left. */
const VALUE_ROOM = 80
const NULL = Buffer.from('null')

/** `flatLine` into a batch's bytes; a line that does not fit in the room left goes as text. */
function asBytes (logger: Logger, batch: LineBatch, bindings: string, asText: FlatLine): FlatLine {
  const head = Buffer.from('{"level":30,"time":')
  const bound = Buffer.from(bindings)
  /** `,"key":` and `,"msg":"text"}` and a line feed, as bytes, for the keys and messages seen */
  const keys = new Map<string, Buffer>()
  const ends = new Map<string, Buffer>()
  return (fields, msg) => {
    if (!logger.isLevelEnabled('info')) return
    const out = batch.bytes
    let at = copy(out, batch.used, head)
    at = writeWhole(out, at, Date.now())
    at = copy(out, at, bound)
    for (const key in fields) {
      const value = fields[key]
      if (value === undefined) continue
      const name = keys.get(key) ?? remember(keys, key, `,"${key}":`)
      if (at + name.length + VALUE_ROOM > out.length) return asText(fields, msg)
      at = copy(out, at, name)
      at = typeof value === 'string' ? writeString(out, at, value) : value === null ? copy(out, at, NULL) : writeNumber(out, at, value)
      if (at === -1) return asText(fields, msg)
    }
    const end = ends.get(msg) ?? remember(ends, msg, `,"msg":${quote(msg)}}\n`)
    if (at + end.length > out.length) return asText(fields, msg)
    batch.wrote(copy(out, at, end))
  }
}

/** The bytes of `text`, kept in `cache` while it is small (keys and messages come from call sites). */
function remember (cache: Map<string, Buffer>, key: string, text: string): Buffer {
  const bytes = Buffer.from(text)
  if (cache.size < 64) cache.set(key, bytes)
  return bytes
}

function copy (out: Buffer, at: number, bytes: Buffer): number {
  out.set(bytes, at)
  return at + bytes.length
}

/** `quote(text)` as bytes; -1 when its JSON text might not fit in the room left. */
function writeString (out: Buffer, at: number, text: string): number {
  if (text.length <= SHORT_TEXT) {
    let i = 0
    for (; i < text.length; i++) {
      const c = text.charCodeAt(i)
      if (!quotesAsIs(c)) break
      out[at + 1 + i] = c
    }
    if (i === text.length) {
      out[at] = 0x22
      out[at + 1 + i] = 0x22
      return at + 2 + i
    }
  }
  const json = JSON.stringify(text)
  if (at + json.length * 3 > out.length) return -1
  return at + out.write(json, at)
}

/** `numberText(value)` as bytes. */
function writeNumber (out: Buffer, at: number, value: number): number {
  if (Number.isSafeInteger(value) && value >= 0) return writeWhole(out, at, value)
  const hundredths = hundredthsOf(value)
  if (hundredths === -1) return at + out.write(numberText(value), at, 'latin1')
  const whole = Math.floor(hundredths / 100)
  const rest = hundredths - whole * 100
  at = writeWhole(out, at, whole)
  out[at++] = 0x2e
  out[at++] = 0x30 + Math.floor(rest / 10)
  if (rest % 10 !== 0) out[at++] = 0x30 + rest % 10
  return at
}

/** The digits of a safe integer from 0. */
function writeWhole (out: Buffer, at: number, value: number): number {
  let end = at + 1
  for (let next = 10; next <= value; next *= 10) end++
  for (let i = end - 1; i >= at; i--) {
    const tenth = Math.floor(value / 10)
    out[i] = 0x30 + (value - tenth * 10)
    value = tenth
  }
  return end
}

/**
 * A number as JSON text; a duration in hundredths of a millisecond (the request line's `ms`) is
 * written from integers: formatting a fraction as text costs about three times as much.
 */
function numberText (value: number): string {
  if (Number.isInteger(value)) return `${value}`
  const hundredths = hundredthsOf(value)
  if (hundredths === -1) return Number.isFinite(value) ? `${value}` : 'null'
  const whole = Math.floor(hundredths / 100)
  const rest = hundredths - whole * 100
  return rest % 10 === 0 ? `${whole}.${rest / 10}` : `${whole}.${rest < 10 ? '0' : ''}${rest}`
}

/**
 * A fraction that is a whole number of hundredths, from 0 to about 10 million, as that number; -1
 * for anything else (not finite, finer, negative, large), which is written as JavaScript writes it.
 */
function hundredthsOf (value: number): number {
  const hundredths = Math.round(value * 100)
  return hundredths / 100 !== value || hundredths < 0 || hundredths > 0x3fffffff ? -1 : hundredths
}

/** the longest string `quote` looks at before leaving it to `JSON.stringify` */
const SHORT_TEXT = 64

/**
 * `JSON.stringify(text)` for a string: a short printable ASCII one (a method, a route, an id) needs
 * only its quotes, which a look at its characters finds in about half of `JSON.stringify`'s time.
 */
function quote (text: string): string {
  if (text.length > SHORT_TEXT) return JSON.stringify(text)
  for (let i = 0; i < text.length; i++) if (!quotesAsIs(text.charCodeAt(i))) return JSON.stringify(text)
  return `"${text}"`
}

/** A printable ASCII character other than `"` and `\\`: JSON text holds it as it is. */
function quotesAsIs (c: number): boolean {
  return c >= 0x20 && c !== 0x22 && c !== 0x5c && c <= 0x7e
}

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' }

/** For a person at a terminal: `12:03:04.567 INFO  request method=POST status=200 ms=1.2`. */
function prettyStderr (): NodeJS.WritableStream {
  return new Writable({
    write (chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line === '') continue
        let entry: Record<string, unknown>
        try {
          entry = JSON.parse(line) as Record<string, unknown>
        } catch {
          process.stderr.write(line + '\n')
          continue
        }
        const { time, level, msg, name: _name, pid: _pid, hostname: _host, ...fields } = entry
        const when = new Date(typeof time === 'number' ? time : Date.now()).toISOString().slice(11, 23)
        const rest = Object.entries(fields).filter(([, v]) => v !== undefined && v !== null)
          .map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join(' ')
        process.stderr.write(`${when} ${LEVELS[level as number] ?? String(level)} ${String(msg ?? '')}${rest === '' ? '' : ' ' + rest}\n`)
      }
      done()
    },
  })
}
