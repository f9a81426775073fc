import { ERROR_CODES, type ErrorCode } from './codes.js'

/** The one error class of the request path: a registry code, an optional `param`, a cause for the log. */
export class NaftikoError extends Error {
  readonly code: ErrorCode
  readonly status: number
  readonly param: string | null

  constructor (code: ErrorCode, message?: string, options?: { param?: string | null, cause?: unknown }) {
    super(message ?? ERROR_CODES[code].message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'NaftikoError'
    this.code = code
    this.status = ERROR_CODES[code].status
    this.param = options?.param ?? null
  }
}
