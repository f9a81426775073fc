import { ERROR_CODES } from '../errors/codes.js'

/**
 * What an upstream event stream promises, decided once from its first bytes (not from a URL): an
 * OpenAI chat or completion stream ends with `data: [DONE]`; a Responses API stream ends with a
 * `response.completed`, `response.failed` or `response.incomplete` event; any other stream ends when
 * the upstream ends it. A stream that ends short of its promise was broken off, and the client gets
 * an error event in the stream's own shape.
 */
export interface StreamFormat {
  /** sees every chunk as it passes; cheap: a few byte searches */
  observe (chunk: Buffer): void
  /** whether the stream ended as its format promises */
  complete (): boolean
  /** the event that tells a client the stream was broken off */
  errorEvent (): string
}

const CHAT_MARKERS = [Buffer.from('.chunk"'), Buffer.from('text_completion')]
const RESPONSES_MARKER = Buffer.from('response.')
const RESPONSES_TERMINALS = [Buffer.from('response.completed'), Buffer.from('response.failed'), Buffer.from('response.incomplete')]
const DONE_TEXT = 'data: [DONE]'

const broken = ERROR_CODES.upstream_stream_broken
/** the OpenAI error envelope of a broken stream */
const BROKEN_ENVELOPE = JSON.stringify({ error: { message: broken.message, type: broken.type, param: null, code: 'upstream_stream_broken' } })

/** The first chunk of a stream decides its format. */
export function detectStreamFormat (first: Buffer): StreamFormat {
  if (CHAT_MARKERS.some((m) => first.indexOf(m) !== -1)) return new ChatStream()
  if (first.indexOf(RESPONSES_MARKER) !== -1) return new ResponsesStream()
  return OTHER
}

/**
 * Chat chunks: the terminator may span two chunks. Per chunk only two references move: work per
 * chunk delays the next read, and a delayed read makes the kernel hand over several upstream events
 * at once (coalescing at high concurrency).
 */
class ChatStream implements StreamFormat {
  private previous: Buffer | undefined
  private last: Buffer | undefined

  observe (chunk: Buffer): void {
    this.previous = this.last
    this.last = chunk
  }

  complete (): boolean {
    const { previous, last } = this
    if (last === undefined) return false
    const tail = previous === undefined ? last : Buffer.concat([previous.subarray(-DONE_TEXT.length - 8), last])
    return tail.toString('latin1').trimEnd().endsWith(DONE_TEXT)
  }

  errorEvent (): string {
    return `\n\ndata: ${BROKEN_ENVELOPE}\n\n`
  }
}

class ResponsesStream implements StreamFormat {
  private ended = false

  observe (chunk: Buffer): void {
    if (!this.ended) this.ended = RESPONSES_TERMINALS.some((t) => chunk.indexOf(t) !== -1)
  }

  complete (): boolean {
    return this.ended
  }

  errorEvent (): string {
    return `\n\nevent: error\ndata: ${JSON.stringify({ type: 'error', code: 'upstream_stream_broken', message: broken.message, param: null })}\n\n`
  }
}

const OTHER: StreamFormat = {
  observe () {},
  complete: () => true,
  errorEvent: () => `\n\nevent: error\ndata: ${BROKEN_ENVELOPE}\n\n`,
}
