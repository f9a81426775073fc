import { ERROR_CODES, type ErrorCode } from './codes.js'
import { NaftikoError } from './naftiko-error.js'

export interface ErrorEnvelope {
  error: { message: string, type: string, param: string | null, code: string }
}

/**
 * Foreign errors are recognised by their `code`, never by message text (STYLE.md). Anything not
 * listed is an internal error whose details go to the log only.
 */
const FOREIGN_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_BODY_TOO_LARGE: 'body_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_request',
  FST_ERR_BAD_URL: 'invalid_request',
  FST_ERR_ASYNC_CONSTRAINT: 'invalid_request',
  UND_ERR_CONNECT_TIMEOUT: 'upstream_timeout',
  UND_ERR_HEADERS_TIMEOUT: 'upstream_timeout',
  UND_ERR_BODY_TIMEOUT: 'upstream_timeout',
  UND_ERR_SOCKET: 'upstream_unreachable',
  UND_ERR_CLOSED: 'upstream_unreachable',
  UND_ERR_DESTROYED: 'upstream_unreachable',
  UND_ERR_INVALID_ARG: 'internal_error',
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: 'upstream_invalid_response',
  UND_ERR_RES_EXCEEDED_MAX_SIZE: 'upstream_response_too_large',
  ECONNREFUSED: 'upstream_unreachable',
  ECONNRESET: 'upstream_unreachable',
  ENOTFOUND: 'upstream_unreachable',
  EAI_AGAIN: 'upstream_unreachable',
  EHOSTUNREACH: 'upstream_unreachable',
  ENETUNREACH: 'upstream_unreachable',
  EPIPE: 'upstream_unreachable',
  ETIMEDOUT: 'upstream_timeout',
  ERR_TLS_CERT_ALTNAME_INVALID: 'upstream_unreachable',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'upstream_unreachable',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'upstream_unreachable',
}

/** Maps any error to the registry code it stands for. */
export function errorCodeOf (err: unknown): ErrorCode {
  if (err instanceof NaftikoError) return err.code
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code === 'string' && Object.hasOwn(FOREIGN_CODES, code)) return FOREIGN_CODES[code] as ErrorCode
  // an upstream answer that is not HTTP: undici's HTTPParserError (its `code` is llhttp's, when set)
  if ((typeof code === 'string' && code.startsWith('HPE_')) || (err as { name?: unknown } | null)?.name === 'HTTPParserError') return 'upstream_invalid_response'
  // fastify reports body-limit and parse failures with a statusCode and its own code
  const statusCode = (err as { statusCode?: unknown } | null)?.statusCode
  if (statusCode === 413) return 'body_too_large'
  return 'internal_error'
}

/**
 * The one function every exit uses to turn an error into a status and an OpenAI-style envelope.
 * Only messages the gateway wrote reach the client: a foreign error's text stays in the log.
 */
export function toErrorResponse (err: unknown): { status: number, body: ErrorEnvelope } {
  const code = errorCodeOf(err)
  const entry = ERROR_CODES[code]
  const own = err instanceof NaftikoError
  return {
    status: entry.status,
    body: {
      error: {
        message: own ? err.message : entry.message,
        type: entry.type,
        param: own ? err.param : null,
        code,
      },
    },
  }
}
