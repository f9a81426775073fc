import { existsSync } from 'node:fs'
import { stat } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { readCapability } from './capability/read-capability.js'
import { formatDiagnostic, type Diagnostic } from './capability/diagnostics.js'
import { reloadRefusal, StartupError } from './errors/startup-error.js'
import { capabilitiesIn, expandFileArguments } from './capability/find-capabilities.js'
import { resolveOptions, UsageError, DEFAULTS, type RuntimeOptions } from './options.js'
import type { Runtime } from './runtime.js'
import { watchFiles } from './server/watch-files.js'
import type { Logger } from './server/logger.js'
import { VERSION } from './version.js'

const HELP = `naftiko: run a Naftiko capability file as a REST and MCP gateway

Usage:
  naftiko run FILE|DIR... [options]   serve the capabilities' exposes (several files, or every capability in a directory, in one process)
  naftiko validate [--strict] PATH... check capabilities (files, directories, globs); exit 0 when all can run, 1 when one cannot
  naftiko --help | --version

Options for run (flags win over the NAFTIKO_* environment variables):
  --host HOST                  bind every expose to HOST (default: the expose's address, else 127.0.0.1)   NAFTIKO_HOST
  --port NAME=PORT             port of the expose with namespace or type NAME; 0 = any free port (repeatable)
  --base-uri NAMESPACE=URL     replace the base URI of a consumed namespace (repeatable)   NAFTIKO_BASE_URI_<NAMESPACE>
  --server-var NAME=VALUE      fill an OpenAPI server variable {NAME} of a base URI (repeatable)   NAFTIKO_SERVER_VAR_<NAME>
  --log-level LEVEL            fatal|error|warn|info|debug|trace|silent (default ${DEFAULTS.logLevel})   NAFTIKO_LOG_LEVEL
  --body-limit BYTES           largest request body (default ${DEFAULTS.bodyLimit})   NAFTIKO_BODY_LIMIT
  --connect-timeout MS         upstream connect timeout (default ${DEFAULTS.connectTimeout})   NAFTIKO_CONNECT_TIMEOUT
  --upstream-timeout MS        time until the upstream's response headers (default ${DEFAULTS.upstreamTimeout})   NAFTIKO_UPSTREAM_TIMEOUT
  --body-timeout MS            longest silence inside an upstream body or stream (default ${DEFAULTS.bodyTimeout})   NAFTIKO_BODY_TIMEOUT
  --shutdown-timeout MS        how long SIGTERM waits for in-flight requests (default ${DEFAULTS.shutdownTimeout})   NAFTIKO_SHUTDOWN_TIMEOUT
  --progress-interval MS       MCP progress heartbeat while an upstream call is slow; 0 = off (default ${DEFAULTS.progressInterval})   NAFTIKO_PROGRESS_INTERVAL
  --progress-coalesce MS       shortest time between two MCP progress notifications of a stream (default ${DEFAULTS.progressCoalesce})   NAFTIKO_PROGRESS_COALESCE
  --response-limit BYTES       largest upstream answer read whole: MCP results, mappings, error answers (default ${DEFAULTS.responseLimit})   NAFTIKO_RESPONSE_LIMIT
  --request-body-timeout MS    longest silence while a client sends its body (default ${DEFAULTS.requestBodyTimeout})   NAFTIKO_REQUEST_BODY_TIMEOUT
  --request-timeout MS         longest time to receive a whole request (default ${DEFAULTS.requestTimeout})   NAFTIKO_REQUEST_TIMEOUT
  --max-connections N          open connections per listener (default ${DEFAULTS.maxConnections})   NAFTIKO_MAX_CONNECTIONS
  --control-port PORT          health, readiness, Prometheus metrics and status on loopback (0: a free port)   NAFTIKO_CONTROL_PORT
  --listen-backlog N           connections the kernel queues per listener (default ${DEFAULTS.listenBacklog}; capped by net.core.somaxconn)   NAFTIKO_LISTEN_BACKLOG
  --allow-origin ORIGIN        a browser origin allowed on a non-loopback expose (repeatable)   NAFTIKO_ALLOW_ORIGINS (comma-separated)
  --allow-unauthenticated      serve an expose without inbound authentication on a non-loopback address   NAFTIKO_ALLOW_UNAUTHENTICATED=1
  --watch                      reload a capability when its file changes (SIGHUP reloads them all)   NAFTIKO_WATCH=1
  --log-format json|pretty     log lines as JSON, or readable (default: pretty on a terminal, else json)   NAFTIKO_LOG_FORMAT
  --workers N|auto             processes serving the same ports; auto = one per available core (default 1)   NAFTIKO_WORKERS
  -q, --quiet                  print only the listening addresses, no startup summary

Options for validate:
  --strict                     also apply the official alpha2 JSON Schema
  --official-schema PATH       where that schema is (default: NAFTIKO_OFFICIAL_SCHEMA, else ../shared/naftiko/schemas/v1.0.0-alpha2/naftiko-schema.json)

Upstream calls honour HTTP_PROXY, HTTPS_PROXY and NO_PROXY.
`

