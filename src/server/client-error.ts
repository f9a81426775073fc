import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import { toErrorResponse } from '../errors/envelope.js'
import { NaftikoError } from '../errors/naftiko-error.js'
import type { ErrorCode } from '../errors/codes.js'

/** Node's HTTP parser errors, by code (llhttp `HPE_*`). */
const PARSER_CODES: Record<string, ErrorCode> = {
  HPE_HEADER_OVERFLOW: 'headers_too_large',
  ERR_HTTP_REQUEST_TIMEOUT: 'request_timeout',
}

/**
 * Requests node's HTTP parser refuses (oversized headers, malformed request lines) never reach a
 * route: they still get the OpenAI-style envelope, then the connection closes.
 */
export function answerClientError (err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy()
    return
  }
  const code = (err.code !== undefined && Object.hasOwn(PARSER_CODES, err.code) ? PARSER_CODES[err.code] : undefined) ?? 'invalid_request'
  const { status, body } = toErrorResponse(new NaftikoError(code))
  const text = JSON.stringify(body)
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`)
}
