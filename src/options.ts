import { availableParallelism } from 'node:os'
import type { LevelWithSilent } from 'pino'

/** Validated, frozen settings of one runtime; the only reader of process.env besides bindings/. */
export interface RuntimeOptions {
  readonly host: string | undefined
  /** expose namespace or expose type (`rest`, `mcp`) -> port; 0 = any free port */
  readonly ports: ReadonlyMap<string, number>
  /** consumes namespace -> base URI (`--base-uri`) */
  readonly baseUris: ReadonlyMap<string, string>
  /** `NAFTIKO_BASE_URI_<NAMESPACE>` -> base URI, by the namespace's environment name (see envName) */
  readonly envBaseUris: ReadonlyMap<string, string>
  /** OpenAPI server variables of base URIs (`--server-var`, `NAFTIKO_SERVER_VAR_<NAME>`) */
  readonly serverVars: ReadonlyMap<string, string>
  readonly logLevel: LevelWithSilent
  readonly bodyLimit: number
  readonly connectTimeout: number
  readonly upstreamTimeout: number
  readonly bodyTimeout: number
  readonly shutdownTimeout: number
  /** interval of MCP progress heartbeats while a non-streaming upstream call is slow */
  readonly progressInterval: number
  /** shortest time between two MCP progress notifications of a streamed call (text coalesced) */
  readonly progressCoalesce: number
  /** largest upstream answer read whole (MCP results, mappings, error answers) */
  readonly responseLimit: number
  /** longest silence while a client sends its request body */
  readonly requestBodyTimeout: number
  /** longest time to receive a whole request (headers and body) */
  readonly requestTimeout: number
  /** open connections per listener */
  readonly maxConnections: number
  /** the listen queue of every listener (the kernel caps it at net.core.somaxconn) */
  readonly listenBacklog: number
  /** a control port (health, readiness, metrics, status) for a capability that declares none, or the port of the one it declares */
  readonly controlPort: number | undefined
  /** browser origins allowed to call an expose that is not on loopback (`Origin` checked on every request) */
  readonly allowOrigins: readonly string[]
  /** serve an expose without inbound authentication on a non-loopback address (closed by default) */
  readonly allowUnauthenticated: boolean
  /** reload a capability when its file changes (as SIGHUP does) */
  readonly watch: boolean
  /** `pretty` for people (the default on a terminal), `json` lines for machines */
  readonly logFormat: 'json' | 'pretty'
  /** processes serving the same ports (node:cluster); 1 = this process alone, no cluster */
  readonly workers: number
  readonly proxy: { httpProxy?: string, httpsProxy?: string, noProxy?: string } | undefined
  readonly env: NodeJS.ProcessEnv
}

export class UsageError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

export interface RuntimeFlags {
  host?: string
  port?: string[]
  'base-uri'?: string[]
  'server-var'?: string[]
  'log-level'?: string
  'body-limit'?: string
  'connect-timeout'?: string
  'upstream-timeout'?: string
  'body-timeout'?: string
  'shutdown-timeout'?: string
  'progress-interval'?: string
  'progress-coalesce'?: string
  'response-limit'?: string
  'request-body-timeout'?: string
  'request-timeout'?: string
  'max-connections'?: string
  'control-port'?: string
  'listen-backlog'?: string
  'allow-origin'?: string[]
  'allow-unauthenticated'?: boolean
  watch?: boolean
  'log-format'?: string
  workers?: string
}

export const DEFAULTS = {
  bodyLimit: 32 * 1024 * 1024,
  connectTimeout: 10_000,
  // a non-streamed completion of a long generation can take minutes before its headers
  upstreamTimeout: 600_000,
  // longest silence between two chunks of a streamed body
  bodyTimeout: 300_000,
  shutdownTimeout: 30_000,
  // well inside the 60 s request timeout common MCP clients use
  progressInterval: 15_000,
  // a notification per token would cost a message per event; a few per second reads as live
  progressCoalesce: 250,
  responseLimit: 32 * 1024 * 1024,
  // in the spirit of nginx's client_body_timeout (60 s)
  requestBodyTimeout: 60_000,
  // node's own default; fastify would otherwise switch it off
  requestTimeout: 300_000,
  maxConnections: 10_000,
  listenBacklog: 4096,
  logLevel: 'info' as LevelWithSilent,
}

