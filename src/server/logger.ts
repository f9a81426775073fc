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
 * transport). Lines are written asynchronously in batches of 16 KiB, flushed at least every second
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
  const stream = pino.destination({ dest: 2, sync: false, ...(fields === undefined ? { minLength: 4096 } : { minLength: PIPE_BUF - 1, maxWrite: PIPE_BUF }) })
  // the processes of --workers keep sonic-boom's own batching, which never puts more than PIPE_BUF
  // bytes of lines in one write
  const batch = fields === undefined ? new LineBatch(stream, redactor) : undefined
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

/** About how many characters of lines go to sonic-boom in one write. */
const BATCH = 16384

/**
 * Lines gathered into one sonic-boom write: sonic-boom measures the byte length of its whole pending
 * buffer at each write, which cost about 6 µs a line (one request's line); gathered, about 2. The
 * redactor scrubs the batch, not each line: one pass over the joined text instead of a pass (and a
 * flattening of the line's string) per line. No secret's form spans a line's end (`}` then a line
 * feed, which a JSON line holds only at its end).
 */
export class LineBatch {
  private parts: string[] = []
  private size = 0

  constructor (private readonly stream: { write (text: string): boolean }, private readonly redactor: Redactor) {}

  write (line: string): void {
    this.parts.push(line)
    this.size += line.length
    if (this.size >= BATCH) this.flush()
  }

  flush (): void {
    if (this.size === 0) return
    const text = this.parts.length === 1 ? this.parts[0] as string : this.parts.join('')
    this.parts = []
    this.size = 0
    this.stream.write(this.redactor.redact(text))
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
 * that a change of level applies at once.
 */
export function flatLine (logger: Logger): FlatLine {
  const time = internal<() => string>(logger, timeSym)
  const bindings = internal<string>(logger, chindingsSym)
  const hook = internal<{ streamWrite?: (line: string) => string }>(logger, hooksSym).streamWrite
  const stream = internal<{ write (line: string): unknown }>(logger, streamSym)
  return (fields, msg) => {
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
}

/**
 * A number as JSON text; a duration in hundredths of a millisecond (the request line's `ms`) is
 * written from integers: formatting a fraction as text costs about three times as much.
 */
function numberText (value: number): string {
  if (Number.isInteger(value)) return `${value}`
  const hundredths = Math.round(value * 100)
  // anything but a whole number of hundredths (not finite, finer, negative, large) as JavaScript writes it
  if (hundredths / 100 !== value || hundredths < 0 || hundredths > 0x3fffffff) return Number.isFinite(value) ? `${value}` : 'null'
  const whole = Math.floor(hundredths / 100)
  const rest = hundredths - whole * 100
  return rest % 10 === 0 ? `${whole}.${rest / 10}` : `${whole}.${rest < 10 ? '0' : ''}${rest}`
}

/**
 * `JSON.stringify(text)` for a string: a short printable ASCII one (a method, a route, an id) needs
 * only its quotes, which a look at its characters finds in about half of `JSON.stringify`'s time.
 */
function quote (text: string): string {
  if (text.length > 64) return JSON.stringify(text)
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0x7e) return JSON.stringify(text)
  }
  return `"${text}"`
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
