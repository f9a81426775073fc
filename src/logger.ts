import pino, { type Logger, type LevelWithSilent } from 'pino'
import type { Redactor } from './bindings/redact.js'

export type { Logger }

/** How long a log line may wait in the write buffer at low traffic. */
const FLUSH_INTERVAL_MS = 1000

/**
 * pino, JSON lines on stderr (stdout is left to the CLI's own output and to the MCP stdio
 * transport). Lines are written asynchronously in batches of 4 KiB, flushed at least every second
 * and on shutdown: a synchronous write per request line cost about 6% of the REST route's
 * throughput in the benchmark's profile.
 *
 * Credentials are never logged by design (no request headers are logged); as a second line of
 * defence every line is scrubbed of the bound secret values before it is written: an upstream
 * error message or URL holding a key cannot leak it.
 */
export function createLogger (level: LevelWithSilent, redact: Redactor | undefined, destination?: NodeJS.WritableStream): Logger {
  const stream = destination ?? bufferedStderr()
  return pino({
    level,
    base: { name: 'naftiko' },
    ...(redact === undefined ? {} : { hooks: { streamWrite: redact } }),
  }, stream as pino.DestinationStream)
}

function bufferedStderr (): pino.DestinationStream {
  const stream = pino.destination({ dest: 2, sync: false, minLength: 4096 })
  const timer = setInterval(() => stream.flush(), FLUSH_INTERVAL_MS)
  timer.unref()
  // whatever is buffered when the process ends still reaches stderr
  process.once('exit', () => {
    clearInterval(timer)
    try { stream.flushSync() } catch {}
  })
  return stream
}