const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])

/** Flags win over `NAFTIKO_*` environment variables, which win over the defaults. */
export function resolveOptions (flags: RuntimeFlags, env: NodeJS.ProcessEnv = process.env): RuntimeOptions {
  const pick = (flag: string | undefined, name: string): string | undefined => flag ?? nonEmpty(env[name])
  const logLevel = pick(flags['log-level'], 'NAFTIKO_LOG_LEVEL') ?? DEFAULTS.logLevel
  if (!LEVELS.has(logLevel)) throw new UsageError(`--log-level must be one of ${[...LEVELS].join(', ')}`)
  const httpProxy = nonEmpty(env.HTTP_PROXY ?? env.http_proxy)
  const httpsProxy = nonEmpty(env.HTTPS_PROXY ?? env.https_proxy)
  const noProxy = nonEmpty(env.NO_PROXY ?? env.no_proxy)
  return Object.freeze({
    host: pick(flags.host, 'NAFTIKO_HOST'),
    ports: pairs(flags.port ?? [], '--port', 'NAME=PORT', (v) => integer(v, '--port', 0, 65535)),
    baseUris: pairs(flags['base-uri'] ?? [], '--base-uri', 'NAMESPACE=URL', checkUrl),
    envBaseUris: prefixed(env, 'NAFTIKO_BASE_URI_', checkUrl),
    serverVars: new Map([...prefixed(env, 'NAFTIKO_SERVER_VAR_', (v) => v), ...pairs(flags['server-var'] ?? [], '--server-var', 'NAME=VALUE', (v) => v)].map(([k, v]) => [envName(k), v])),
    logLevel: logLevel as LevelWithSilent,
    bodyLimit: integer(pick(flags['body-limit'], 'NAFTIKO_BODY_LIMIT'), '--body-limit', 1, Number.MAX_SAFE_INTEGER) ?? DEFAULTS.bodyLimit,
    connectTimeout: integer(pick(flags['connect-timeout'], 'NAFTIKO_CONNECT_TIMEOUT'), '--connect-timeout', 1) ?? DEFAULTS.connectTimeout,
    upstreamTimeout: integer(pick(flags['upstream-timeout'], 'NAFTIKO_UPSTREAM_TIMEOUT'), '--upstream-timeout', 1) ?? DEFAULTS.upstreamTimeout,
    bodyTimeout: integer(pick(flags['body-timeout'], 'NAFTIKO_BODY_TIMEOUT'), '--body-timeout', 1) ?? DEFAULTS.bodyTimeout,
    shutdownTimeout: integer(pick(flags['shutdown-timeout'], 'NAFTIKO_SHUTDOWN_TIMEOUT'), '--shutdown-timeout', 0) ?? DEFAULTS.shutdownTimeout,
    progressInterval: integer(pick(flags['progress-interval'], 'NAFTIKO_PROGRESS_INTERVAL'), '--progress-interval', 0) ?? DEFAULTS.progressInterval,
    progressCoalesce: integer(pick(flags['progress-coalesce'], 'NAFTIKO_PROGRESS_COALESCE'), '--progress-coalesce', 0) ?? DEFAULTS.progressCoalesce,
    responseLimit: integer(pick(flags['response-limit'], 'NAFTIKO_RESPONSE_LIMIT'), '--response-limit', 1, Number.MAX_SAFE_INTEGER) ?? DEFAULTS.responseLimit,
    requestBodyTimeout: integer(pick(flags['request-body-timeout'], 'NAFTIKO_REQUEST_BODY_TIMEOUT'), '--request-body-timeout', 1) ?? DEFAULTS.requestBodyTimeout,
    requestTimeout: integer(pick(flags['request-timeout'], 'NAFTIKO_REQUEST_TIMEOUT'), '--request-timeout', 1) ?? DEFAULTS.requestTimeout,
    maxConnections: integer(pick(flags['max-connections'], 'NAFTIKO_MAX_CONNECTIONS'), '--max-connections', 1) ?? DEFAULTS.maxConnections,
    controlPort: integer(pick(flags['control-port'], 'NAFTIKO_CONTROL_PORT'), '--control-port', 0),
    listenBacklog: integer(pick(flags['listen-backlog'], 'NAFTIKO_LISTEN_BACKLOG'), '--listen-backlog', 1) ?? DEFAULTS.listenBacklog,
    allowUnauthenticated: flags['allow-unauthenticated'] === true || /^(1|true|yes)$/i.test(env.NAFTIKO_ALLOW_UNAUTHENTICATED ?? ''),
    watch: flags.watch === true || /^(1|true|yes)$/i.test(env.NAFTIKO_WATCH ?? ''),
    logFormat: logFormat(pick(flags['log-format'], 'NAFTIKO_LOG_FORMAT')),
    workers: workers(pick(flags.workers, 'NAFTIKO_WORKERS')),
    allowOrigins: [...(flags['allow-origin'] ?? nonEmpty(env.NAFTIKO_ALLOW_ORIGINS)?.split(',') ?? [])].map((o) => checkOrigin(o.trim())),
    proxy: httpProxy === undefined && httpsProxy === undefined ? undefined : { httpProxy, httpsProxy, noProxy },
    env,
  })
}

