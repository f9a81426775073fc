import pino, { type Logger, type LevelWithSilent } from 'pino'
import type { Redactor } from './bindings/redact.js'

export type { Logger }

/**
 * pino, JSON lines on stderr (stdout is left to the CLI's own output and to the MCP stdio
 * transport). Credentials are never logged by design (no request headers are logged); as a second
 * line of defence every line is scrubbed of the bound secret values before it is written: an
 * upstream error message or URL holding a key cannot leak it.
 */
export function createLogger (level: LevelWithSilent, redact: Redactor | undefined, destination: NodeJS.WritableStream = process.stderr): Logger {
  return pino({
    level,
    base: { name: 'naftiko' },
    redact: {
      paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'headers.cookie', '*.apiKey', '*.token', '*.password'],
      censor: '[redacted]',
    },
    ...(redact === undefined ? {} : { hooks: { streamWrite: redact } }),
  }, destination as pino.DestinationStream)
}