async function main (argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
      strict: { type: 'boolean' },
      'official-schema': { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string', multiple: true },
      'base-uri': { type: 'string', multiple: true },
      'server-var': { type: 'string', multiple: true },
      'log-level': { type: 'string' },
      'body-limit': { type: 'string' },
      'connect-timeout': { type: 'string' },
      'upstream-timeout': { type: 'string' },
      'body-timeout': { type: 'string' },
      'shutdown-timeout': { type: 'string' },
      'progress-interval': { type: 'string' },
      'progress-coalesce': { type: 'string' },
      'response-limit': { type: 'string' },
      'request-body-timeout': { type: 'string' },
      'request-timeout': { type: 'string' },
      'max-connections': { type: 'string' },
      'control-port': { type: 'string' },
      'listen-backlog': { type: 'string' },
      'allow-origin': { type: 'string', multiple: true },
      'allow-unauthenticated': { type: 'boolean' },
      watch: { type: 'boolean' },
      'log-format': { type: 'string' },
      workers: { type: 'string' },
      quiet: { type: 'boolean', short: 'q' },
    },
  })
  if (values.version === true) { process.stdout.write(`${VERSION}\n`); return 0 }
  const [command, file, ...extra] = positionals
  if (values.help === true || command === undefined || command === 'help') { process.stdout.write(HELP); return command === undefined && values.help !== true ? 2 : 0 }
  if (command === 'validate') {
    if (file === undefined) throw new UsageError('validate expects one or more FILEs, directories or globs')
    const official = values.strict === true ? officialSchemaPath(values['official-schema']) : undefined
    const started = performance.now()
    const files = await expandFileArguments([file, ...extra])
    const verdicts = { valid: 0, warnings: 0, errors: 0 }
    for (const each of files) verdicts[await validate(each, official)]++
    process.stdout.write(`naftiko: ${files.length} file(s) checked in ${Math.round(performance.now() - started)} ms: ${verdicts.valid} valid, ${verdicts.warnings} valid with warnings, ${verdicts.errors} with errors\n`)
    return verdicts.errors > 0 ? 1 : 0
  }
  if (command === 'run') {
    if (file === undefined) throw new UsageError('run expects one or more capability FILEs or directories')
    let targets: string[]
    try {
      targets = await capabilitiesToRun([file, ...extra])
    } catch (err) {
      if (!(err instanceof StartupError)) throw err
      process.stderr.write(`naftiko: ${err.message}\n`)
      return 1
    }
    return run(targets, values)
  }
  throw new UsageError(`unknown command "${command}"`)
}

function officialSchemaPath (flag: string | undefined): string {
  const candidates = [flag, process.env.NAFTIKO_OFFICIAL_SCHEMA, new URL('../../shared/naftiko/schemas/v1.0.0-alpha2/naftiko-schema.json', import.meta.url).pathname]
  for (const candidate of candidates) if (candidate !== undefined && candidate !== '' && existsSync(candidate)) return candidate
  throw new UsageError('--strict needs the official alpha2 schema: pass --official-schema PATH or set NAFTIKO_OFFICIAL_SCHEMA')
}

async function validate (file: string, officialSchema: string | undefined): Promise<'valid' | 'warnings' | 'errors'> {
  let read
  try {
    read = await readCapability(file, { officialSchema })
  } catch (err) {
    if (!(err instanceof StartupError)) throw err
    process.stderr.write(`naftiko: ${err.message}\n`)
    return 'errors'
  }
  printDiagnostics(read.diagnostics)
  const errors = read.diagnostics.filter((d) => d.severity === 'error').length
  const what = read.kind === 'shared-consumes' ? ' shared consumes document (imported by capabilities, not run on its own)' : ''
  process.stdout.write(read.ok ? `${file}: valid${what}${officialSchema === undefined ? '' : ' (strict)'}\n` : `${file}: ${errors} error(s)\n`)
  if (!read.ok) return 'errors'
  return read.diagnostics.length > 0 ? 'warnings' : 'valid'
}

