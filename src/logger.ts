import pino, { type Logger, type LevelWithSilent } from 'pino'

export type { Logger }

/**
 * pino, JSON lines on stderr (stdout is left to the CLI's own output and to the MCP stdio
 * transport). Credentials are never logged by design (no request headers are logged); as a second
 * line of defence every line is scrubbed of the bound secret values, in plain and JSON-escaped
 * form, before it is written: an upstream error message or URL holding a key cannot leak it.
 */
export function createLogger (level: LevelWithSilent, secrets: readonly string[], destination: NodeJS.WritableStream = process.stderr): Logger {
  const needles = secretNeedles(secrets)
  return pino({
    level,
    base: { name: 'naftiko' },
    redact: {
      paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'headers.cookie', '*.apiKey', '*.token', '*.password'],
      censor: '[redacted]',
    },
    ...(needles.length === 0
      ? {}
      : {
          hooks: {
            streamWrite (line: string): string {
              let out = line
              for (const needle of needles) if (out.includes(needle)) out = out.split(needle).join('[redacted]')
              return out
            },
          },
        }),
  }, destination as pino.DestinationStream)
}

function secretNeedles (secrets: readonly string[]): string[] {
  const needles = new Set<string>()
  for (const secret of secrets) {
    // very short values would blank out ordinary words; they are not plausible credentials
    if (secret.length < 4) continue
    needles.add(secret)
    needles.add(JSON.stringify(secret).slice(1, -1))
    needles.add(encodeURIComponent(secret))
    needles.add(Buffer.from(secret).toString('base64'))
  }
  // longest first, so a secret containing another is replaced whole
  return [...needles].sort((a, b) => b.length - a.length)
}
