import type { OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { UpstreamBody } from '../../invocations/upstream-body.js'

export type RelayOutcome = 'complete' | 'client_gone' | 'upstream_broken'

/** Relays an upstream body as it comes (scrubbed by UpstreamBody). A body the upstream breaks off
 * ends the client's response abruptly (no clean end), so the client can tell. */
export function relayBody (res: ServerResponse, status: number, headers: OutgoingHttpHeaders, body: UpstreamBody): Promise<RelayOutcome> {
  res.writeHead(status, headers)
  return pump(res, body, false)
}

/**
 * Relays server-sent events as they arrive: no buffering, no re-chunking. A stream that ends
 * without its terminator, or with a socket error, gets an error event in the OpenAI envelope and
 * is then cut, so it never looks like a clean end.
 */
export function relayEventStream (res: ServerResponse, status: number, headers: OutgoingHttpHeaders, body: UpstreamBody): Promise<RelayOutcome> {
  // the headers leave with the first event, in one write: flushing them alone cost a write per
  // stream (15% of the streaming route's CPU under load, in bench/profile.mjs rest-stream)
  res.writeHead(status, { ...headers, 'cache-control': 'no-cache', 'x-accel-buffering': 'no' })
  return pump(res, body, true)
}

function pump (res: ServerResponse, body: UpstreamBody, eventStream: boolean): Promise<RelayOutcome> {
  const source = body.source
  return new Promise((resolve) => {
    let settled = false
    const finish = (outcome: RelayOutcome): void => {
      if (settled) return
      settled = true
      res.off('drain', resume)
      res.off('close', onClose)
      resolve(outcome)
    }
    const resume = (): void => { source.resume() }
    const onClose = (): void => {
      if (!res.writableFinished) {
        source.destroy()
        finish('client_gone')
      }
    }
    const breakOff = (): void => {
      if (res.destroyed) return finish('client_gone')
      finish('upstream_broken')
      // destroying before the final chunk makes the client see an incomplete response; an event
      // stream first gets an error event, once it is flushed (or after a short grace period)
      if (!eventStream) {
        res.destroy()
        return
      }
      const cut = setTimeout(() => res.destroy(), 1000)
      res.write(body.errorEvent(), () => {
        clearTimeout(cut)
        res.destroy()
      })
    }
    res.on('drain', resume)
    res.on('close', onClose)
    source.on('data', (chunk: Buffer) => {
      const out = body.take(chunk)
      if (out.length > 0 && !res.write(out)) source.pause()
    })
    source.on('error', breakOff)
    source.on('end', () => {
      let tail: Buffer
      try {
        tail = body.finish()
      } catch {
        return breakOff()
      }
      if (tail.length > 0) res.write(tail)
      res.end()
      finish('complete')
    })
  })
}