/** `run a.yaml DIR`: the files as named, and every capability a directory holds (none is a sentence). */
async function capabilitiesToRun (args: readonly string[]): Promise<string[]> {
  const files: string[] = []
  for (const arg of args) {
    const info = await stat(arg).catch(() => undefined)
    if (info?.isDirectory() !== true) { files.push(arg); continue }
    const found = await capabilitiesIn(arg)
    if (found.length === 0) throw new StartupError('capability_not_runnable', `${arg} is a directory with no capability file in it (a YAML file with \`naftiko:\` and \`capability:\` at its root)`)
    files.push(...found)
  }
  return [...new Set(files)]
}

async function run (files: readonly string[], flags: Record<string, unknown>): Promise<number> {
  const options = resolveOptions(flags)
  const quiet = flags.quiet === true
  // --workers N: this process forks the workers (the primary), or is one of them
  const worker = options.workers > 1 ? await import('./workers/worker.js') : undefined
  if (worker?.inWorker() === false) return runPrimary(files, options, quiet)
  try {
    return await serveRuntimes(files, options, quiet, worker)
  } finally {
    // a worker leaves the cluster however it ends, or its channel to the primary keeps it alive
    worker?.leavePrimary()
  }
}

async function serveRuntimes (files: readonly string[], options: RuntimeOptions, quiet: boolean, worker: typeof import('./workers/worker.js') | undefined): Promise<number> {
  // loaded here, not at the top: --help, --version and validate need none of the servers
  const { startRuntimes, reloadRuntimes } = await import('./run-capabilities.js')
  let runtimes: Runtime[]
  try {
    runtimes = await startRuntimes(files, options, undefined, worker === undefined ? 'alone' : 'worker')
  } catch (err) {
    return reportStartupError(err)
  }
  const runtime = { get logger () { return (runtimes[0] as Runtime).logger }, stdio: runtimes.some((r) => r.stdio), close: async () => { await Promise.all(runtimes.map((r) => r.close())) } }
  // a worker's addresses are the primary's to print, once for all workers (a worker logs its reloads)
  const out = worker !== undefined ? undefined : runtime.stdio ? process.stderr : process.stdout
  const stopReloading = reloadOnChange(runtimes, options, out, async (only) => {
    await reloadRuntimes(runtimes, options, only)
    worker?.reportReload(runtimes)
  })
  const serving = serveUntilStopped(runtime, worker === undefined ? undefined : (drain) => worker.joinPrimary(runtimes, drain))
  // the summary last: whoever reads it may signal or edit the file at once, and is heard
  if (worker === undefined) printStartup(runtimes, quiet)
  try {
    return await serving
  } finally {
    stopReloading()
  }
}

/**
 * SIGHUP reloads every capability, --watch the one whose file changed (a worker of --workers N gets
 * SIGHUP from its primary). A refused change is printed and logged, and the running configuration
 * stays. Returns what stops it.
 */
function reloadOnChange (runtimes: readonly Runtime[], options: RuntimeOptions, out: NodeJS.WritableStream | undefined, reloadRuntimes: (only?: string) => Promise<void>): () => void {
  let reloads = Promise.resolve()
  const reload = (reason: string, only?: string): void => {
    reloads = reloads.then(async () => {
      try {
        await reloadRuntimes(only)
        for (const r of runtimes) {
          if (out === undefined || (only !== undefined && r.file !== only)) continue
          out.write(`naftiko: reloaded ${r.file} (${reason})\n`)
          for (const a of r.addresses) out.write(listeningLine(a))
        }
      } catch (err) {
        const refusal = reloadRefusal(err)
        printDiagnostics(refusal.diagnostics)
        process.stderr.write(`naftiko: reload refused (${reason}): ${refusal.message}; the running configuration stays\n`)
        ;(runtimes[0] as Runtime).logger.error({ reason, code: refusal.code }, refusal.log)
      }
    })
  }
  const unwatch = options.watch ? watchFiles(runtimes.map((r) => r.file), (file) => reload('file changed', file)) : undefined
  const onHangup = (): void => reload('SIGHUP')
  process.on('SIGHUP', onHangup)
  return () => {
    unwatch?.()
    process.off('SIGHUP', onHangup)
  }
}

