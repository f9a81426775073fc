import type { Diagnostic } from '../capability/diagnostics.js'

/**
 * Why a runtime could not start, by code (like the request-time registry in codes.ts). Every
 * startup failure is one of these: the CLI prints its diagnostics (`file:line:col: message`) or its
 * message, and exits 1. Codes are never renamed once shipped.
 */
export const STARTUP_CODES = {
  capability_invalid: 'the capability has errors',
  capability_not_runnable: 'the file is not a runnable capability',
  file_unreadable: 'the file cannot be read',
  binding_unresolved: 'a bound variable has no value',
  listen_failed: 'an expose cannot listen on its address',
  exposure_refused: 'an expose would serve strangers with the gateway\'s credentials',
  capabilities_clash: 'two capabilities of one process declare the same namespace or port',
  reload_refused: 'the running gateway cannot take this change without a restart',
  worker_failed: 'a worker process (--workers) could not start or kept exiting',
} as const

export type StartupCode = keyof typeof STARTUP_CODES

export class StartupError extends Error {
  readonly code: StartupCode
  readonly diagnostics: readonly Diagnostic[]

  constructor (code: StartupCode, message: string | undefined, diagnostics: readonly Diagnostic[] = [], options?: { cause?: unknown }) {
    super(message ?? STARTUP_CODES[code], options)
    this.name = 'StartupError'
    this.code = code
    this.diagnostics = diagnostics
  }
}

/** A refused reload, told the same way wherever it was asked for (SIGHUP, --watch, POST /config/reload). */
export function reloadRefusal (err: unknown): { message: string, diagnostics: readonly Diagnostic[], code: string | undefined, log: string } {
  const diagnostics = err instanceof StartupError ? err.diagnostics : []
  const message = diagnostics.length > 0 ? 'the capability has errors' : (err as Error).message
  return { message, diagnostics, code: (err as { code?: string }).code, log: `reload refused: ${message.split('\n')[0] ?? ''}; the running configuration stays` }
}
