import type { Readable } from 'node:stream'
import { NaftikoError } from '../errors/naftiko-error.js'
import { JsonShape } from './json-shape.js'

/** A JSON request body as read, and the verdict on its shape when it was looked at on the way in. */
export interface ReadJsonBody {
  /** the chunks as they arrived: a large body goes upstream as them, never joined */
  readonly pieces: readonly Buffer[]
  readonly length: number
  /** set for a body of a declared length within `ReadLimits.shape` (see `JsonShape`) */
  readonly shape: 'plausible' | 'check' | undefined
}

export interface ReadLimits {
  /** the largest body; a larger one is refused (413) before or while it is read */
  readonly limit: number
  /** between these declared lengths, each chunk is looked at for its JSON shape as it arrives */
  readonly shape?: { readonly from: number, readonly upTo: number, readonly maxDepth: number }
}

/**
 * Reads a request body whole, with the rules of fastify's own reader (the size limit, declared or
 * reached; a body shorter or longer than its Content-Length refused) and two differences that matter
 * for large bodies: the chunks are kept as they arrived (nothing is copied: a 10 MiB body joined into
 * one buffer cost a copy and, more, the garbage collections its allocation set off), and within the
 * sizes of `limits.shape` each chunk is looked at for its JSON shape right then, while it is in the
 * CPU's cache. A body without a declared length (chunked) is not looked at: its shape is the caller's.
 */
export function readJsonBody (payload: Readable, contentLength: string | undefined, limits: ReadLimits): Promise<ReadJsonBody> {
  return new Promise((resolve, reject) => {
    const length = Number(contentLength)
    const declared = contentLength !== undefined && Number.isSafeInteger(length) ? length : undefined
    if (declared !== undefined && declared > limits.limit) return reject(tooLarge())
    const most = declared ?? limits.limit
    const scan = limits.shape
    const shape = scan !== undefined && declared !== undefined && declared >= scan.from && declared <= scan.upTo ? new JsonShape(scan.maxDepth) : undefined
    const pieces: Buffer[] = []
    let received = 0
    const stop = (err?: unknown): void => {
      payload.off('data', onData)
      payload.off('end', onEnd)
      payload.off('error', onError)
      if (err !== undefined) reject(err)
    }
    const onData = (chunk: Buffer | string): void => {
      const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
      if (received + bytes.length > most) {
        return stop(declared === undefined ? tooLarge() : new NaftikoError('invalid_request', 'The request body is longer than its Content-Length.'))
      }
      pieces.push(bytes)
      shape?.push(bytes)
      received += bytes.length
    }
    const onEnd = (): void => {
      stop()
      if (declared !== undefined && received !== declared) return reject(new NaftikoError('invalid_request', 'The request body is shorter than its Content-Length.'))
      resolve({ pieces, length: received, shape: shape?.end() })
    }
    const onError = (err: Error): void => stop(new NaftikoError('invalid_request', 'The request body could not be read.', { cause: err }))
    payload.on('data', onData)
    payload.on('end', onEnd)
    payload.on('error', onError)
    payload.resume()
  })
}

/** Pieces in one buffer (a single piece as it is). */
export function joinPieces (pieces: readonly Buffer[], length: number): Buffer {
  return pieces.length === 1 ? pieces[0] as Buffer : Buffer.concat(pieces, length)
}

function tooLarge (): NaftikoError {
  return new NaftikoError('body_too_large', 'The request body exceeds the size limit.')
}