async function runPrimary (files: readonly string[], options: RuntimeOptions, quiet: boolean): Promise<number> {
  const { startPrimary } = await import('./workers/primary.js')
  let primary
  let print = (): void => {}
  try {
    primary = await startPrimary(files, options, process.argv.slice(2), (runtimes) => {
      print = () => {
        printStartup(runtimes, quiet)
        if (!quiet) process.stdout.write(`naftiko: ${options.workers} worker processes share these ports (--workers)\n`)
      }
    })
  } catch (err) {
    return reportStartupError(err)
  }
  const serving = serveUntilStopped(primary)
  // printed once the signals are handled: whoever reads the addresses may signal at once
  print()
  return await serving
}

function reportStartupError (err: unknown): number {
  if (!(err instanceof StartupError)) throw err
  if (err.diagnostics.length > 0) printDiagnostics(err.diagnostics)
  else process.stderr.write(`naftiko: ${err.message.split('\n').join('\nnaftiko: ')}\n`)
  return 1
}

/** The line that says where an expose listens (tests and supervisors read it). */
function listeningLine (a: { type: string, namespace: string, url: string }): string {
  return `naftiko: ${a.type} ${a.namespace} listening on ${a.url}\n`
}

function printStartup (runtimes: ReadonlyArray<Pick<Runtime, 'warnings' | 'addresses' | 'upstreams'> & { stdio?: boolean }>, quiet: boolean): void {
  // with an MCP stdio expose, stdout belongs to the protocol
  const out = runtimes.some((r) => r.stdio === true) ? process.stderr : process.stdout
  for (const runtime of runtimes) {
    printDiagnostics(runtime.warnings)
    for (const a of runtime.addresses) {
      out.write(listeningLine(a))
      if (!quiet) for (const line of a.summary) out.write(`  ${line}\n`)
    }
    if (!quiet) for (const line of runtime.upstreams) out.write(`naftiko: ${line}\n`)
  }
}

interface Serving {
  readonly logger: Logger
  readonly stdio: boolean
  close (): Promise<void>
  /** the primary of --workers N ends on its own when its workers keep exiting */
  readonly gaveUp?: Promise<number>
  /** the primary of --workers N, at a second signal */
  killWorkers? (): void
}

/**
 * Serves until SIGTERM or SIGINT, then drains; resolves with the exit code. `join` hands a worker of
 * --workers N the drain its primary may ask for: that request is not a signal, so a signal after it
 * (Ctrl-C reaches every process of the terminal) still drains instead of exiting at once.
 */
function serveUntilStopped (runtime: Serving, join?: (drain: (reason: string) => void) => void): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false
    let signalled = false
    const drain = (reason: string): void => {
      if (stopping) return
      stopping = true
      runtime.logger.info({ signal: reason }, 'shutting down: no new connections, waiting for in-flight requests')
      runtime.close().then(() => resolve(0), (err: unknown) => {
        runtime.logger.error({ err }, 'shutdown failed')
        resolve(1)
      })
    }
    const stop = (signal: string): void => {
      if (signalled) {
        // a second signal: stop now, with the conventional code of death by that signal
        process.stderr.write(`naftiko: ${signal} again, exiting now\n`)
        runtime.killWorkers?.()
        process.exit(128 + (signal === 'SIGINT' ? 2 : 15))
      }
      signalled = true
      drain(signal)
    }
    process.on('SIGTERM', () => stop('SIGTERM'))
    process.on('SIGINT', () => stop('SIGINT'))
    // an MCP stdio client that closes its end is done with the gateway
    if (runtime.stdio) process.stdin.once('end', () => { if (!stopping) stop('stdin closed') })
    void runtime.gaveUp?.then(resolve)
    join?.(drain)
  })
}

function printDiagnostics (diagnostics: readonly Diagnostic[]): void {
  for (const d of diagnostics) process.stderr.write(formatDiagnostic(d) + '\n')
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code
}, (err: unknown) => {
  if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true) {
    process.stderr.write(`naftiko: ${(err as Error).message}\nRun naftiko --help for usage.\n`)
    process.exitCode = 2
    return
  }
  // a fault of the runtime itself: say so in one line; the stack only when asked for
  const debug = /^(debug|trace)$/.test(process.env.NAFTIKO_LOG_LEVEL ?? '') || process.argv.includes('debug') || process.argv.includes('trace')
  process.stderr.write(`naftiko: internal error: ${(err as Error).message ?? String(err)}${debug ? `\n${(err as Error).stack ?? ''}` : ' (run with --log-level debug for details)'}\n`)
  process.exitCode = 1
})
