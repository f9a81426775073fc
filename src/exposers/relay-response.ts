import type { OutgoingHttpHeaders, IncomingHttpHeaders, ServerResponse } from 'node:http'
import { ERROR_CODES } from '../errors/codes.js'
import type { UpstreamResponse } from './invoke.js'

/**
 * Upstream headers that do not go back to the client: hop-by-hop headers (RFC 9110 7.6.1), the
 * upstream's cookies and connection-level details of the upstream's own edge. Everything else
 * clients rely on (content-type, x-request-id, openai-*, x-ratelimit-*, retry-after(-ms)) passes.
 */
const DROPPED = new Set([
  'connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'proxy-connection', 'te', 'trailer',
  'transfer-encoding', 'upgrade', 'set-cookie', 'server', 'date', 'alt-svc', 'strict-transport-security', 'cf-ray',
  'cf-cache-status', 'nel', 'report-to', 'via',
])

export function passThroughHeaders (headers: IncomingHttpHeaders, options?: { keepLength?: boolean }): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {}
  for (const name in headers) {
    if (DROPPED.has(name)) continue
    if (name === 'content-length' && options?.keepLength !== true) continue
    out[name] = headers[name]
  }
  return out
}

export type RelayOutcome = 'complete' | 'client_gone' | 'upstream_broken'

/** Relays an upstream body byte for byte. A body the upstream breaks off ends the client's
 * response abruptly (no clean end), so the client can tell. */
export function relayBody (res: ServerResponse, upstream: UpstreamResponse, extraHeaders: OutgoingHttpHeaders): Promise<RelayOutcome> {
  res.writeHead(upstream.status, { ...passThroughHeaders(upstream.headers, { keepLength: true }), ...extraHeaders })
  return pump(res, upstream, () => {})
}

const DONE_TEXT = 'data: [DONE]'
const DONE = Buffer.from(DONE_TEXT)
const CHUNK_MARKER = Buffer.from('.chunk"')

/**
 * Relays server-sent events as they arrive: no buffering, no re-chunking. A stream that ends
 * without its terminator (OpenAI-style streams end with `data: [DONE]`) or with a socket error gets
 * an error event in the OpenAI envelope and is then cut, so it never looks like a clean end.
 */
export function relayEventStream (res: ServerResponse, upstream: UpstreamResponse, extraHeaders: OutgoingHttpHeaders): Promise<RelayOutcome> {
  // the headers leave with the first event, in one write: flushing them alone cost a write per
  // stream (15% of the streaming route's CPU under load, in bench/profile.mjs rest-stream)
  res.writeHead(upstream.status, { ...passThroughHeaders(upstream.headers), 'cache-control': 'no-cache', 'x-accel-buffering': 'no', ...extraHeaders })
  let expectsDone: boolean | undefined
  let previous: Buffer | undefined
  let last: Buffer | undefined
  // per chunk only two references move: work per chunk delays the next read, and a delayed read
  // makes the kernel hand over several upstream events at once (coalescing at high concurrency)
  return pump(res, upstream, (chunk) => {
    // chat.completion.chunk / text_completion streams promise a [DONE] terminator
    expectsDone ??= chunk.indexOf(CHUNK_MARKER) !== -1 || chunk.indexOf('text_completion') !== -1
    previous = last
    last = chunk
  }, () => expectsDone === true && !endsWithDone(previous, last))
}

/** Whether the stream's last bytes are the `data: [DONE]` event (it may span two chunks). */
function endsWithDone (previous: Buffer | undefined, last: Buffer | undefined): boolean {
  if (last === undefined) return false
  const tail = previous === undefined ? last : Buffer.concat([previous.subarray(-DONE.length - 8), last])
  return tail.toString('latin1').trimEnd().endsWith(DONE_TEXT)
}

function pump (res: ServerResponse, upstream: UpstreamResponse, onChunk: (chunk: Buffer) => void, endedEarly?: () => boolean): Promise<RelayOutcome> {
  const body = upstream.body
  return new Promise((resolve) => {
    let settled = false
    const finish = (outcome: RelayOutcome): void => {
      if (settled) return
      settled = true
      res.off('drain', resume)
      res.off('close', onClose)
      resolve(outcome)
    }
    const resume = (): void => { body.resume() }
    const onClose = (): void => {
      if (!res.writableFinished) {
        body.destroy()
        finish('client_gone')
      }
    }
    const breakOff = (): void => {
      if (res.destroyed) return finish('client_gone')
      finish('upstream_broken')
      // destroying before the final chunk makes the client see an incomplete response; an event
      // stream first gets an error event, once it is flushed (or after a short grace period)
      if (endedEarly === undefined) return void res.destroy()
      const cut = setTimeout(() => res.destroy(), 1000)
      res.write(streamErrorEvent(), () => {
        clearTimeout(cut)
        res.destroy()
      })
    }
    res.on('drain', resume)
    res.on('close', onClose)
    body.on('data', (chunk: Buffer) => {
      onChunk(chunk)
      if (!res.write(chunk)) body.pause()
    })
    body.on('error', breakOff)
    body.on('end', () => {
      if (endedEarly?.() === true) return breakOff()
      res.end()
      finish('complete')
    })
  })
}

function streamErrorEvent (): string {
  const entry = ERROR_CODES.upstream_stream_broken
  return `\n\ndata: ${JSON.stringify({ error: { message: entry.message, type: entry.type, param: null, code: 'upstream_stream_broken' } })}\n\n`
}
