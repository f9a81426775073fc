import type { Readable } from 'node:stream'
import { NaftikoError } from '../errors/naftiko-error.js'
import { JsonShape } from './json-shape.js'

/** A JSON request body as read, and the verdict on its shape when it was looked at on the way in. */
export interface ReadJsonBody {
  readonly raw: Buffer
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
 * reached; a body shorter than its Content-Length refused) and one difference that matters for
 * large bodies: a declared length is read into one buffer of that length as the chunks arrive, and
 * within the sizes of `limits.shape` each chunk is looked at for its JSON shape right then, while it
 * is in the CPU's cache. Nothing is walked or copied a second time at the end. A body without a declared
 * length (chunked) is gathered and joined, and its shape is left to the caller.
 */
export function readJsonBody (payload: Readable, contentLength: string | undefined, limits: ReadLimits): Promise<ReadJsonBody> {
  return new Promise((resolve, reject) => {
    const length = Number(contentLength)
    const declared = contentLength !== undefined && Number.isSafeInteger(length) ? length : undefined
    if (declared !== undefined && declared > limits.limit) return reject(tooLarge())
    const whole = declared === undefined ? undefined : Buffer.allocUnsafe(declared)
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
      if (received + bytes.length > (whole?.length ?? limits.limit)) {
        return stop(whole === undefined ? tooLarge() : new NaftikoError('invalid_request', 'The request body is longer than its Content-Length.'))
      }
      if (whole === undefined) pieces.push(bytes)
      else bytes.copy(whole, received)
      shape?.push(bytes)
      received += bytes.length
    }
    const onEnd = (): void => {
      stop()
      if (whole !== undefined && received !== whole.length) return reject(new NaftikoError('invalid_request', 'The request body is shorter than its Content-Length.'))
      resolve({ raw: whole ?? Buffer.concat(pieces, received), shape: shape?.end() })
    }
    const onError = (err: Error): void => stop(new NaftikoError('invalid_request', 'The request body could not be read.', { cause: err }))
    payload.on('data', onData)
    payload.on('end', onEnd)
    payload.on('error', onError)
    payload.resume()
  })
}

function tooLarge (): NaftikoError {
  return new NaftikoError('body_too_large', 'The request body exceeds the size limit.')
}