/**
 * How a name appears in an environment variable: `chat-completions` -> `CHAT_COMPLETIONS`. Used for
 * `NAFTIKO_BASE_URI_<NAMESPACE>` and `NAFTIKO_SERVER_VAR_<NAME>` (server variables match by it too).
 */
export function envName (name: string): string {
  return name.toUpperCase().replace(/[^A-Z0-9]/g, '_')
}

function prefixed<T> (env: NodeJS.ProcessEnv, prefix: string, parse: (v: string) => T): Map<string, T> {
  const map = new Map<string, T>()
  for (const [key, value] of Object.entries(env)) {
    if (key.startsWith(prefix) && value !== undefined && value !== '') map.set(key.slice(prefix.length), parse(value))
  }
  return map
}

function nonEmpty (v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v
}

function integer (raw: string | undefined, flag: string, min: number, max = 2_147_483_647): number | undefined {
  if (raw === undefined) return undefined
  if (!/^\d+$/.test(raw.trim())) throw new UsageError(`${flag} expects a whole number, got "${raw}"`)
  const n = Number(raw)
  if (n < min || n > max) throw new UsageError(`${flag} must be between ${min} and ${max}, got ${n}`)
  return n
}

function checkUrl (raw: string): string {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new UsageError(`--base-uri expects an http(s) URL, got "${raw}"`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--base-uri expects an http(s) URL, got "${raw}"`)
  return raw
}

function logFormat (raw: string | undefined): 'json' | 'pretty' {
  if (raw === undefined) return process.stderr.isTTY === true ? 'pretty' : 'json'
  if (raw !== 'json' && raw !== 'pretty') throw new UsageError(`--log-format must be json or pretty, got "${raw}"`)
  return raw
}

/** A count, or `auto`: one worker per core the process may use. */
function workers (raw: string | undefined): number {
  if (raw === undefined) return 1
  if (raw.trim() === 'auto') return availableParallelism()
  if (!/^\d+$/.test(raw.trim())) throw new UsageError(`--workers expects a whole number or auto, got "${raw}"`)
  return integer(raw, '--workers', 1, 1024) as number
}

function checkOrigin (raw: string): string {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new UsageError(`--allow-origin expects an origin like https://app.example, got "${raw}"`)
  }
  if (url.origin === 'null' || url.origin !== raw.replace(/\/$/, '')) throw new UsageError(`--allow-origin expects an origin like https://app.example (scheme, host and port only), got "${raw}"`)
  return url.origin
}

function pairs<T> (items: string[], flag: string, shape: string, parse: (v: string) => T | undefined): Map<string, T> {
  const map = new Map<string, T>()
  for (const item of items) {
    const eq = item.indexOf('=')
    if (eq <= 0) throw new UsageError(`${flag} expects ${shape}, got "${item}"`)
    const value = parse(item.slice(eq + 1))
    if (value !== undefined) map.set(item.slice(0, eq), value)
  }
  return map
}
